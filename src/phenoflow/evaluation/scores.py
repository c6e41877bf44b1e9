"""Evaluate one classifier's test scores: weighted ROC, AUC, accuracy and the best threshold;
for multi-class classifiers also per-class one-vs-rest AUCs and the k×k confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from phenoflow.evaluation.metrics import (
    ASIMOV,
    Significance,
    background_rejection,
    binary_confusion,
    confusion_matrix,
    ks_test,
    max_significance,
    one_vs_rest_auc,
    project_to_binary,
    weighted_accuracy,
    weighted_auc,
    weighted_roc,
)
from phenoflow.features.classes import Classes


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


def evaluate(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    min_background: float,
    significance: Significance = ASIMOV,
    min_mc_events: int = 0,
) -> Evaluation:
    """Weighted metrics of signal probabilities ``scores`` (n,) with expected-event ``weights`` (n,).

    Accuracy and the 2x2 confusion matrix ([[TN, FP], [FN, TP]], expected events) are taken at
    score 0.5; R50 and R99 are the background rejections 1/eps_B at signal efficiencies 0.5 and
    0.99; the significance scans keep thresholds with at least ``min_background`` expected
    background events from at least ``min_mc_events`` background MC events:
    ``max_significance`` maximises the plain Asimov Z_A,
    ``max_significance_with_uncertainty`` the configured ``significance`` (Cowan's Z with the
    background uncertainty it names, or again Z_A if it has none), each with its threshold, s,
    b, sigma_b, s/sqrt(b) and the background MC events kept.
    """
    tpr, fpr, _ = weighted_roc(scores, weights, labels)
    best = max_significance(scores, weights, labels, min_background, min_mc_events=min_mc_events)
    best_uncertain = (
        best
        if significance.plain
        else max_significance(scores, weights, labels, min_background, significance, min_mc_events)
    )
    metrics = {
        "auc": weighted_auc(scores, weights, labels),
        "accuracy": weighted_accuracy(scores, weights, labels, 0.5),
        "max_significance": best.as_dict(),
        "max_significance_with_uncertainty": {**best_uncertain.as_dict(), **significance.as_dict()},
        "r50": background_rejection(scores, weights, labels, 0.5),
        "r99": background_rejection(scores, weights, labels, 0.99),
        "confusion_at_0.5": binary_confusion(scores, weights, labels, 0.5).tolist(),
        "signal_yield": float(weights[labels == 1].sum()),
        "background_yield": float(weights[labels == 0].sum()),
        "n_test_events": int(len(scores)),
    }
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
) -> dict:
    """The metrics of each fold's test events alone, and their mean and standard deviation.

    ``fold`` (n,) is the set whose model scored each event; ``weights`` (n,) scale each fold's
    events to the full luminosity on their own (:func:`phenoflow.features.datasets.fold_weights`),
    so every fold is one independent measurement of the whole analysis, with a k-th of the
    events. Per fold: the AUC, the best threshold's plain Asimov Z_A (``z_max_asimov``) and its
    configured significance (``z_max``), its threshold obeying the rule (``min_background``,
    ``min_mc_events``) within the fold. The standard deviation (ddof 1) is the spread of one
    fold's figure; the pooled figure's own error is about it over sqrt(k). One fold only: the
    values, without a spread.
    """
    folds = np.unique(fold)
    per_fold = {"auc": [], "z_max_asimov": [], "z_max": []}
    for f in folds:
        rows = fold == f
        result = evaluate(scores[rows], weights[rows], labels[rows], min_background, significance, min_mc_events)
        per_fold["auc"].append(result.metrics["auc"])
        per_fold["z_max_asimov"].append(result.metrics["max_significance"]["significance"])
        per_fold["z_max"].append(result.metrics["max_significance_with_uncertainty"]["significance"])
    out: dict = {"n_folds": int(len(folds))}
    for name, values in per_fold.items():
        values = np.asarray(values, dtype=np.float64)
        out[name] = values.tolist()
        out[f"{name}_mean"] = float(values.mean())
        out[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
    return out
