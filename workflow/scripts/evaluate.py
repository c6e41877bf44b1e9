"""Score the test split and compute weighted metrics at the full luminosity (rule evaluate)."""

import numpy as np
import pandas as pd

from phenoflow.evaluation import plots
from phenoflow.evaluation.metrics import Significance, binary_confusion
from phenoflow.evaluation.scores import evaluate, multiclass_metrics, overtraining, signal_score
from phenoflow.features.classes import Classes
from phenoflow.features.datasets import load_split_arrays, write_table
from phenoflow.io import write_json
from phenoflow.logs import to_log_file
from phenoflow.models import describe, load_model
from phenoflow.plotstyle import Collision
from phenoflow.provenance import now, write_record

started = now()
p = snakemake.params
name = snakemake.wildcards.model
inputs = snakemake.input
out = snakemake.output
classes = Classes.from_dict(p.classes)
collision = Collision(p.sqrt_s_gev, p.luminosity_fb)
with to_log_file(snakemake.log[0]) as log:
    images = inputs.images if "images" in inputs.keys() else None
    train, test = load_split_arrays(inputs.features, inputs.split, p.features, ("train", "test"), None, images)
    model = load_model(p.method, inputs.model)
    proba, train_proba = model.predict_proba(test.inputs), model.predict_proba(train.inputs)
    scores = signal_score(proba, classes.signal_indices)
    result = evaluate(scores, test.w, test.y, p.min_background, Significance.from_config(p.significance))
    metrics = {"model": name, "method": p.method, **result.metrics}
    columns = {"score": scores}
    if proba.ndim == 2:  # a softmax over the classes: per-class metrics and probabilities too
        metrics["multiclass"] = multiclass_metrics(proba, test.w, test.target, classes)
        columns.update({f"p_{c}": proba[:, i] for i, c in enumerate(classes.names)})
        plots.confusion(
            np.array(metrics["multiclass"]["confusion_argmax"]), classes.names, out.confusion, collision=collision
        )
    else:
        plots.confusion(
            binary_confusion(scores, test.w, test.y), ["background", "signal"], out.confusion, collision=collision
        )
    write_json(out.metrics, metrics)
    write_table(out.scores, test.frame(**columns))
    plots.roc(
        {name: (result.signal_efficiency, result.background_efficiency, result.metrics["auc"])},
        out.roc,
        collision=collision,
    )
    plots.score_distributions(scores, test.w, test.process, test.y, out.distribution, collision=collision)
    by_class = proba.ndim == 2  # per class, else per role
    train_classes, test_classes = (train.target, test.target) if by_class else (train.y, test.y)
    names = classes.names if by_class else ("background", "signal")
    train_scores = signal_score(train_proba, classes.signal_indices)
    check = overtraining(train_scores, train.w, train_classes, scores, test.w, test_classes, names)
    plots.overtraining(check.train, check.test, check.p_values, out.overtraining, collision=collision)
    if describe(p.method).history == "cuts":  # its training is the sequence of cuts: show them on the distributions
        plots.cut_values(
            train.x, train.y, train.w, model.cuts, out.history, feature_names=p.features, collision=collision
        )
    else:
        plots.training_history(pd.read_csv(inputs.history), out.history, collision=collision)
    write_record(out.provenance, p.provenance, started, inputs, kind="classifier evaluation")
    log.info("metrics: %s; KS p-values %s", metrics, check.p_values)
