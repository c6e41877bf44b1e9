"""Collect every classifier's test metrics into one comparison table and ROC figure (rule compare)."""

import pandas as pd

from phenoflow.evaluation import plots
from phenoflow.evaluation.comparison import comparison_row, comparison_table, write_comparison
from phenoflow.evaluation.metrics import Significance, weighted_roc
from phenoflow.io import read_json
from phenoflow.logs import to_log_file
from phenoflow.plotstyle import Collision
from phenoflow.provenance import now, write_record

started = now()
p = snakemake.params
out = snakemake.output
with to_log_file(snakemake.log[0]) as log:
    rows, curves = [], {}
    inputs = snakemake.input
    for model, metrics, scores, training in zip(p.models, inputs.metrics, inputs.scores, inputs.training):
        rows.append(comparison_row(read_json(metrics), read_json(training)))
        table = pd.read_parquet(scores)
        signal_eff, background_eff, _ = weighted_roc(
            table["score"].to_numpy(), table["weight"].to_numpy(), table["label"].to_numpy()
        )
        curves[model] = (signal_eff, background_eff)
    table = comparison_table(rows)
    write_comparison(table, out.table, out.markdown, Significance.from_config(p.significance))
    plots.roc_comparison(curves, out.roc, collision=Collision(p.sqrt_s_gev, p.luminosity_fb))
    write_record(out.provenance, p.provenance, started, inputs, kind="classifier comparison")
    log.info("comparison:\n%s", table.to_string(index=False))
