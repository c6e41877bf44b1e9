"""Score every event with the fold model that never saw it and compute weighted metrics at the
full luminosity, with bootstrap errors (rule evaluate)."""

import numpy as np
import pandas as pd

from phenoflow.evaluation import plots
from phenoflow.evaluation.bootstrap import Bootstrap, replica_metrics
from phenoflow.evaluation.metrics import binary_confusion
from phenoflow.evaluation.scores import (
    evaluate,
    fold_spread,
    independent_threshold,
    multiclass_metrics,
    overtraining,
    signal_score,
)
from phenoflow.features.classes import Classes
from phenoflow.features.datasets import (
    fold_weights,
    load_scored_arrays,
    load_split_arrays,
    write_table,
)
from phenoflow.features.splits import crossfit_groups
from phenoflow.io import write_json
from phenoflow.logs import to_log_file
from phenoflow.models import describe
from phenoflow.models.ensemble import FoldEnsemble
from phenoflow.plotstyle import Collision
from phenoflow.provenance import now, write_record
from phenoflow.significance import ASIMOV, Significance

started = now()
p = snakemake.params
name = snakemake.wildcards.model
inputs = snakemake.input
out = snakemake.output
classes = Classes.from_dict(p.classes)
collision = Collision(p.sqrt_s_gev, p.luminosity_fb)
significance = Significance.from_config(p.significance)
with to_log_file(snakemake.log[0]) as log:
    images = inputs.images if "images" in inputs.keys() else None
    ensemble = FoldEnsemble.load(inputs.manifest)
    test = load_scored_arrays(inputs.features, inputs.split, p.features, images, p.batches)
    proba = ensemble.predict_out_of_fold(test.inputs, test.fold)
    scores = signal_score(proba, classes.signal_indices)
    continuous = describe(p.method).binnable  # a pass/fail score has no ROC curve
    events = (scores, test.w, test.y)
    rule = (p.min_background, significance, p.min_mc_events)
    result = evaluate(*events, *rule, processes=test.process, continuous=continuous)
    bootstrap = Bootstrap(p.bootstrap, p.seed)
    replicas = replica_metrics(
        *events, test.process, p.min_background, bootstrap, significance, continuous=continuous,
        min_mc_events=p.min_mc_events,
    )  # fmt: skip
    spread = fold_spread(scores, fold_weights(test), test.y, test.fold, *rule, continuous=continuous)
    metrics = {"model": name, "method": p.method, **result.metrics, "bootstrap": replicas.errors(), "folds": spread}
    # the best threshold chosen on other folds than those that report it (cross-fitted)
    groups = crossfit_groups(test.fold, test.rows)
    for key, z in (("max_significance", ASIMOV), ("max_significance_with_uncertainty", significance)):
        metrics[f"{key}_independent"] = independent_threshold(
            *events, test.process, groups, p.min_background, z, p.min_mc_events
        )
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
    # overtraining: each fold model's scores on its own training events (each event in k - 1 of
    # them, so each fold's share weighs 1/k) against the out-of-fold scores of every event
    by_class = proba.ndim == 2  # per class, else per role
    trains = [load_split_arrays(inputs.features, inputs.split, p.features, ("train",), None, images, f, p.batches)[0]
              for f in range(len(ensemble))]  # fmt: skip
    train_scores = np.concatenate(
        [signal_score(m.predict_proba(t.inputs), classes.signal_indices) for m, t in zip(ensemble.models, trains)]
    )
    train_w = np.concatenate([t.w for t in trains]) / len(trains)
    train_classes = np.concatenate([t.target if by_class else t.y for t in trains])
    test_classes = test.target if by_class else test.y
    names = classes.names if by_class else ("background", "signal")
    check = overtraining(train_scores, train_w, train_classes, scores, test.w, test_classes, names)
    plots.overtraining(check.train, check.test, check.p_values, out.overtraining, collision=collision)
    if describe(p.method).history == "cuts":  # its training is the sequence of cuts: show fold 0's
        first = trains[0]
        cuts = ensemble.models[0].cuts
        plots.cut_values(first.x, first.y, first.w, cuts, out.history, feature_names=p.features, collision=collision)
    else:
        histories = [pd.read_csv(path) for path in inputs.histories]
        plots.training_history(histories, out.history, collision=collision)
    write_record(out.provenance, p.provenance, started, inputs, kind="classifier evaluation")
    log.info("metrics: %s; KS p-values %s", metrics, check.p_values)
