"""Bin the scored events with each method and number of bins, cross-fitted over the folds (rule binning)."""

from dataclasses import replace

import pandas as pd

from phenoflow.binning import plots as binning_plots
from phenoflow.binning.methods import uses_tensorflow
from phenoflow.binning.study import Plan, run_binnings, run_simplex_binnings
from phenoflow.features.classes import Classes
from phenoflow.features.splits import crossfit_groups
from phenoflow.io import atomic_path, read_json, write_json
from phenoflow.logs import to_log_file
from phenoflow.plotstyle import Collision
from phenoflow.provenance import now, write_record
from phenoflow.tf_threads import use_tensorflow_threads
from phenoflow.variations import from_records

started = now()
p = snakemake.params
out = snakemake.output
collision = Collision(p.sqrt_s_gev, p.luminosity_fb)
with to_log_file(snakemake.log[0]) as log:
    plan = Plan.from_config(p.binning, p.significance, p.seed, p.inference)
    # each process's theory variations (their weight columns are in the scores), for gmm_likelihood
    summaries = [read_json(path) for path in snakemake.input.summaries]
    plan = replace(plan, options=replace(plan.options, variations={s["process"]: from_records(s.get("variations", []))
                                                                   for s in summaries}))  # fmt: skip
    if uses_tensorflow(plan.methods):
        use_tensorflow_threads(snakemake.threads)
    scores = pd.read_parquet(snakemake.input.scores)
    # bins chosen on other events than those that fill them (binning.crossfit), as each event's score
    crossfit = p.binning["crossfit"]
    groups = crossfit_groups(scores["fold"].to_numpy(), scores["row"].to_numpy()) if crossfit else None
    rows = run_binnings(scores, plan, out.plots, collision=collision, groups=groups)
    classes = Classes.from_dict(p.classes)
    if f"p_{classes.names[0]}" in scores:  # a softmax over several classes: bin the simplex too
        rows += run_simplex_binnings(
            scores, classes.names, classes.signal_indices, plan, out.plots, collision=collision
        )
    write_json(out.results, rows)
    columns = ["space", "method", "n_bins_requested", "n_bins", "significance", "z_asimov", "min_b_events"]
    columns += ["significance_choosing", "z_asimov_choosing", "optimism"] if crossfit else []
    for row in rows:
        row["min_b_events"] = min(row["b_events"])  # the fewest background MC events of a bin
    table = pd.DataFrame(rows).reindex(columns=columns)
    with atomic_path(out.table) as tmp:
        table.to_csv(tmp, index=False)
    binning_plots.significance_vs_bins(
        {
            f"{m} ({space})": (g["n_bins_requested"].tolist(), g["significance"].tolist())
            for (space, m), g in table.groupby(["space", "method"], sort=False)
        },
        out.plot,
        collision=collision,
    )
    write_record(out.provenance, p.provenance, started, snakemake.input, kind="binning", seed=p.seed)
    for row in rows:
        for note in row["notes"] + row.get("gmm", {}).get("warnings", []):
            log.warning("%s, K = %d: %s", row["method"], row["n_bins_requested"], note)
    log.info("binning (significance: %s):\n%s", plan.rule.significance.describe(), table.to_string(index=False))
