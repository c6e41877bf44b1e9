"""The binning methods by name, one registry for 1-D scores and softmax vectors alike, and each
method's bins judged by the common rule.

Every method is registered in :data:`METHODS` by name as a function
``(scores, weights, labels, n_bins, rule, options) -> Binning | None`` (:data:`Method`): 1-D
scores (n,) give increasing edges over [0, 1], softmax vectors (n, C) a bin map; None if the
method has no binning of such scores. Registered are equal-width bins and equal signal per bin
(:mod:`phenoflow.binning.baselines`; on the simplex a regular grid and argmax regions cut at
class-score quantiles, :mod:`phenoflow.binning.simplex`), the exact optimum by dynamic
programming (:mod:`phenoflow.binning.optimal`, 1-D only), the Gaussian mixture on the per-bin
proxy (``gmm``, :mod:`phenoflow.binning.gmm`, whose :class:`Binning` also carries its fit) and the
mixture on the inference stage's profiled likelihood: its expected discovery Z
(``gmm_likelihood``) or its median expected CLs limit (``gmm_limit``), 1-D only. A new method is a
function of that signature added to :data:`METHODS` (and to the schema's ``binning.methods``).
Every method's bins are then judged by the same rule and the same yield function
(:func:`evaluate_edges`, or :func:`phenoflow.binning.rule.evaluate_bin_map` on the simplex).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from phenoflow.binning.baselines import equal_signal_quantile_edges, equidistant
from phenoflow.binning.gmm.settings import GMMSettings
from phenoflow.binning.optimal import optimal_edges
from phenoflow.binning.rule import COMBINATION, BinRule, apply_rule_1d, binned_yields, combined_significance
from phenoflow.binning.simplex import ArgmaxQuantileMap, RegularGridMap

if TYPE_CHECKING:
    from phenoflow.binning.gmm.fit import GMMBinningResult
    from phenoflow.inference.study import InferenceSettings
    from phenoflow.variations import Variation


@dataclass(frozen=True)
class Binning:
    """A method's bins for K requested, before the rule's merges. 1-D scores: ``edges``
    (n_bins + 1,), increasing over [0, 1]; softmax vectors: ``bin_map``, (n, C) -> bin (n,) in
    [0, ``n_bins``). ``fit``: the mixture's training record (the Gaussian mixture only)."""

    edges: np.ndarray | None = None
    bin_map: Callable[[np.ndarray], np.ndarray] | None = None
    n_bins: int | None = None
    fit: GMMBinningResult | None = None

    @property
    def warnings(self) -> list[str]:
        """What the method warns of (the mixture: components without events, its own merges)."""
        return list(self.fit.warnings) if self.fit is not None else []


@dataclass(frozen=True, kw_only=True)
class MethodOptions:
    """What a method is given besides the events, K and the rule: the ``seed`` of a random method,
    the mixture's settings ``gmm``, the ``signal_labels`` among the labels and how several
    signals' Z ``combination`` combine (:data:`phenoflow.binning.rule.COMBINATIONS`). The
    mixture on the likelihood (methods ``gmm_likelihood``, ``gmm_limit``) also needs the likelihood's settings
    ``inference`` (:class:`phenoflow.inference.study.InferenceSettings`) and each event's process
    name ``processes`` (n,), the events' the method is called with, and for theory systematics
    each process's ``variations`` (:class:`phenoflow.variations.Variation`) and their weights
    ``variation_weights`` by column (``weight:<name>``, (n,) each, normalised as the weights)."""

    seed: int = 0
    gmm: GMMSettings = GMMSettings()
    signal_labels: tuple[int, ...] = (1,)
    combination: str = COMBINATION
    inference: InferenceSettings | None = None
    processes: np.ndarray | None = None
    variations: Mapping[str, Sequence[Variation]] | None = None
    variation_weights: Mapping[str, np.ndarray] | None = None


#: A binning method: (scores (n,) or (n, C), weights (n,), labels (n,), K, rule, options) -> its
#: bins, or None if it has none of such scores
Method = Callable[[np.ndarray, np.ndarray, np.ndarray, int, BinRule, MethodOptions], Binning | None]


def _equidistant(scores, weights, labels, n_bins: int, rule: BinRule, options: MethodOptions) -> Binning:
    """Equal-width bins; on the simplex a regular grid of about ``n_bins`` cells."""
    if np.ndim(scores) == 1:
        return Binning(edges=equidistant(scores, weights, labels, n_bins))
    grid = RegularGridMap.for_bins(np.shape(scores)[1], n_bins)
    return Binning(bin_map=grid, n_bins=grid.n_bins)


def _quantile(scores, weights, labels, n_bins: int, rule: BinRule, options: MethodOptions) -> Binning | None:
    """Equal signal per bin; on the simplex argmax regions cut at class-score quantiles (None with
    fewer bins than classes: the argmax needs a bin per class)."""
    if np.ndim(scores) == 1:
        return Binning(edges=equal_signal_quantile_edges(scores, weights, labels, n_bins))
    if n_bins < np.shape(scores)[1]:
        return None
    regions = ArgmaxQuantileMap.fit(scores, n_bins)
    return Binning(bin_map=regions, n_bins=regions.n_bins)


def _optimal(scores, weights, labels, n_bins: int, rule: BinRule, options: MethodOptions) -> Binning | None:
    """The exact optimum under the rule; None on the simplex (no exact optimum there)."""
    if np.ndim(scores) != 1:
        return None
    return Binning(edges=optimal_edges(scores, weights, labels, n_bins, rule))


def _mixture(scores, weights, labels, n_bins: int, rule: BinRule, options: MethodOptions, likelihood=None) -> Binning:
    """The Gaussian mixture with ``n_bins`` components trained on ``options.gmm`` (imports
    TensorFlow), its fit kept; ``likelihood``: the likelihood objective's
    :class:`~phenoflow.binning.gmm.fit.LikelihoodTarget`."""
    from phenoflow.binning.gmm.fit import fit_gmm_binning

    fit = fit_gmm_binning(
        scores, weights, labels, n_bins, signal_labels=options.signal_labels, combination=options.combination,
        rule=rule, settings=options.gmm, seed=options.seed, likelihood=likelihood,
    )  # fmt: skip
    if fit.edges is not None:
        return Binning(edges=fit.edges, fit=fit)
    return Binning(bin_map=fit.bin_map, n_bins=fit.n_bins, fit=fit)


def _gmm(scores, weights, labels, n_bins: int, rule: BinRule, options: MethodOptions) -> Binning:
    """The Gaussian mixture trained on the per-bin proxy (the rule's significance summed over
    the bins), 1-D scores and softmax vectors."""
    proxy = replace(options, gmm=replace(options.gmm, objective="proxy"))
    return _mixture(scores, weights, labels, n_bins, rule, proxy)


def _gmm_likelihood(scores, weights, labels, n_bins: int, rule: BinRule, options: MethodOptions) -> Binning | None:
    """The Gaussian mixture trained on the inference stage's profiled discovery Z
    (:mod:`phenoflow.binning.gmm.profile`); None on the simplex (no likelihood there)."""
    return _on_likelihood(
        scores, weights, labels, n_bins, rule, replace(options, gmm=replace(options.gmm, objective="discovery"))
    )


def _gmm_limit(scores, weights, labels, n_bins: int, rule: BinRule, options: MethodOptions) -> Binning | None:
    """The Gaussian mixture trained on the inference stage's median expected CLs limit on the
    signal strength (:mod:`phenoflow.binning.gmm.limit`); None on the simplex."""
    return _on_likelihood(
        scores, weights, labels, n_bins, rule, replace(options, gmm=replace(options.gmm, objective="limit"))
    )


def _on_likelihood(scores, weights, labels, n_bins: int, rule: BinRule, options: MethodOptions) -> Binning | None:
    """The mixture on the objective ``options.gmm.objective`` of the inference stage's likelihood,
    with the events' theory variations when the likelihood has theory systematics; None on the
    simplex."""
    if np.ndim(scores) != 1:
        return None
    from phenoflow.binning.gmm.fit import LikelihoodTarget
    from phenoflow.binning.gmm.theory import member_columns, theory_rows

    model = _likelihood_model(labels, options)
    columns = options.variation_weights or {}
    if not (model.theory.enabled and options.variations and columns):
        return _mixture(scores, weights, labels, n_bins, rule, options, LikelihoodTarget(model, options.processes))
    shifts, rows, members = theory_rows(model.processes, options.variations, list(columns))
    model = replace(model, shifts=shifts)
    index = np.searchsorted(model.processes, np.asarray(options.processes).astype(str))
    theory = (rows, member_columns(rows, members, index, columns)) if shifts else None
    return _mixture(scores, weights, labels, n_bins, rule, options, LikelihoodTarget(model, options.processes, theory))


def _likelihood_model(labels: np.ndarray, options: MethodOptions):
    """The likelihood the methods ``gmm_likelihood`` and ``gmm_limit`` optimise: the processes of
    the events (a process is a signal if all its events have a signal label) with the settings of
    ``options.inference``."""
    from phenoflow.binning.gmm.profile import LikelihoodModel

    if options.inference is None or options.processes is None:
        raise ValueError(
            "binning.methods: gmm_likelihood and gmm_limit need the inference block's settings and each event's process"
        )
    processes = np.asarray(options.processes).astype(str)
    if processes.shape != np.shape(labels):
        raise ValueError(f"{processes.shape[0]} process names for {len(labels)} events")
    names = sorted(set(processes))
    signal = [bool(np.all(np.isin(labels[processes == name], options.signal_labels))) for name in names]
    return LikelihoodModel.from_settings(options.inference, names, signal)


#: The methods that train a TensorFlow mixture (their job sets TensorFlow's threads)
TENSORFLOW_METHODS = frozenset({"gmm", "gmm_likelihood", "gmm_limit"})
#: The methods whose bins depend on the config's inference block: they maximise its likelihood
LIKELIHOOD_METHODS = frozenset({"gmm_likelihood", "gmm_limit"})


def uses_tensorflow(methods: Sequence[str]) -> bool:
    """Whether any of ``methods`` (names of :data:`METHODS`) trains a TensorFlow mixture."""
    return bool(TENSORFLOW_METHODS.intersection(methods))


def uses_likelihood(methods: Sequence[str]) -> bool:
    """Whether any of ``methods`` maximises the inference stage's likelihood, so that its bins
    depend on the config's ``inference`` block."""
    return bool(LIKELIHOOD_METHODS.intersection(methods))


METHODS: dict[str, Method] = {
    "equidistant": _equidistant,
    "quantile": _quantile,
    "optimal": _optimal,
    "gmm": _gmm,
    "gmm_likelihood": _gmm_likelihood,
    "gmm_limit": _gmm_limit,
}


def registered(method: str) -> Method:
    """The method registered as ``method`` in :data:`METHODS` (a name of the config's
    ``binning.methods``); an unknown name is an error naming that key. Call it with the events
    (scores (n,) or (n, C), weights in expected events, labels), K, the rule and the options for
    its bins before the rule's merges."""
    if method not in METHODS:
        raise ValueError(f"binning.methods: '{method}' is not a binning method (one of {', '.join(METHODS)})")
    return METHODS[method]


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
    options: MethodOptions = MethodOptions(),
) -> dict:
    """The 1-D bins of ``method`` (:func:`registered`) judged by :func:`evaluate_edges`. Methods
    that optimise edges (``optimal``, ``gmm``) obey ``rule`` themselves and maximise sum Z^2
    with Z its significance; the others are merged to obey it."""
    edges = registered(method)(scores, weights, labels, n_bins, rule, options).edges
    return evaluate_edges(method, edges, scores, weights, labels, n_bins, rule)
