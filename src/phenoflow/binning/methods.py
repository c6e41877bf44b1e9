"""The binning methods by name, and each method's bins judged by the common rule.

Binning methods are registered in :data:`METHODS` by name, each a function
``(scores, weights, labels, n_bins, **options) -> edges`` returning increasing edges over
[0, 1]: equal-width bins and equal signal per bin (:mod:`phenoflow.binning.baselines`), the
exact optimum by dynamic programming (:mod:`phenoflow.binning.optimal`) and the Gaussian
mixture (:mod:`phenoflow.binning.gmm`). Every method's bins are then judged by the same rule
and the same yield function (:func:`evaluate_edges`, with :mod:`phenoflow.binning.rule`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from phenoflow.binning.baselines import equal_signal_quantile_edges, equidistant
from phenoflow.binning.optimal import optimal_edges
from phenoflow.binning.rule import BinRule, apply_rule_1d, binned_yields, combined_significance

EdgesFn = Callable[..., np.ndarray]


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


def evaluate_edges(
    method: str,
    edges: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    n_bins: int,
    rule: BinRule = BinRule(),
) -> dict:
    """Judge one binning by the common rule: bins are merged until each obeys ``rule``
    (:func:`phenoflow.binning.rule.apply_rule_1d`, each merge losing the least sum Z^2); then
    yields and combined Z from the events.

    ``edges``: the method's edges for ``n_bins`` requested bins; events (n,) with ``labels`` 1
    signal, 0 background. Returns a JSON-ready row: method, bins requested and kept, edges,
    per-bin s, b, background MC error and background MC events, the significance sqrt(sum Z^2)
    with Z the rule's significance (default the plain Asimov Z_A), the plain ``z_asimov`` beside
    it, and notes on merged bins.
    """
    merged, notes = apply_rule_1d(edges, scores, weights, labels, rule)
    yields = binned_yields(scores, weights, labels, merged)
    return {
        "method": method,
        "n_bins_requested": n_bins,
        "n_bins": len(merged) - 1,
        "edges": merged.tolist(),
        "s": yields["s"].tolist(),
        "b": yields["b"].tolist(),
        "b_error": np.sqrt(yields["b_sumw2"]).tolist(),
        "b_events": yields["b_events"].astype(int).tolist(),
        "significance": combined_significance(yields["s"], yields["b"], yields["b_sumw2"], rule.significance),
        "z_asimov": combined_significance(yields["s"], yields["b"]),
        "notes": list(notes),
    }


def evaluate_binning(
    method: str,
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    n_bins: int,
    rule: BinRule = BinRule(),
    **options,
) -> dict:
    """Edges from ``method`` (a key of :data:`METHODS`; ``options`` such as ``seed`` pass to it),
    judged by :func:`evaluate_edges`. Methods that optimise edges (``optimal``, ``gmm``) obey
    ``rule`` themselves and maximise sum Z^2 with Z its significance; the others are merged to
    obey it."""
    edges = method_edges(method, scores, weights, labels, n_bins, rule, **options)
    return evaluate_edges(method, edges, scores, weights, labels, n_bins, rule)


def method_edges(
    method: str,
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    n_bins: int,
    rule: BinRule = BinRule(),
    **options,
) -> np.ndarray:
    """The edges ``method`` (a key of :data:`METHODS`) gives for ``n_bins`` bins of these events,
    before the rule's merges; ``options`` such as ``seed`` pass to it."""
    if method not in METHODS:
        raise KeyError(f"binning method '{method}' is not one of {', '.join(METHODS)}")
    return METHODS[method](scores, weights, labels, n_bins, rule=rule, **options)
