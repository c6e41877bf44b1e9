"""A likelihood per chosen binning of one classifier, its expected significance and limits (rule inference)."""

import pandas as pd

from phenoflow.inference import plots
from phenoflow.inference.study import (
    InferenceSettings,
    headline_row,
    row_samples,
    run_inference,
    select_rows,
    uncertainty_note,
    write_table,
)
from phenoflow.io import read_json
from phenoflow.logs import to_log_file
from phenoflow.plotstyle import Collision
from phenoflow.provenance import now, write_record
from phenoflow.variations import from_records

started = now()
p = snakemake.params
out = snakemake.output
with to_log_file(snakemake.log[0]) as log:
    rows, n_skipped = select_rows(read_json(snakemake.input.binning), p.methods, p.n_bins)
    if n_skipped:
        log.info("%d multi-class (simplex) binnings skipped: only 1-D score binnings get a likelihood", n_skipped)
    paths = dict(zip([(m, k) for m in p.methods for k in p.n_bins], out.workspaces))
    summaries = [read_json(path) for path in snakemake.input.summaries]
    generated = {s["process"]: s["n_events"] for s in summaries}
    # each process's theory variations (phenoflow.variations records), if its generation made any
    variations = {s["process"]: from_records(s.get("variations", [])) for s in summaries}
    settings = InferenceSettings.from_config(dict(p.items()), p.significance)  # the rule's params: the block's keys
    scores = pd.read_parquet(snakemake.input.scores)
    table = run_inference(
        scores, rows, lambda m, k: paths[(m, k)], settings, generated=generated, variations=variations
    )
    note = uncertainty_note(settings, variations)
    write_table(table, out.table, out.markdown, cl=settings.cl, n_skipped=n_skipped, note=note)
    limits = {m: (g["n_bins_requested"].tolist(), g[["limit_minus2", "limit_minus1", "limit_median", "limit_plus1", "limit_plus2"]].to_numpy())
              for m, g in table.groupby("method", sort=False)}  # fmt: skip
    collision = Collision(p.sqrt_s_gev, p.luminosity_fb)
    plots.expected_limits(limits, out.plot, cl=settings.cl, collision=collision)
    # the theory variations of each process in the bins of the best median limit (the headline's)
    best = headline_row(table, rows)
    samples, _ = row_samples(scores, best, settings.theory, variations)
    edges = None if "fold_edges" in best else best["edges"]  # a cross-fitted binning's bins are numbered
    name = f"{best['method']}, K = {best['n_bins_requested']}"
    plots.theory_variations(samples, out.variations, collision=collision, edges=edges, binning=name)
    write_record(out.provenance, p.provenance, started, snakemake.input, kind="inference")
    log.info("inference:\n%s", table.drop(columns="notes").to_string(index=False))
