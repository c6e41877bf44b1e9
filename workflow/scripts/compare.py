"""Collect every classifier's metrics into one comparison table, with the differences between them
and their paired bootstrap errors, and one ROC figure (rule compare)."""

import pandas as pd

from phenoflow.evaluation import plots
from phenoflow.evaluation.bootstrap import Bootstrap, replica_metrics
from phenoflow.evaluation.comparison import (
    comparison_row,
    comparison_table,
    differences_to_best,
    paired_differences,
    paired_events,
    write_comparison,
    write_pairs,
)
from phenoflow.evaluation.metrics import weighted_roc
from phenoflow.io import read_json
from phenoflow.logs import to_log_file
from phenoflow.models import describe
from phenoflow.plotstyle import Collision
from phenoflow.provenance import now, write_record
from phenoflow.significance import Significance

started = now()
p = snakemake.params
inputs = snakemake.input
out = snakemake.output
significance = Significance.from_config(p.significance)
bootstrap = Bootstrap(p.bootstrap, p.seed)
with to_log_file(snakemake.log[0]) as log:
    metrics = {model: read_json(path) for model, path in zip(p.models, inputs.metrics)}
    rows = [comparison_row(metrics[m], read_json(path)) for m, path in zip(p.models, inputs.training)]
    backgrounds = sorted({b for m in metrics.values() for b in m.get("per_background", {})})
    table = comparison_table(rows, backgrounds)
    paths = dict(zip(p.models, inputs.scores))
    events, scores = paired_events({model: pd.read_parquet(path) for model, path in paths.items()}, paths)
    w, labels, processes = (events[c].to_numpy() for c in ("weight", "label", "process"))
    replicas = {
        model: replica_metrics(
            score, w, labels, processes, p.min_background, bootstrap, significance,
            continuous=describe(metrics[model]["method"]).binnable, min_mc_events=p.min_mc_events,
        )
        for model, score in scores.items()
    }  # fmt: skip
    table = differences_to_best(table, replicas)
    pairs = paired_differences(table, replicas)
    write_comparison(table, out.table, out.markdown, significance, bootstrap.n_replicas)
    write_pairs(pairs, out.pairs)
    curves = {
        model: (*weighted_roc(score, w, labels)[:2], metrics[model]["auc"] if describe(metrics[model]["method"]).binnable else None)
        for model, score in scores.items()
    }  # fmt: skip
    plots.roc(curves, out.roc, collision=Collision(p.sqrt_s_gev, p.luminosity_fb))
    write_record(out.provenance, p.provenance, started, inputs, kind="classifier comparison")
    log.info("comparison:\n%s\npaired differences:\n%s", table.to_string(index=False), pairs.to_string(index=False))
