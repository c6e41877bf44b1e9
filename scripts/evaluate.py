"""Score the test split and compute weighted metrics at the full luminosity (rule evaluate)."""

import pandas as pd

from phenoflow import plots
from phenoflow.datasets import load_split_arrays, write_table
from phenoflow.evaluation import evaluate, overtraining
from phenoflow.io import write_json
from phenoflow.logs import to_log_file
from phenoflow.models import load_model

p = snakemake.params
name = snakemake.wildcards.model
inputs = snakemake.input
out = snakemake.output
with to_log_file(snakemake.log[0]) as log:
    images = inputs.images if "images" in inputs.keys() else None
    train, test = load_split_arrays(inputs.features, inputs.split, p.features, ("train", "test"), None, images)
    model = load_model(name, inputs.model)
    scores = model.predict_proba(test.x)
    result = evaluate(scores, test.w, test.y, p.min_background)
    write_json(out.metrics, {"model": name, **result.metrics})
    write_table(out.scores, test.frame(score=scores))
    plots.roc({name: (result.signal_efficiency, result.background_efficiency, result.metrics["auc"])}, out.roc)
    plots.score_distributions(scores, test.w, test.process, test.y, out.distribution)
    check = overtraining(model.predict_proba(train.x), train.w, train.y, scores, test.w, test.y)
    plots.overtraining(check.train, check.test, check.p_values, out.overtraining)
    if name == "cuts":  # its training is the sequence of cuts: show them on the distributions
        plots.cut_values(train.x, train.y, train.w, model.cuts, out.history, feature_names=p.features)
    else:
        plots.training_history(pd.read_csv(inputs.history), out.history)
    log.info("metrics: %s; KS p-values %s", result.metrics, check.p_values)
