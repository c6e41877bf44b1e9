"""Seeded, process-stratified train/validation/test split of the feature rows (rule split)."""

import pandas as pd

from phenoflow.features.datasets import split_indices
from phenoflow.io import write_json
from phenoflow.logs import to_log_file
from phenoflow.provenance import now, write_record

started = now()
p = snakemake.params
with to_log_file(snakemake.log[0]) as log:
    processes = pd.read_parquet(snakemake.input[0], columns=["process"])["process"].to_numpy()
    split = split_indices(processes, p.fractions, p.seed)
    write_json(snakemake.output.split, {"seed": p.seed, "fractions": p.fractions, "indices": split})
    write_record(snakemake.output.provenance, p.provenance, started, snakemake.input, kind="split", seed=p.seed)
    log.info("split sizes: %s", {k: len(v) for k, v in split.items()})
