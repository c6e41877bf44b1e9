"""Train one classifier on the training split, early stopping on the validation split (rules train_<model>)."""

import time

from phenoflow.features.datasets import load_split_arrays
from phenoflow.io import atomic_path, write_json
from phenoflow.logs import to_log_file
from phenoflow.models import model_class
from phenoflow.provenance import now, write_record

started = now()
p = snakemake.params
inputs = snakemake.input
with to_log_file(snakemake.log[0]) as log:
    # the cut-and-count maximises the Asimov significance, which needs physical weights
    balance = None if p.model == "cuts" else p.balance
    images = inputs.images if "images" in inputs.keys() else None
    train, val = load_split_arrays(inputs.features, inputs.split, p.features, ("train", "val"), balance, images)
    names = {"feature_names": list(p.features), **p.significance} if p.model == "cuts" else {}
    model = model_class(p.model)(seed=p.seed, threads=snakemake.threads, **p.hyper, **names)
    start = time.perf_counter()
    # the cut-and-count separates signal from background; the others learn every class
    target, val_target = (train.y, val.y) if p.model == "cuts" else (train.target, val.target)
    history = model.fit(train.x, target, train.w, validation=(val.x, val_target, val.w))
    seconds = time.perf_counter() - start
    model.save(snakemake.output.model)
    with atomic_path(snakemake.output.history) as tmp:
        history.to_csv(tmp, index=False)
    record = {"model": p.model, "training_time_s": seconds, "n_parameters": int(model.n_parameters),
              "n_train": len(train.y), "n_val": len(val.y), "seed": p.seed}  # fmt: skip
    write_json(snakemake.output.training, record)
    write_record(snakemake.output.provenance, p.provenance, started, inputs, kind="trained model", seed=p.seed)
    log.info("trained %s in %.1f s: %s", p.model, seconds, record)
