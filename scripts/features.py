"""Compute the feature table of all processes (rule features)."""

import awkward as ak

from phenoflow.datasets import feature_table, write_table
from phenoflow.logs import to_log_file

p = snakemake.params
with to_log_file(snakemake.log[0]) as log:
    events = {proc: ak.from_parquet(path) for proc, path in zip(p.processes, snakemake.input)}
    table = feature_table(events, p.labels, p.names, p.fill_value)
    write_table(snakemake.output[0], table)
    log.info("%d events, features: %s", len(table), ", ".join(p.names))
