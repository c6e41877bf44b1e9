"""Evaluate one classifier's test scores: weighted ROC, AUC, accuracy and the best threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phenoflow.metrics import max_significance, weighted_auc, weighted_roc


@dataclass
class Evaluation:
    """Metrics (JSON-ready dict) and the ROC curve (signal and background efficiency arrays)."""

    metrics: dict
    signal_efficiency: np.ndarray
    background_efficiency: np.ndarray


def evaluate(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, min_background: float) -> Evaluation:
    """Weighted metrics of signal probabilities ``scores`` (n,) with expected-event ``weights`` (n,).

    Accuracy is taken at score 0.5; the significance scan keeps thresholds with at least
    ``min_background`` expected background events.
    """
    tpr, fpr, _ = weighted_roc(scores, weights, labels)
    best = max_significance(scores, weights, labels, min_background)
    accuracy = float(np.sum(weights * ((scores >= 0.5) == (labels == 1))) / np.sum(weights))
    metrics = {
        "auc": weighted_auc(scores, weights, labels),
        "accuracy": accuracy,
        "max_significance": best.as_dict(),
        "signal_yield": float(weights[labels == 1].sum()),
        "background_yield": float(weights[labels == 0].sum()),
        "n_test_events": int(len(scores)),
    }
    return Evaluation(metrics, tpr, fpr)
