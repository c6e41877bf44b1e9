"""Train the BDT on the training split with class-balanced weights (rule train_bdt)."""

from phenoflow.datasets import load_split_arrays
from phenoflow.io import atomic_path
from phenoflow.logs import to_log_file
from phenoflow.models import BDT

p = snakemake.params
with to_log_file(snakemake.log[0]) as log:
    train, val = load_split_arrays(
        snakemake.input.features, snakemake.input.split, p.features, ("train", "val"), balance=p.balance
    )
    model = BDT(seed=p.seed, threads=snakemake.threads, **p.hyper)
    history = model.fit(train.x, train.y, train.w, validation=(val.x, val.y, val.w))
    model.save(snakemake.output.model)
    with atomic_path(snakemake.output.history) as tmp:
        history.to_csv(tmp, index=False)
    log.info("trained %d rounds; best validation loss %.5f", len(history), history["val_loss"].min())
