"""Train one classifier instance on one fold's training set, early stopping on its validation set (rules train_<name>)."""

import time

from phenoflow.features.datasets import load_split_arrays
from phenoflow.io import atomic_path, write_json
from phenoflow.logs import to_log_file
from phenoflow.models import describe, model_class
from phenoflow.provenance import now, write_record
from phenoflow.significance import Significance

started = now()
p = snakemake.params
inputs = snakemake.input
description = describe(p.method)
with to_log_file(snakemake.log[0]) as log:
    images = inputs.images if "images" in inputs.keys() else None
    # p.balance is None for a model that trains on physical weights (the cut-and-count's Z_A)
    sets = ("train", "val")
    train, val = load_split_arrays(
        inputs.features, inputs.split, p.features, sets, p.balance, images, p.fold, p.batches
    )
    names = {"feature_names": list(p.features)} if description.feature_names else {}
    batches = {"batches": p.batches} if description.batched else {}  # in memory, or read from the map
    # a significance-maximising model also gets the threshold rule's minimum of background MC events
    objective = {}
    if description.significance_objective:
        objective = {"significance": Significance.from_config(p.significance), "min_mc_events": p.min_mc_events}
    settings = {**p.hyper, **names, **objective}  # min_mc_events may be in hyper too, with the same value
    model = model_class(p.method)(seed=p.seed, threads=snakemake.threads, **batches, **settings)
    start = time.perf_counter()
    # a multi-class model learns every class, the others signal against background
    target, val_target = (train.target, val.target) if description.multiclass else (train.y, val.y)
    history = model.fit(train.inputs, target, train.w, validation=(val.inputs, val_target, val.w))
    seconds = time.perf_counter() - start
    model.save(snakemake.output.model)
    with atomic_path(snakemake.output.history) as tmp:
        history.to_csv(tmp, index=False)
    record = {"model": p.model, "fold": p.fold, "method": p.method, "features": list(p.features), "images": images is not None,
              "batches": p.batches, "training_time_s": seconds, "n_parameters": int(model.n_parameters),
              "n_train": len(train.y), "n_val": len(val.y), "seed": p.seed}  # fmt: skip
    write_json(snakemake.output.training, record)
    write_record(snakemake.output.provenance, p.provenance, started, inputs, kind="trained model", seed=p.seed)
    log.info("trained %s (%s), fold %d, in %.1f s: %s", p.model, p.method, p.fold, seconds, record)
