"""Baseline binnings of a 1-D classifier score: equal-width bins and equal signal per bin.

Both take ``(scores, weights, labels, n_bins)`` and return edges; they are registered, with their
forms on the simplex, in :data:`phenoflow.binning.methods.METHODS`.
"""

from __future__ import annotations

import numpy as np


def equidistant(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, n_bins: int) -> np.ndarray:
    """``n_bins`` equal-width bins over [0, 1]; shape (n_bins + 1,)."""
    return np.linspace(0.0, 1.0, n_bins + 1)


def equal_signal_quantile_edges(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges over [0, 1] giving each bin the same weighted signal yield.

    Inner edges are weighted quantiles k / n_bins of the signal score distribution, placed
    midway between the last signal event below and the first one above, so each bin's signal
    yield is within one event weight of total / n_bins at each of its edges. First edge 0, last
    1; coinciding edges are dropped, so the result is strictly increasing with at most
    ``n_bins`` bins. Shape (n_bins_found + 1,).

    Weights are signed: with negative weights the cumulative signal is not monotonic, and edge
    k closes at the first event (in increasing score) where it reaches k / n_bins of the total,
    which must be positive.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    is_sig = np.asarray(labels) == 1
    x = np.asarray(scores, dtype=np.float64)[is_sig]
    w = np.asarray(weights, dtype=np.float64)[is_sig]
    if x.size == 0:
        raise ValueError("equal_signal_quantile_edges needs at least one signal event")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cum = np.cumsum(w)
    if not cum[-1] > 0:
        raise ValueError(f"equal_signal_quantile_edges needs a positive total signal, got {cum[-1]:g}")
    targets = cum[-1] * np.arange(1, n_bins) / n_bins
    # first event at which the cumulative signal reaches the target: it closes the lower bin
    # (the running maximum is monotonic, and first reaches a target where the signed sum does)
    i = np.minimum(np.searchsorted(np.maximum.accumulate(cum), targets, side="left"), x.size - 1)
    above = x[np.minimum(i + 1, x.size - 1)]
    mid = 0.5 * (x[i] + above)
    inner = np.where(mid > x[i], mid, above)  # event i stays below the edge unless tied with i + 1
    inner = inner[(inner > 0.0) & (inner < 1.0)]
    return np.unique(np.concatenate([[0.0], inner, [1.0]]))
