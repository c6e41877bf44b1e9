"""The mixture's fit: cells, starts and training put together, the hard bins of the best state
merged under the rule, and the result. See :mod:`phenoflow.binning.gmm` for the method."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from phenoflow.binning import simplex
from phenoflow.binning.gmm.cells import (
    FineCells,
    fine_cells,
    log_joint,
    starts,
)
from phenoflow.binning.gmm.profile import LikelihoodModel
from phenoflow.binning.gmm.settings import GMMSettings
from phenoflow.binning.gmm.training import _train
from phenoflow.binning.optimal import optimal_edges
from phenoflow.binning.rule import (
    COMBINATION,
    COMBINATIONS,
    BinRule,
    BinYields,
    SortedEvents,
    bin_index,
    combine_significances,
    group_sums,
    merge_edges,
    signal_significances,
    yields_with_errors,
)


@dataclass(frozen=True)
class BinMap:
    """Hard bins of a trained mixture. Call with scores ((n,) in 1-D, (n, C) softmax vectors) to
    get bin indices (n,); 1-D scores outside the edges get -1.

    1-D: ``edges`` decide. n-D: argmax over the components that received events
    (``log_weights`` (K',), ``means`` (K', d), ``scale_tril`` (K', d, d)), then
    ``component_bin`` (K',) after merging.
    """

    log_weights: np.ndarray
    means: np.ndarray
    scale_tril: np.ndarray
    component_bin: np.ndarray
    edges: np.ndarray | None = None

    def components(self, scores: np.ndarray) -> np.ndarray:
        """Winning (kept) component of each score vector (n,) (n-D only)."""
        return np.argmax(
            log_joint(simplex.free_coordinates(scores), self.log_weights, self.means, self.scale_tril), axis=1
        )

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        if self.edges is not None:
            return bin_index(scores, self.edges)
        return self.component_bin[self.components(scores)]


@dataclass
class GMMBinningResult:
    """Everything a fit produced. Yields are expected events; arrays per bin have n_bins entries,
    per component K, history arrays one entry per training step.

    ``component_soft`` / ``component_hard``: BinYields per component, soft (gamma at the final
    temperature, on the fine cells) and hard (argmax, on the events); ``component_bias`` (K,):
    (hard - soft) / max(hard, soft) of the background, 0 where both vanish. ``group_yields``:
    process label -> (yields, MC errors) per final bin (from :func:`phenoflow.binning.rule.yields_with_errors`).
    ``image``: bin index on a pixel grid over the triangle (C = 3 only, NaN outside).
    ``significance`` / ``signal_significance``: the combined and per-signal Z the fit maximised
    (``rule.significance``: Z_A or Cowan's Z with its background uncertainty);
    :attr:`significance_asimov` the plain Asimov one of the same bins. ``rule``, ``settings``
    (the dimension's defaults filled in) and ``seed``: what the fit was given; ``n_cells``: the
    populated fine cells it trained on. ``likelihood_significance``: with the discovery objective,
    the inference stage's expected discovery Z of the final bins (what the fit maximised), else
    None; ``likelihood_limit``: with the limit objective, its median expected CLs limit on the
    signal strength of the final bins (what the fit minimised), else None.
    """

    n_components: int
    n_effective: int
    n_bins: int
    edges: np.ndarray | None
    bin_map: BinMap
    signal_labels: tuple[int, ...]
    combination: str
    significance: float
    signal_significance: np.ndarray
    bins: BinYields
    group_yields: dict[int, tuple[np.ndarray, np.ndarray]]
    means: np.ndarray
    scale_tril: np.ndarray
    weights: np.ndarray
    component_soft: BinYields
    component_hard: BinYields
    component_bin: np.ndarray
    history: dict[str, np.ndarray]
    restart_significance: np.ndarray
    chosen_restart: int
    warnings: list[str]
    wall_time: float
    rule: BinRule
    settings: GMMSettings
    seed: int
    n_cells: int
    image: np.ndarray | None = None
    likelihood_significance: float | None = None
    likelihood_limit: float | None = None

    @property
    def significance_asimov(self) -> float:
        """The plain Asimov combined Z of the final bins (equal to ``significance`` when that has
        no background uncertainty)."""
        return combine_significances(signal_significances(self.bins.s, self.bins.b), self.combination)

    @property
    def component_bias(self) -> np.ndarray:
        """(hard - soft) / max(|hard|, |soft|) of each component's background, (K,); 0 if both are 0."""
        hard, soft = self.component_hard.b, self.component_soft.b
        scale = np.maximum(np.abs(hard), np.abs(soft))
        return np.where(scale > 0, (hard - soft) / np.where(scale > 0, scale, 1.0), 0.0)


def _soft_yields(
    cells: FineCells, log_w: np.ndarray, means: np.ndarray, tril: np.ndarray, temperature: float
) -> BinYields:
    """Per-component soft yields on the fine cells at ``temperature`` (numpy, float64)."""
    a = log_joint(cells.points, log_w, means, tril) / temperature
    gamma = np.exp(a - a.max(axis=1, keepdims=True))
    gamma /= gamma.sum(axis=1, keepdims=True)
    y = cells.yields
    return BinYields(y.s @ gamma, y.b @ gamma, y.b_sumw2 @ gamma, y.count @ gamma, y.b_events @ gamma)


class LikelihoodTarget(NamedTuple):
    """What the likelihood objective needs: the ``model``, each event's process name
    ``processes`` (n,), and ``theory``, the theory rows and member columns of
    :mod:`phenoflow.binning.gmm.theory` (None without theory systematics)."""

    model: LikelihoodModel
    processes: np.ndarray
    theory: tuple | None = None


class _Hard(NamedTuple):
    """The hard result of one trained mixture."""

    bin_map: BinMap
    edges: np.ndarray | None
    component_hard: BinYields  # per component, on the events
    component_bin: np.ndarray  # (K,) final bin, -1 without events
    n_effective: int
    notes: list[str]
    image: np.ndarray | None


def _hard_1d(
    log_w,
    means,
    tril,
    events: SortedEvents,
    cells: FineCells,
    k: int,
    lo: float,
    hi: float,
    rule: BinRule,
) -> _Hard:
    """Bins of the argmax assignment of the fine cells (as training scores it): runs of cells
    with one winner, edges midway between the last event of one run and the first of the next,
    yields on the events, bins merged under the rule."""
    owner_cell = np.argmax(log_joint(cells.points, log_w, means, tril), axis=1)
    change = np.flatnonzero(owner_cell[1:] != owner_cell[:-1])  # last cell of each run but the last
    edges0 = np.r_[lo, 0.5 * (cells.high[change] + cells.low[change + 1]), hi]
    owner = owner_cell[np.r_[0, change + 1]]
    component_hard = events.yields(edges0).merged(owner, k)
    edges, notes = merge_edges(edges0, events, rule, max_bins=k)
    component_bin = np.full(k, -1)
    component_bin[owner] = bin_index(0.5 * (edges0[:-1] + edges0[1:]), edges)  # of its last interval
    component_bin[component_hard.count == 0] = -1
    n_effective = int(np.count_nonzero(component_hard.count))
    return _Hard(
        BinMap(log_w, means, tril, component_bin, edges), edges, component_hard, component_bin, n_effective, notes, None
    )


def _hard_simplex(log_w, means, tril, x, weights, labels, signal_labels, k: int, rule: BinRule) -> _Hard:
    """Argmax over components on the events; empty components dropped; bins merged into
    touching bins (C = 3, from a pixel image) or any bins (C > 3) under the rule."""
    component_hard = group_sums(np.argmax(log_joint(x, log_w, means, tril), axis=1), weights, labels, signal_labels, k)
    kept = np.flatnonzero(component_hard.count > 0)
    n_eff = len(kept)
    if x.shape[1] == 2:
        adjacency = simplex.region_adjacency(
            simplex.bin_image(BinMap(log_w[kept], means[kept], tril[kept], np.arange(n_eff))), n_eff
        )
    else:
        adjacency = np.ones((n_eff, n_eff), dtype=bool)
    groups, n_new = rule.merge(component_hard.take(kept), adjacency)
    bin_map = BinMap(log_w[kept], means[kept], tril[kept], groups)
    component_bin = np.full(k, -1)
    component_bin[kept] = groups
    notes = rule.note(n_eff, n_new, "into touching bins ")
    image = simplex.bin_image(bin_map) if x.shape[1] == 2 else None
    return _Hard(bin_map, None, component_hard, component_bin, n_eff, notes, image)


def _checked_events(scores, weights, labels, signal_labels: Sequence[int]) -> tuple:
    """The events as float64 scores and weights, int64 labels and a tuple of signal labels; an
    error unless there are signal and background events and the background's total is positive."""
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    signal_labels = tuple(int(g) for g in signal_labels)
    is_sig = np.isin(labels, signal_labels)
    if not is_sig.any() or is_sig.all():
        raise ValueError("need both signal (labels in signal_labels) and background events")
    if weights[~is_sig].sum() <= 0:
        raise ValueError("the total background yield must be positive")
    return scores, weights, labels, signal_labels


def fit_gmm_binning(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    n_components: int,
    *,
    signal_labels: Sequence[int] = (1,),
    combination: str = COMBINATION,
    rule: BinRule = BinRule(),
    settings: GMMSettings = GMMSettings(),
    seed: int = 0,
    likelihood: LikelihoodTarget | tuple | None = None,
) -> GMMBinningResult:
    """Optimise K = ``n_components`` bins of classifier outputs with a Gaussian mixture.

    ``scores``: (n,) 1-D scores in ``settings.score_range``, or (n, C) softmax vectors;
    ``weights`` (n,) expected events; ``labels`` (n,) integer process groups, those in
    ``signal_labels`` being signals and all others background, their Z combined by
    ``combination``. ``rule``: the per-bin rule and the Z maximised, merged by and reported
    (default the plain Asimov Z_A; :attr:`GMMBinningResult.significance_asimov` is always Z_A).
    ``settings``: how the mixture is trained (:class:`GMMSettings`); ``seed`` seeds its starts.
    With ``settings.objective`` discovery (1-D scores only) the fit maximises the expected
    discovery Z of ``likelihood``'s model (a :class:`LikelihoodTarget`, or the tuple of its fields;
    :mod:`phenoflow.binning.gmm.profile`), with ``limit`` it minimises the model's median
    expected CLs limit (:mod:`phenoflow.binning.gmm.limit`); either needs each event's process
    name ``processes`` (n,), one of ``model.processes``. The restarts'
    states are then chosen by that figure of their hard bins after the rule's merges, and the last
    restart starts from the DP optimum of the per-bin proxy of the same events and rule
    (:func:`phenoflow.binning.optimal.optimal_edges`; the fine cells are cut at its edges, so
    its start's hard bins are the DP's), so that the result's likelihood Z (limit) on these
    events is never below (above) the DP's.
    See :mod:`phenoflow.binning.gmm` for the method.
    """
    start = time.perf_counter()
    if combination not in COMBINATIONS:
        raise ValueError(f"combination must be one of {', '.join(COMBINATIONS)}, got '{combination}'")
    one_d = np.ndim(scores) == 1
    settings = settings.resolved(one_d)
    n_restarts = settings.n_restarts
    if n_components < 1:
        raise ValueError(f"n_components must be at least 1, got {n_components}")
    scores, weights, labels, signal_labels = _checked_events(scores, weights, labels, signal_labels)
    lo, hi = settings.score_range
    x = scores if one_d else simplex.free_coordinates(scores)
    significance = rule.significance
    signal = np.isin(labels, signal_labels)
    process_index = dp_edges = None
    if settings.on_likelihood:
        target = LikelihoodTarget(*likelihood) if likelihood is not None else LikelihoodTarget(None, None)
        model, theory = target.model, target.theory
        process_index = _process_index(model, target.processes, one_d, len(scores))
        # the DP optimum of the per-bin proxy on these events: the last restart's start, its bins
        # exactly (no fine cell straddles its edges), so that the result's likelihood Z is never below its
        dp_edges = optimal_edges(scores, weights, signal.astype(np.int64), n_components, rule)
    cells = fine_cells(x, weights, labels, signal_labels, settings.n_fine, lo, hi, _inner(dp_edges))
    init = starts(cells, (scores, weights, signal), n_components, rule, settings, seed, dp_edges)
    if process_index is not None:
        ok = cells.cell >= 0
        members = np.zeros((len(scores), 0)) if theory is None else theory[1]
        per_event = [np.where(process_index == p, weights, 0.0) ** power for power in (1, 2)
                     for p in range(len(model.processes))] + list(members.T)  # fmt: skip
        columns = [np.bincount(cells.cell[ok], weights=c[ok], minlength=len(cells.points)) for c in per_event]
        sums = (model, np.column_stack(columns), None if theory is None else theory[0])
    else:
        sums = None
    trained = _train(cells, init, (lo, hi) if one_d else None, combination, rule, settings, sums)
    events = SortedEvents(scores, weights, labels, signal_labels) if one_d else None

    def hard_significance(params) -> float:
        """Hard Z of one mixture under the rule: 1-D on the events, n-D on the fine cells."""
        if one_d:
            edges = _hard_1d(*params, events, cells, n_components, lo, hi, rule).edges
            return events.yields(edges).significance(combination, significance)
        y = cells.yields.merged(np.argmax(log_joint(cells.points, *params), axis=1), n_components)
        groups, n_new = rule.merge(y, np.ones((n_components, n_components), dtype=bool))
        return y.merged(groups, n_new).significance(combination, significance)

    # candidates per restart: its start, its best hard state during training, its final state
    stages = (
        (init.log_weights, init.means, init.scale_tril),
        (trained.best_log_weights, trained.best_means, trained.best_scale_tril),
        (trained.log_weights, trained.means, trained.scale_tril),
    )
    candidates = [tuple(a[r] for a in st) for r in range(n_restarts) for st in stages]
    if process_index is not None:  # the likelihood's Z of every candidate's hard bins in one batched fit
        edge_sets = [_hard_1d(*c, events, cells, n_components, lo, hi, rule).edges for c in candidates]
        events_ = (scores, weights, process_index, theory)
        z_stage = _likelihood_of_edge_sets(model, edge_sets, events_, n_components, settings.objective)
    else:
        z_stage = np.array([hard_significance(c) for c in candidates])
    z_stage = z_stage.reshape(n_restarts, len(stages))
    per_restart = z_stage.max(axis=1)
    best = int(np.argmax(per_restart))
    log_w, means, tril = (np.asarray(a[best], dtype=np.float64) for a in stages[int(np.argmax(z_stage[best]))])
    if one_d:
        hard = _hard_1d(log_w, means, tril, events, cells, n_components, lo, hi, rule)
    else:
        hard = _hard_simplex(log_w, means, tril, x, weights, labels, signal_labels, n_components, rule)
    final = hard.bin_map(scores)
    n_bins = len(hard.edges) - 1 if one_d else int(hard.component_bin.max()) + 1
    bins = group_sums(final, weights, labels, signal_labels, n_bins)
    if not np.all(bins.b > 0):  # cannot happen after merging while the total background is positive
        raise ValueError("a final bin has no background")
    z_sig = signal_significances(bins.s, bins.b, bins.b_sumw2, significance)
    notes = (
        [f"K={n_components} requested, {hard.n_effective} effective bins (components without events dropped)"]
        if hard.n_effective < n_components
        else []
    )
    return GMMBinningResult(
        n_components=n_components,
        n_effective=hard.n_effective,
        n_bins=n_bins,
        edges=hard.edges,
        bin_map=hard.bin_map,
        signal_labels=signal_labels,
        combination=combination,
        significance=combine_significances(z_sig, combination),
        signal_significance=z_sig,
        bins=bins,
        group_yields=yields_with_errors(final, weights, labels, n_bins),
        means=means,
        scale_tril=tril,
        weights=np.exp(log_w),
        component_soft=_soft_yields(cells, log_w, means, tril, float(settings.temperatures()[-1])),
        component_hard=hard.component_hard,
        component_bin=hard.component_bin,
        history={k: (v[:, best] if v.ndim == 2 else v) for k, v in trained.history.items()},
        restart_significance=per_restart,
        chosen_restart=best,
        warnings=notes + hard.notes,
        wall_time=time.perf_counter() - start,
        rule=rule,
        settings=settings,
        seed=seed,
        n_cells=len(cells.points),
        image=hard.image,
        likelihood_significance=float(z_stage.max()) if settings.objective == "discovery" else None,
        likelihood_limit=1.0 / float(z_stage.max()) if settings.objective == "limit" else None,
    )  # fmt: skip


def _inner(edges: np.ndarray | None) -> np.ndarray | tuple:
    """The inner edges of ``edges`` (none for None)."""
    return () if edges is None else np.asarray(edges, dtype=np.float64)[1:-1]


def _process_index(likelihood: LikelihoodModel | None, processes, one_d: bool, n: int) -> np.ndarray:
    """Each event's index into ``likelihood.processes`` (n,); an error naming what is missing."""
    if not one_d:
        raise ValueError("the mixture's likelihood objectives (gmm_likelihood, gmm_limit) need 1-D scores")
    if likelihood is None or processes is None:
        raise ValueError(
            "the mixture's likelihood objectives (gmm_likelihood, gmm_limit) need the likelihood and each event's process"
        )
    processes = np.asarray(processes).astype(str)
    if processes.shape != (n,):
        raise ValueError(f"processes must have one name per event ({n}), got shape {processes.shape}")
    unknown = sorted(set(processes) - set(likelihood.processes))
    if unknown:
        raise ValueError(f"processes {unknown} are not in the likelihood's {list(likelihood.processes)}")
    names, inverse = np.unique(processes, return_inverse=True)
    return np.array([likelihood.processes.index(name) for name in names], dtype=np.int64)[inverse]


def _likelihood_of_edge_sets(likelihood: LikelihoodModel, edge_sets, events: tuple, n_slots: int,
                             objective: str = "discovery") -> np.ndarray:  # fmt: skip
    """The likelihood's discovery Z (``objective`` discovery) or 1 / its median expected CLs
    limit (``limit``) of each set of 1-D bins in ``edge_sets``, (len(edge_sets),), in one batched fit: each set's bins padded with empty ones to ``n_slots`` (an empty bin adds
    nothing to the deviance and has no free gamma), so that the fit is compiled once per number
    of slots. ``events``: scores, weights, index of the process and the theory (its
    :class:`phenoflow.binning.gmm.theory.ShiftRows` and member weights (n, M), or None), whose
    per-process yields, sums of w^2 and members' yields fill the bins."""
    from phenoflow.binning.gmm.limit import median_limit
    from phenoflow.binning.gmm.profile import discovery_significance
    from phenoflow.binning.gmm.theory import soft_shifts

    scores, weights, process_index, theory = events
    n_proc = len(likelihood.processes)
    members = np.zeros((len(scores), 0)) if theory is None else theory[1]
    y = np.zeros((len(edge_sets), n_proc, n_slots))
    w2 = np.zeros_like(y)
    m = np.zeros((len(edge_sets), members.shape[1], n_slots))
    for i, edges in enumerate(edge_sets):
        bins = bin_index(scores, np.asarray(edges, dtype=np.float64))
        ok, n_bins = bins >= 0, len(edges) - 1
        if n_bins > n_slots:
            raise ValueError(f"{n_bins} bins for {n_slots} slots")
        index = process_index[ok] * n_bins + bins[ok]
        for out, power in ((y, 1), (w2, 2)):
            sums = np.bincount(index, weights=weights[ok] ** power, minlength=n_proc * n_bins)
            out[i, :, :n_bins] = sums.reshape(n_proc, n_bins)
        for j, column in enumerate(members.T):
            m[i, j, :n_bins] = np.bincount(bins[ok], weights=column[ok], minlength=n_bins)
    up = down = None
    if theory is not None:
        y = np.clip(y, 0.0, None)  # as the inference stage floors the nominal yields
        up, down = soft_shifts(theory[0], y, m)
    if objective == "limit":
        return 1.0 / np.asarray(median_limit(likelihood, y, w2, up, down))
    return np.asarray(discovery_significance(likelihood, y, w2, up, down, iterations=20)[0])


def _likelihood_of_edges(likelihood: LikelihoodModel, edges, scores, weights, process_index, theory=None) -> float:
    """The likelihood's discovery Z of the 1-D bins ``edges`` (per-process yields of the events;
    ``theory`` as :func:`_likelihood_of_edge_sets` takes it)."""
    events = (scores, weights, process_index, theory)
    return float(_likelihood_of_edge_sets(likelihood, [edges], events, len(edges) - 1)[0])
