"""Bins of a classifier score and the combined significance sqrt(sum Z_A^2) over them.

Binning methods are registered in :data:`METHODS` by name, each a function
``(scores, weights, labels, n_bins, **options) -> edges`` returning increasing edges over
[0, 1]: equal-width bins, equal signal per bin, the exact optimum by dynamic programming
(:mod:`phenoflow.binning.optimal`) and the Gaussian mixture (:mod:`phenoflow.binning.gmm`).
Every method's bins are then judged by the same rule and the same yield function
(:func:`evaluate_edges`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from phenoflow.evaluation.metrics import asimov_significance
from phenoflow.binning.optimal import equal_signal_quantile_edges, optimal_edges

EdgesFn = Callable[..., np.ndarray]


def equidistant(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, n_bins: int, **_) -> np.ndarray:
    """``n_bins`` equal-width bins over [0, 1]; shape (n_bins + 1,)."""
    return np.linspace(0.0, 1.0, n_bins + 1)


def gmm(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, n_bins: int, **options) -> np.ndarray:
    """Edges of the Gaussian-mixture binning with ``n_bins`` components (imports TensorFlow)."""
    from phenoflow.binning.gmm import gmm_edges

    return gmm_edges(scores, weights, labels, n_bins, **options)


METHODS: dict[str, EdgesFn] = {
    "equidistant": equidistant,
    "quantile": equal_signal_quantile_edges,
    "optimal": optimal_edges,
    "gmm": gmm,
}


def binned_yields(scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, edges: np.ndarray) -> dict[str, np.ndarray]:
    """Per-bin signal and background yields and background sum of w^2; each shape (n_bins,)."""
    is_sig = labels == 1
    s, _ = np.histogram(scores[is_sig], bins=edges, weights=weights[is_sig])
    b, _ = np.histogram(scores[~is_sig], bins=edges, weights=weights[~is_sig])
    b_w2, _ = np.histogram(scores[~is_sig], bins=edges, weights=weights[~is_sig] ** 2)
    return {"s": s, "b": b, "b_sumw2": b_w2}


def merge_low_background(edges: np.ndarray, b: np.ndarray, min_background: float) -> np.ndarray:
    """Remove inner edges until every bin has b >= min_background.

    Bins are closed from the highest score down; a remainder at the low end joins the bin
    above it. Returns the new edges (possibly a single bin).
    """
    keep = [len(edges) - 1]
    acc = 0.0
    for i in range(len(b) - 1, -1, -1):
        acc += b[i]
        if acc >= min_background and i > 0:
            keep.append(i)
            acc = 0.0
    if acc < min_background and len(keep) > 1:
        keep.pop()
    keep.append(0)
    return edges[sorted(set(keep))]


def combined_significance(s: np.ndarray, b: np.ndarray) -> float:
    """sqrt(sum_k Z_A(s_k, b_k)^2) over bins; every bin must have b_k > 0."""
    if np.any(b <= 0):
        raise ValueError("combined_significance needs b > 0 in every bin; merge bins first")
    return float(np.sqrt(np.sum(asimov_significance(s, b) ** 2)))


def evaluate_edges(
    method: str,
    edges: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    n_bins: int,
    min_background: float,
    max_rel_uncertainty: float = np.inf,
) -> dict:
    """Judge one binning by the common rule: bins are merged until each has b > 0, b >=
    ``min_background`` and a background MC uncertainty sqrt(sum w^2)/b <= ``max_rel_uncertainty``
    (:func:`phenoflow.binning.rule.apply_rule_1d`); then yields and combined Z from the events.

    ``edges``: the method's edges for ``n_bins`` requested bins; events (n,) with ``labels`` 1
    signal, 0 background. Returns a JSON-ready row: method, bins requested and kept, edges,
    per-bin s, b and background MC error, the significance and notes on merged bins.
    """
    from phenoflow.binning.rule import apply_rule_1d  # bin_rule imports this module

    merged, notes = apply_rule_1d(edges, scores, weights, labels, min_background, max_rel_uncertainty)
    yields = binned_yields(scores, weights, labels, merged)
    return {
        "method": method,
        "n_bins_requested": n_bins,
        "n_bins": len(merged) - 1,
        "edges": merged.tolist(),
        "s": yields["s"].tolist(),
        "b": yields["b"].tolist(),
        "b_error": np.sqrt(yields["b_sumw2"]).tolist(),
        "significance": combined_significance(yields["s"], yields["b"]),
        "notes": list(notes),
    }


def evaluate_binning(
    method: str,
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    n_bins: int,
    min_background: float,
    max_rel_uncertainty: float = np.inf,
    **options,
) -> dict:
    """Edges from ``method`` (a key of :data:`METHODS`; ``options`` such as ``seed`` pass to it),
    judged by :func:`evaluate_edges`. Methods that optimise edges (``optimal``, ``gmm``) obey
    ``min_background`` and ``max_rel_uncertainty`` themselves; the others are merged to obey them."""
    if method not in METHODS:
        raise KeyError(f"binning method '{method}' is not one of {', '.join(METHODS)}")
    edges = METHODS[method](
        scores, weights, labels, n_bins, min_background=min_background, max_rel_uncertainty=max_rel_uncertainty, **options
    )
    return evaluate_edges(method, edges, scores, weights, labels, n_bins, min_background, max_rel_uncertainty)
