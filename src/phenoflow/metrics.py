"""Weighted classifier metrics and the Asimov significance.

Yields are expected event counts (physical weights, already scaled to the full luminosity).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def asimov_significance(s: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Median discovery significance Z = sqrt(2((s+b) ln(1+s/b) - s)) for s signal and b > 0 background.

    Broadcasts over arrays. Where b <= 0 the result is NaN (the caller decides how to treat
    bins without background); where s <= 0 it is 0.
    """
    s, b = np.broadcast_arrays(np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64))
    z = np.full(s.shape, np.nan)
    ok = b > 0
    sp = np.where(ok, np.clip(s, 0, None), 0.0)
    bp = np.where(ok, b, 1.0)
    z2 = 2 * ((sp + bp) * np.log1p(sp / bp) - sp)
    z[ok] = np.sqrt(np.clip(z2[ok], 0, None))
    return z if z.ndim else float(z)


@dataclass(frozen=True)
class ThresholdScan:
    """Best score threshold (keep score >= threshold): its Z, s, b and s/sqrt(b)."""

    threshold: float
    significance: float
    s: float
    b: float
    s_over_sqrt_b: float

    def as_dict(self) -> dict:
        return asdict(self)


def max_significance(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, min_background: float) -> ThresholdScan:
    """Scan every distinct score threshold; maximise Z_A among those keeping b >= min_background.

    ``scores``, ``weights`` (expected events), ``labels`` (1 signal, 0 background): shape (n,).
    """
    order = np.argsort(-scores, kind="stable")
    sc, w, y = scores[order], weights[order], labels[order]
    s = np.cumsum(np.where(y == 1, w, 0.0))
    b = np.cumsum(np.where(y == 1, 0.0, w))
    last = np.r_[sc[1:] != sc[:-1], True]  # the cut "score >= sc[i]" keeps rows up to the last tie
    s, b, thr = s[last], b[last], sc[last]
    allowed = b >= max(min_background, np.finfo(float).tiny)
    if not allowed.any():
        raise ValueError(f"no threshold keeps a background of at least {min_background} events")
    z = np.where(allowed, asimov_significance(s, np.where(allowed, b, 1.0)), -np.inf)
    i = int(np.argmax(z))
    return ThresholdScan(float(thr[i]), float(z[i]), float(s[i]), float(b[i]), float(s[i] / np.sqrt(b[i])))


def weighted_roc(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signal efficiency, background efficiency, thresholds) with physical weights."""
    fpr, tpr, thresholds = roc_curve(labels, scores, sample_weight=weights)
    return tpr, fpr, thresholds


def weighted_auc(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> float:
    """Area under the weighted ROC curve."""
    return float(roc_auc_score(labels, scores, sample_weight=weights))
