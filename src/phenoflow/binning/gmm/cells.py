"""The events summed into fine cells, the mixture's log-density on points, and the restarts'
starting mixtures (1-D: signal quantiles and exact optima on coarse grids; n-D: populated cells).
See :mod:`phenoflow.binning.gmm` for the method."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from phenoflow.binning import simplex
from phenoflow.binning.gmm.settings import GMMSettings
from phenoflow.binning.rule import BinRule, BinYields, bin_index, group_sums

#: Coarse grids of the exact-optimum starts, in units of ``n_coarse`` cells (1-D, one signal)
COARSE_GRIDS = (1.0, 1.5, 2.0)
_SCALE_FLOOR = 1e-9  # smallest Gaussian width (score units)


@dataclass(frozen=True)
class FineCells:
    """Events summed into fine cells: ``points`` (m, d) MC-event centroid of each cell in the
    mixture coordinates, ``yields`` per cell, and ``cell`` (n,) of every event (-1 outside). In
    1-D the cells are in increasing score and ``low`` / ``high`` (m,) hold each cell's smallest
    and largest score."""

    points: np.ndarray
    yields: BinYields
    cell: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None


def fine_cells(
    x: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    signal_labels: Sequence[int],
    n_fine: int,
    lo: float = 0.0,
    hi: float = 1.0,
    cuts: Sequence[float] = (),
) -> FineCells:
    """Sum events into fine cells. ``x``: 1-D scores (n,) -> ``n_fine`` bins over [lo, hi] at
    quantiles of the MC-event count (ties merged, events outside skipped), also cut at ``cuts``
    (so that no cell straddles one of these edges); free simplex coordinates (n, d) -> populated
    cells of a grid of ``n_fine`` divisions per axis."""
    if x.ndim == 1:
        inside = (x >= lo) & (x <= hi)
        if not inside.any():
            raise ValueError(f"no event has a score in [{lo}, {hi}]")
        q = np.quantile(x[inside], np.linspace(0.0, 1.0, n_fine + 1))
        cuts = np.asarray(cuts, dtype=np.float64)
        cell = bin_index(x, np.unique(np.r_[lo, q, cuts[(cuts > lo) & (cuts < hi)], hi]))
        _, cell[inside] = np.unique(cell[inside], return_inverse=True)  # populated bins only
        m = int(cell.max()) + 1
        pts = x[:, None]
    else:
        cell, m = simplex.grid_cells(x, n_fine)
        pts = x
    ok = cell >= 0
    n = np.bincount(cell[ok], minlength=m)
    centroid = np.stack([np.bincount(cell[ok], weights=p, minlength=m) for p in pts[ok].T], axis=1) / n[:, None]
    low = high = None
    if x.ndim == 1:
        low, high = np.full(m, np.inf), np.full(m, -np.inf)
        np.minimum.at(low, cell[ok], x[ok])
        np.maximum.at(high, cell[ok], x[ok])
    return FineCells(centroid, group_sums(cell, weights, labels, signal_labels, m), cell, low, high)


def log_joint(
    x: np.ndarray, log_weights: np.ndarray, means: np.ndarray, scale_tril: np.ndarray, chunk: int = 1 << 16
) -> np.ndarray:
    """log pi_k + log N(x | mu_k, L_k L_k^T) for points ``x`` (n, d): shape (n, K).

    ``log_weights`` (K,), ``means`` (K, d), ``scale_tril`` (K, d, d) lower-triangular.
    """
    inv = np.linalg.inv(scale_tril)
    d = means.shape[1]
    const = (
        log_weights
        - np.log(np.abs(np.diagonal(scale_tril, axis1=1, axis2=2))).sum(axis=1)
        - 0.5 * d * np.log(2 * np.pi)
    )
    out = np.empty((len(x), len(log_weights)))
    for a in range(0, len(x), chunk):
        z = np.einsum("kij,nkj->nki", inv, x[a : a + chunk, None, :] - means[None])
        out[a : a + chunk] = const - 0.5 * np.sum(z**2, axis=2)
    return out


@dataclass(frozen=True)
class _Init:
    log_weights: np.ndarray  # (R, K)
    means: np.ndarray  # (R, K, d)
    scale_tril: np.ndarray  # (R, K, d, d)


def _mixture_from_edges(edges: np.ndarray, k: int, exact: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 1-D mixture of ``k`` components whose argmax intervals are exactly the bins of
    ``edges``: means at the centres, sigmas the half widths, pi proportional to sigma. With
    fewer bins than ``k`` the widest are split in halves, or, if ``exact``, the extra components
    copy the last bin's with e^-50 of its weight (they win nowhere, and their gradients vanish).
    Returns unnormalised log pi, means and sigmas, (k,) each."""
    n_dead = k - (len(edges) - 1) if exact else 0
    while len(edges) - 1 < k - n_dead:  # ties or fewer bins: split the widest bins
        i = int(np.argmax(np.diff(edges)))
        edges = np.insert(edges, i + 1, 0.5 * (edges[i] + edges[i + 1]))
    half = np.maximum(0.5 * np.diff(edges), 10 * _SCALE_FLOOR)
    log_w, mean = np.log(half), 0.5 * (edges[:-1] + edges[1:])
    dead = np.arange(n_dead)
    return np.r_[log_w, log_w[-1] - 50.0 + 0 * dead], np.r_[mean, mean[-1] + 0 * dead], np.r_[half, half[-1] + 0 * dead]


def _init_1d(
    rng: np.random.Generator,
    x: np.ndarray,
    w: np.ndarray,
    k: int,
    n_restarts: int,
    lo: float,
    hi: float,
    start_edges: Sequence[np.ndarray] = (),
    exact_edges: np.ndarray | None = None,
) -> _Init:
    """Starting edges at signal quantiles: the signal fraction above edge j is (1 - u_j)^p, p
    spread from 1 (restart 0: equal-signal quantiles, u_j = j/K) to 3 over the restarts (purest
    bins increasingly narrow, as significance-optimal bins tend to be), u_j jittered by a
    Dirichlet(10) partition for restarts >= 1. ``start_edges`` (e.g. exact optima on coarse
    grids, :func:`coarse_optimum_edges`) replace restarts 1, 2, ... (restart 0 too if there are
    too few restarts). ``exact_edges`` (e.g. the exact DP optimum of the events) replace the last
    restart, their mixture keeping exactly their bins however few (:func:`_mixture_from_edges`
    ``exact``). Each set of edges becomes a mixture whose argmax intervals are exactly those
    edges."""
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.maximum.accumulate(np.cumsum(w[order]) / w.sum())  # monotone even with w < 0
    if exact_edges is not None:
        start_edges = [*start_edges, exact_edges]
    out = []
    for r in range(n_restarts):
        u = np.arange(1, k) / k if r == 0 else np.cumsum(rng.dirichlet(np.full(k, 10.0)))[:-1]
        p = 1.0 + 2.0 * r / max(n_restarts - 1, 1)
        frac = 1.0 - (1.0 - u) ** p
        edges = np.unique(np.r_[lo, np.interp(frac, cw, xs), hi])
        given = r - 1 + max(len(start_edges) + 1 - n_restarts, 0)
        if 0 <= given < len(start_edges):
            edges = np.asarray(start_edges[given], dtype=np.float64)
        exact = exact_edges is not None and given == len(start_edges) - 1
        out.append(_mixture_from_edges(edges, k, exact))
    lw, mu, sig = (np.stack(v) for v in zip(*out))
    return _Init(lw - np.log(np.exp(lw).sum(axis=1, keepdims=True)), mu[..., None], sig[..., None, None])


def coarse_optimum_edges(
    cells: FineCells,
    k: int,
    n_coarse: int,
    lo: float,
    hi: float,
    rule: BinRule = BinRule(),
) -> np.ndarray | None:
    """Edges of the exact optimum (:func:`phenoflow.binning.optimal.optimal_partition`) over a
    coarse grid of the 1-D fine cells, a start for the mixture: the cells are grouped into about
    ``n_coarse`` runs of equal share of half the MC events plus half the signal yield (so the
    grid resolves both where the MC knowledge is and the signal-rich tail), each edge placed
    midway between the last event of one run and the first of the next. One signal only; None if
    no partition obeys ``rule``.
    """
    from phenoflow.binning.optimal import optimal_partition

    y = cells.yields
    if y.s.shape[0] != 1 or len(y.b) < 2:
        return None
    s = np.clip(y.s[0], 0.0, None)
    share = 0.5 * y.count / y.count.sum() + (0.5 * s / s.sum() if s.sum() > 0 else 0.5 * y.count / y.count.sum())
    group = np.minimum((np.cumsum(share) - 0.5 * share) * n_coarse, n_coarse - 1).astype(np.int64)
    _, group = np.unique(group, return_inverse=True)
    n_groups = int(group.max()) + 1
    coarse = y.merged(group, n_groups)
    try:
        part = optimal_partition(coarse.s[0], coarse.b, coarse.b_sumw2, k, rule, coarse.b_events)
    except ValueError:
        return None
    ends = np.flatnonzero(np.diff(group))  # last fine cell of each run but the last
    cut = ends[part.indices[1:-1] - 1]
    return np.r_[lo, 0.5 * (cells.high[cut] + cells.low[cut + 1]), hi]


def _init_simplex(rng: np.random.Generator, cells: FineCells, k: int, n_restarts: int) -> _Init:
    """Means at K distinct populated cells drawn with probability half by signal yield, half by
    MC events; isotropic widths of half the linear size of a simplex share 1/K; equal weights."""
    d = cells.points.shape[1]
    p = 0.5 * cells.yields.s.sum(axis=0) / cells.yields.s.sum() + 0.5 * cells.yields.count / cells.yields.count.sum()
    p = np.clip(p, 0, None) / np.clip(p, 0, None).sum()
    n_pick = min(k, int(np.count_nonzero(p)))
    sigma = 0.5 * (1.0 / (np.prod(np.arange(1, d + 1)) * k)) ** (1.0 / d)
    means = []
    for _ in range(n_restarts):
        pick = rng.choice(len(p), size=n_pick, replace=False, p=p)
        extra = rng.dirichlet(np.ones(d + 1), size=k - n_pick)[:, :d]
        means.append(np.concatenate([cells.points[pick], extra]))
    tril = np.broadcast_to(sigma * np.eye(d), (n_restarts, k, d, d)).copy()
    return _Init(np.full((n_restarts, k), -np.log(k)), np.stack(means), tril)


def _control_start(cells: FineCells, background: tuple, k: int, n_coarse: int, lo: float, hi: float,
                   rule: BinRule) -> np.ndarray | None:  # fmt: skip
    """A start with a control bin (the likelihood objectives): the coarse exact optimum of K - 1
    bins with one more edge at the background's weighted median below its lowest edge, so that
    the lowest bin is split into a background-only control and the rest. A per-bin objective
    never asks for such a bin, and a profiled likelihood can gain much from one (a background's
    normalisation measured where there is no signal) behind a barrier that gradients do not
    cross (moving an edge a little into a region of another background first costs Z)."""
    edges = coarse_optimum_edges(cells, k - 1, n_coarse, lo, hi, rule)
    if edges is None:
        return None
    x, w = background
    below = (x >= lo) & (x < edges[1])
    if not np.any(below) or w[below].sum() <= 0:
        return None
    order = np.argsort(x[below])
    cumulative = np.cumsum(w[below][order])
    median = x[below][order][np.searchsorted(cumulative, 0.5 * cumulative[-1])]
    return np.unique(np.r_[edges[0], median, edges[1:]]) if lo < median < edges[1] else None


def starts(cells: FineCells, events: tuple, k: int, rule: BinRule, settings: GMMSettings, seed: int,
           exact_edges: np.ndarray | None = None) -> _Init:  # fmt: skip
    """The restarts' starting mixtures from a Generator seeded by ``seed``: 1-D at signal
    quantiles and at exact optima on coarse grids (:func:`coarse_optimum_edges`, under ``rule``),
    with a likelihood objective also one with a control bin (:func:`_control_start`) and, the
    last restart, the bins ``exact_edges`` (the DP optimum of the events: the cells must not
    straddle its edges, :func:`fine_cells` ``cuts``); n-D at populated cells. ``events``:
    scores, weights and whether each is a signal event."""
    rng = np.random.default_rng(seed)
    scores, weights, signal = events
    if np.ndim(scores) != 1:
        return _init_simplex(rng, cells, k, settings.n_restarts)
    lo, hi = settings.score_range
    sig = signal & (scores >= lo) & (scores <= hi)
    dp_start = [
        coarse_optimum_edges(cells, k, int(settings.n_coarse * f), lo, hi, rule)
        for f in (COARSE_GRIDS if settings.n_coarse > 0 else ())
    ]
    dp_start = [e for e in dp_start if e is not None]
    if settings.on_likelihood and settings.n_coarse > 0 and k > 1:
        control = _control_start(cells, (scores[~signal], weights[~signal]), k, settings.n_coarse, lo, hi, rule)
        dp_start += [control] if control is not None else []
    return _init_1d(rng, scores[sig], weights[sig], k, settings.n_restarts, lo, hi, dp_start, exact_edges)
