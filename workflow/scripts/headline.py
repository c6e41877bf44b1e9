"""The headline table: each classifier's best result at every stage (rule headline)."""

import pandas as pd

from phenoflow.evaluation.headline import headline_table, write_headline
from phenoflow.io import read_json
from phenoflow.logs import to_log_file
from phenoflow.provenance import now, write_record

started = now()
p = snakemake.params
inputs = snakemake.input
out = snakemake.output
with to_log_file(snakemake.log[0]) as log:
    metrics = {model: read_json(path) for model, path in zip(p.models, inputs.metrics)}
    binning = {model: pd.read_csv(path) for model, path in zip(p.binned_models, inputs.binning)}
    inference = {model: pd.read_csv(path) for model, path in zip(p.inference_models, inputs.inference)}
    table = headline_table(metrics, binning, inference)
    write_headline(table, out.table, out.markdown, cl=p.cl, mc_limited_below=p.mc_limited_below)
    write_record(out.provenance, p.provenance, started, inputs, kind="headline")
    log.info("headline:\n%s", table.to_string(index=False))
