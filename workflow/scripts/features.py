"""Compute the feature table of all processes and its metadata (rule features)."""

from phenoflow.events.observables import Substructure
from phenoflow.features.classes import Classes
from phenoflow.features.datasets import feature_metadata, write_feature_table
from phenoflow.io import atomic_path, read_json, write_yaml
from phenoflow.logs import to_log_file
from phenoflow.provenance import now

started = now()
p = snakemake.params
with to_log_file(snakemake.log[0]) as log:
    classes = Classes.from_dict(p.classes)
    skims = dict(zip(p.processes, snakemake.input.events))
    with atomic_path(snakemake.output.table) as tmp:
        rows = write_feature_table(tmp, skims, classes, p.names, p.fill_value, Substructure.from_config(p.substructure))
    summaries = {proc: read_json(path) for proc, path in zip(p.processes, snakemake.input.summaries)}
    metadata = feature_metadata(rows, p.names, classes.names, summaries, p.provenance, started, snakemake.input.events)
    write_yaml(snakemake.output.metadata, metadata)
    log.info("%d events, features: %s", sum(r.rows for r in rows.values()), ", ".join(p.names))
