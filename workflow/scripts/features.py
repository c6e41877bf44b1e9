"""Compute the feature table of all processes and its metadata (rule features)."""

import awkward as ak

from phenoflow.events.observables import Substructure
from phenoflow.features.classes import Classes
from phenoflow.features.datasets import feature_metadata, feature_table, write_table
from phenoflow.io import read_json, write_yaml
from phenoflow.logs import to_log_file
from phenoflow.provenance import now

started = now()
p = snakemake.params
with to_log_file(snakemake.log[0]) as log:
    events = {proc: ak.from_parquet(path) for proc, path in zip(p.processes, snakemake.input.events)}
    classes = Classes.from_dict(p.classes)
    table = feature_table(events, classes, p.names, p.fill_value, Substructure.from_config(p.substructure))
    write_table(snakemake.output.table, table)
    summaries = {proc: read_json(path) for proc, path in zip(p.processes, snakemake.input.summaries)}
    metadata = feature_metadata(table, p.names, classes.names, summaries, p.provenance, started, snakemake.input.events)
    write_yaml(snakemake.output.metadata, metadata)
    log.info("%d events, features: %s", len(table), ", ".join(p.names))
