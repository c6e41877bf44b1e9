"""Evaluate one classifier's scored events: weighted ROC, AUC (combined and against each background
process), the best threshold and the efficiencies of the working point it chooses; for multi-class
classifiers also per-class one-vs-rest AUCs and the k×k confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from phenoflow.evaluation.metrics import (
    background_rejection,
    binary_confusion,
    confusion_matrix,
    ks_test,
    max_significance,
    one_vs_rest_auc,
    project_to_binary,
    weighted_auc,
    weighted_roc,
    working_point,
)
from phenoflow.features.classes import Classes
from phenoflow.features.splits import group_complement_weights
from phenoflow.significance import ASIMOV, Significance


def signal_score(proba: np.ndarray, signal_classes: Sequence[int]) -> np.ndarray:
    """The signal-vs-background score, shape (n,): ``proba`` itself for a binary classifier
    (shape (n,)), else the summed probability of the signal classes of ``proba`` (n, k)."""
    proba = np.asarray(proba)
    if proba.ndim == 1:
        return proba
    return proba[:, list(signal_classes)].sum(axis=1)


def multiclass_metrics(proba: np.ndarray, weights: np.ndarray, targets: np.ndarray, classes: Classes) -> dict:
    """Multi-class metrics of class probabilities ``proba`` (n, k) for true classes ``targets`` (n,)
    with expected-event ``weights`` (n,): per class its one-vs-rest AUC, the weighted k×k
    confusion matrix of the most probable class (rows true, columns predicted, expected events)
    and its projection onto signal vs background ([[TN, FP], [FN, TP]])."""
    matrix = confusion_matrix(np.argmax(proba, axis=1), targets, weights, classes.n)
    return {
        "classes": list(classes.names),
        "one_vs_rest_auc": dict(zip(classes.names, one_vs_rest_auc(proba, weights, targets))),
        "confusion_argmax": matrix.tolist(),
        "confusion_argmax_binary": project_to_binary(matrix, classes.signal_indices).tolist(),
    }


@dataclass
class Evaluation:
    """Metrics (JSON-ready dict) and the ROC curve (signal and background efficiency arrays)."""

    metrics: dict
    signal_efficiency: np.ndarray
    background_efficiency: np.ndarray


#: The working point of a pass/fail score (a cut-and-count's 1 or 0): the events passing the cuts.
PASS_THRESHOLD = 0.5

#: Why a pass/fail score has no AUC, R50 or R99 (metrics.json, the comparison, the headline).
NO_CURVE = (
    "a pass/fail score (a cut-and-count) has one working point, not a ROC curve: no AUC, R50 or R99; "
    "see working_point for its efficiencies"
)


def per_background(
    scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, processes: np.ndarray, continuous: bool = True
) -> dict:
    """Per background process, the signal against that process alone: its weighted AUC and its
    background rejection at 50 % signal efficiency (R50); None for a pass/fail score
    (``continuous`` False). Shapes (n,); every background process's summed weight must be positive."""
    processes, is_signal = np.asarray(processes), np.asarray(labels) == 1
    out = {}
    for name in np.unique(processes[~is_signal]):
        mine = is_signal | (processes == name)
        if continuous:
            args = (scores[mine], weights[mine], labels[mine])
            out[str(name)] = {"auc": weighted_auc(*args), "r50": background_rejection(*args, 0.5)}
        else:
            out[str(name)] = {"auc": None, "r50": None}
    return out


def evaluate(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    min_background: float,
    significance: Significance = ASIMOV,
    min_mc_events: int = 0,
    *,
    processes: np.ndarray | None = None,
    continuous: bool = True,
) -> Evaluation:
    """Weighted metrics of signal probabilities ``scores`` (n,) with expected-event ``weights`` (n,).

    The significance scans keep thresholds with at least ``min_background`` expected background
    events from at least ``min_mc_events`` background MC events: ``max_significance`` maximises the plain Asimov Z_A, ``max_significance_with_uncertainty``
    the configured ``significance`` (Cowan's Z with the background uncertainty it names, or again
    Z_A if it has none), each with its threshold, s, b, sigma_b, s/sqrt(b) and the background MC events kept. The
    ``working_point`` is the selection the analysis would use: the threshold of the configured
    best Z, or for a pass/fail score (``continuous`` False) the events passing; it holds the
    signal and background efficiencies (per background process too, given the events'
    ``processes`` (n,)), the rejection 1/eps_B and the balanced accuracy. R50 and R99 are the
    background rejections at signal efficiencies 0.5 and 0.99; with ``processes``,
    ``per_background`` holds the AUC and R50 against each background process alone. A pass/fail
    score has no ROC curve: its AUC, R50 and R99 are None, with a ``note`` saying why. The 2x2
    confusion matrix ([[TN, FP], [FN, TP]], expected events) is taken at score 0.5.

    No accuracy at score 0.5: it weighs the classes by their yields, so calling every event
    background scores 1 - S/(S+B) (0.9996 in the default analysis), above every classifier.
    """
    tpr, fpr, _ = weighted_roc(scores, weights, labels)
    best = max_significance(scores, weights, labels, min_background, min_mc_events=min_mc_events)
    best_uncertain = (
        best
        if significance.plain
        else max_significance(scores, weights, labels, min_background, significance, min_mc_events)
    )
    threshold = best_uncertain.threshold if continuous else PASS_THRESHOLD
    chosen = "max_significance_with_uncertainty" if continuous else "passing the cuts"
    metrics = {
        "auc": weighted_auc(scores, weights, labels) if continuous else None,
        "max_significance": best.as_dict(),
        "max_significance_with_uncertainty": {**best_uncertain.as_dict(), **significance.as_dict()},
        "working_point": {
            "chosen_by": chosen,
            **working_point(scores, weights, labels, threshold, processes).as_dict(),
        },
        "r50": background_rejection(scores, weights, labels, 0.5) if continuous else None,
        "r99": background_rejection(scores, weights, labels, 0.99) if continuous else None,
        "confusion_at_0.5": binary_confusion(scores, weights, labels, 0.5).tolist(),
        "signal_yield": float(weights[labels == 1].sum()),
        "background_yield": float(weights[labels == 0].sum()),
        "n_test_events": int(len(scores)),
    }
    if processes is not None:
        metrics["per_background"] = per_background(scores, weights, labels, processes, continuous)
    if not continuous:
        metrics["note"] = NO_CURVE
    return Evaluation(metrics, tpr, fpr)


@dataclass
class Overtraining:
    """Per class name: (scores, weights) on the training and test splits, and the weighted
    Kolmogorov-Smirnov p-value of each pair."""

    train: dict
    test: dict
    p_values: dict


def overtraining(
    train_scores: np.ndarray, train_weights: np.ndarray, train_classes: np.ndarray,
    test_scores: np.ndarray, test_weights: np.ndarray, test_classes: np.ndarray,
    names: Sequence[str] = ("background", "signal"),
) -> Overtraining:  # fmt: skip
    """Compare a classifier's score distributions on the training and test splits, per class.

    ``*_classes`` are class indices (n,) into ``names`` (default: the binary labels 0
    background, 1 signal); scores and weights have shape (n,).
    """
    train, test, p_values = {}, {}, {}
    for index, name in enumerate(names):
        a, b = train_classes == index, test_classes == index
        train[name] = (train_scores[a], train_weights[a])
        test[name] = (test_scores[b], test_weights[b])
        p_values[name] = float(ks_test(train_scores[a], train_weights[a], test_scores[b], test_weights[b])[1])
    return Overtraining(train, test, p_values)


def fold_spread(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    fold: np.ndarray,
    min_background: float,
    significance: Significance = ASIMOV,
    min_mc_events: int = 0,
    *,
    continuous: bool = True,
) -> dict:
    """The metrics of each fold's test events alone, and their mean and standard deviation.

    ``fold`` (n,) is the set whose model scored each event; ``weights`` (n,) scale each fold's
    events to the full luminosity on their own (:func:`phenoflow.features.datasets.fold_weights`),
    so every fold is one independent measurement of the whole analysis, with a k-th of the
    events. Per fold: the AUC, the best threshold's plain Asimov Z_A (``z_max_asimov``) and its
    configured significance (``z_max``), its threshold obeying the rule (``min_background``,
    ``min_mc_events``) within the fold. The standard deviation (ddof 1) is the spread of one
    fold's figure; the pooled figure's own error is about it over sqrt(k). One fold only: the
    values, without a spread. A pass/fail score (``continuous`` False) has no AUC: None.
    """
    folds = np.unique(fold)
    per_fold = {"auc": [], "z_max_asimov": [], "z_max": []}
    for f in folds:
        rows = fold == f
        result = evaluate(
            scores[rows],
            weights[rows],
            labels[rows],
            min_background,
            significance,
            min_mc_events,
            continuous=continuous,
        )
        per_fold["auc"].append(result.metrics["auc"])
        per_fold["z_max_asimov"].append(result.metrics["max_significance"]["significance"])
        per_fold["z_max"].append(result.metrics["max_significance_with_uncertainty"]["significance"])
    out: dict = {"n_folds": int(len(folds))}
    if not continuous:
        out.update(auc=None, auc_mean=None, auc_std=None)
        del per_fold["auc"]
    for name, values in per_fold.items():
        values = np.asarray(values, dtype=np.float64)
        out[name] = values.tolist()
        out[f"{name}_mean"] = float(values.mean())
        out[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
    return out


def independent_threshold(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    process: np.ndarray,
    groups: np.ndarray,
    min_background: float,
    significance: Significance = ASIMOV,
    min_mc_events: int = 0,
) -> dict:
    """The best score threshold chosen on other events than those that report it (cross-fitted).

    For each group g of ``groups`` (n,; the folds, :func:`phenoflow.features.splits.crossfit_groups`)
    the threshold maximising ``significance`` is chosen on the other groups' events, scaled to
    the full luminosity (:func:`max_significance`, at least ``min_background`` expected background
    events from ``min_mc_events`` MC events); group g's events
    are then kept above it. Returns the thresholds, the ``significance`` of every kept event
    together with its s, b and sigma_b (the independent figure), the mean of the groups' Z on
    their own choosing events (``significance_choosing``) and the optimism, choosing over
    independent. Shapes (n,); weights are expected events of all events together.
    """
    groups = np.asarray(groups)
    keep = np.zeros(len(scores), dtype=bool)
    thresholds, choosing = [], []
    for g in range(int(groups.max()) + 1):
        rows = groups != g
        w = group_complement_weights(process, weights, groups, g)[rows]
        best = max_significance(scores[rows], w, labels[rows], min_background, significance, min_mc_events)
        thresholds.append(best.threshold)
        choosing.append(best.significance)
        keep |= (groups == g) & (scores >= best.threshold)
    bkg = labels != 1
    s, b = float(weights[keep & ~bkg].sum()), float(weights[keep & bkg].sum())
    sumw2 = float(np.sum(weights[keep & bkg] ** 2))
    z = float(significance(np.array([s]), np.array([b]), np.array([sumw2]))[0]) if b > 0 else float("nan")
    sigma = 0.0 if significance.plain else float(significance.sigma_b(np.array([b]), np.array([sumw2]))[0])
    chosen = float(np.mean(choosing))
    return {
        "thresholds": thresholds,
        "significance": z,
        "s": s,
        "b": b,
        "sigma_b": sigma,
        "significance_choosing": chosen,
        "optimism": chosen / z if z > 0 else float("nan"),
    }
