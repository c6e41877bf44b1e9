"""Evaluate one classifier's test scores: weighted ROC, AUC, accuracy and the best threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phenoflow.metrics import (
    background_rejection,
    binary_confusion,
    ks_test,
    max_significance,
    weighted_accuracy,
    weighted_auc,
    weighted_roc,
)


@dataclass
class Evaluation:
    """Metrics (JSON-ready dict) and the ROC curve (signal and background efficiency arrays)."""

    metrics: dict
    signal_efficiency: np.ndarray
    background_efficiency: np.ndarray


def evaluate(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, min_background: float) -> Evaluation:
    """Weighted metrics of signal probabilities ``scores`` (n,) with expected-event ``weights`` (n,).

    Accuracy and the 2x2 confusion matrix ([[TN, FP], [FN, TP]], expected events) are taken at
    score 0.5; R50 and R99 are the background rejections 1/eps_B at signal efficiencies 0.5 and
    0.99; the significance scan keeps thresholds with at least ``min_background`` expected
    background events.
    """
    tpr, fpr, _ = weighted_roc(scores, weights, labels)
    best = max_significance(scores, weights, labels, min_background)
    metrics = {
        "auc": weighted_auc(scores, weights, labels),
        "accuracy": weighted_accuracy(scores, weights, labels, 0.5),
        "max_significance": best.as_dict(),
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
    """Per class ("signal", "background"): (scores, weights) on the training and test splits, and
    the weighted Kolmogorov-Smirnov p-value of each pair."""

    train: dict
    test: dict
    p_values: dict


def overtraining(
    train_scores: np.ndarray, train_weights: np.ndarray, train_labels: np.ndarray,
    test_scores: np.ndarray, test_weights: np.ndarray, test_labels: np.ndarray,
) -> Overtraining:  # fmt: skip
    """Compare a classifier's score distributions on the training and test splits, per class."""
    train, test, p_values = {}, {}, {}
    for name, label in (("signal", 1), ("background", 0)):
        a, b = train_labels == label, test_labels == label
        train[name] = (train_scores[a], train_weights[a])
        test[name] = (test_scores[b], test_weights[b])
        p_values[name] = float(ks_test(train_scores[a], train_weights[a], test_scores[b], test_weights[b])[1])
    return Overtraining(train, test, p_values)
