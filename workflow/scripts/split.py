"""Seeded, process-stratified k-fold (or one fixed train/validation/test) split of the feature rows (rule split)."""

import pandas as pd

from phenoflow.features.splits import split_scheme, split_sets
from phenoflow.io import write_json
from phenoflow.logs import to_log_file
from phenoflow.provenance import now, write_record

started = now()
p = snakemake.params
with to_log_file(snakemake.log[0]) as log:
    processes = pd.read_parquet(snakemake.input[0], columns=["process"])["process"].to_numpy()
    sets = split_sets(processes, p.spec, p.seed)
    write_json(snakemake.output.split, {"seed": p.seed, **split_scheme(p.spec), "sets": sets})
    write_record(snakemake.output.provenance, p.provenance, started, snakemake.input, kind="split", seed=p.seed)
    for i, part in enumerate(sets):
        log.info("set %d sizes: %s", i, {k: len(v) for k, v in part.items()})
