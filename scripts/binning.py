"""Bin the test scores with each method and number of bins (rule binning)."""

import pandas as pd

from phenoflow import plots
from phenoflow.binning import evaluate_binning
from phenoflow.io import atomic_path, write_json
from phenoflow.logs import to_log_file
from phenoflow.provenance import now, write_record

started = now()
p = snakemake.params
with to_log_file(snakemake.log[0]) as log:
    scores = pd.read_parquet(snakemake.input[0])
    args = (scores["score"].to_numpy(), scores["weight"].to_numpy(), scores["label"].to_numpy())
    results = [
        evaluate_binning(m, *args, n_bins=k, min_background=p.min_background, max_rel_uncertainty=p.max_rel_uncertainty)
        for m in p.methods
        for k in p.n_bins
    ]
    write_json(snakemake.output.results, results)
    table = pd.DataFrame(results)[["method", "n_bins_requested", "n_bins", "significance"]]
    with atomic_path(snakemake.output.table) as tmp:
        table.to_csv(tmp, index=False)
    plots.significance_vs_bins(
        {m: (g["n_bins_requested"].tolist(), g["significance"].tolist()) for m, g in table.groupby("method")},
        snakemake.output.plot,
    )
    write_record(snakemake.output.provenance, p.provenance, started, snakemake.input, kind="binning")
    log.info("binning:\n%s", table.to_string(index=False))
