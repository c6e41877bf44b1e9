"""Score the test split and compute weighted metrics at the full luminosity (rule evaluate)."""

from phenoflow import plots
from phenoflow.datasets import load_split_arrays, write_table
from phenoflow.evaluation import evaluate
from phenoflow.io import write_json
from phenoflow.logs import to_log_file
from phenoflow.models import load_model

p = snakemake.params
name = snakemake.wildcards.model
with to_log_file(snakemake.log[0]) as log:
    (test,) = load_split_arrays(snakemake.input.features, snakemake.input.split, p.features, ("test",))
    model = load_model(name, snakemake.input.model)
    scores = model.predict_proba(test.x)
    result = evaluate(scores, test.w, test.y, p.min_background)
    write_json(snakemake.output.metrics, {"model": name, **result.metrics})
    write_table(snakemake.output.scores, test.frame(score=scores))
    plots.roc({name: (result.signal_efficiency, result.background_efficiency, result.metrics["auc"])}, snakemake.output.roc)
    plots.score_distributions(scores, test.w, test.process, test.y, snakemake.output.distribution)
    log.info("metrics: %s", result.metrics)
