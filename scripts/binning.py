"""Bin the test scores with each method and number of bins (rule binning)."""

import pandas as pd

from phenoflow import binning_plots
from phenoflow.binning_study import run_binnings
from phenoflow.io import atomic_path, write_json
from phenoflow.logs import to_log_file
from phenoflow.provenance import now, write_record

started = now()
p = snakemake.params
out = snakemake.output
with to_log_file(snakemake.log[0]) as log:
    scores = pd.read_parquet(snakemake.input[0])
    rows = run_binnings(scores, p.methods, p.n_bins, p.min_background, p.max_rel_uncertainty, p.gmm, p.seed, out.plots)
    write_json(out.results, rows)
    table = pd.DataFrame(rows)[["method", "n_bins_requested", "n_bins", "significance"]]
    with atomic_path(out.table) as tmp:
        table.to_csv(tmp, index=False)
    binning_plots.significance_vs_bins(
        {m: (g["n_bins_requested"].tolist(), g["significance"].tolist()) for m, g in table.groupby("method")}, out.plot
    )
    write_record(out.provenance, p.provenance, started, snakemake.input, kind="binning", seed=p.seed)
    for row in rows:
        for note in row["notes"] + row.get("gmm", {}).get("warnings", []):
            log.warning("%s, K = %d: %s", row["method"], row["n_bins_requested"], note)
    log.info("binning:\n%s", table.to_string(index=False))
