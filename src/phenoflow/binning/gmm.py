"""Bins of classifier outputs optimised by a Gaussian mixture (GATO-style), in TensorFlow Probability.

The score space (1-D scores in [lo, hi], or softmax vectors on the simplex in their C-1 free
coordinates, see :mod:`phenoflow.binning.simplex`) is partitioned by a mixture of K Gaussians: an event
belongs to the component k maximising log N(x | mu_k, Sigma_k) + log pi_k. Training replaces this
hard assignment by gamma_k = softmax_k((log N + log pi) / T), which makes the per-component yields
and with them the combined significance Z = sqrt(sum_k Z(s_k, b_k)^2) differentiable (Z the
plain Asimov Z_A, or Cowan's Z with each soft bin's background uncertainty sigma_b^2 =
(rel b_k)^2 + sum w^2_k from its soft sum of w^2, see :func:`significance_squared_with_uncertainty`);
the temperature T is annealed towards a hard assignment while Adam maximises Z. The bins are
judged like every other method's, by :mod:`phenoflow.binning.rule` (significances, yields, merging
under the rule); this module adds the mixture and its training with a differentiable
significance.

Design choices:

* Cost independent of the event count. Events are first summed into fine cells: in 1-D
  ``n_fine`` bins at quantiles of the MC-event count of the scores (so resolution sits where the
  events, and with them the MC knowledge of the yields, are; the GATO toy puts most of its
  significance in the last 0.01 of the score, which equal-width bins would not resolve); in n-D
  the populated cells of a grid of ``n_fine`` divisions per free coordinate. The loss sees only
  per-cell sums: signal yield per signal, background yield and background sum of w^2.
* The mixture is evaluated at one point per cell, the centroid of its MC events, rather than
  integrated over the cell (the 1-D CDF alternative). The T -> 0 limit of the soft assignment is
  then exactly the hard argmax rule at that point, so soft and hard yields differ only in the
  cells a boundary cuts; bin-integrated masses pi_k (Phi_k(e_j+1) - Phi_k(e_j)) would instead be
  maximised by a different component than the density near a boundary (a bias that survives
  T -> 0), need log-differences of CDFs that underflow in the tails, and have no cheap n-D form.
* Parameters: mixture logits; means through a sigmoid onto [lo, hi] (1-D) or a softmax onto the
  simplex (n-D, C-1 free logits against a fixed 0); scales through ``tfp.bijectors.FillScaleTriL``
  (softplus diagonal; a 1x1 factor, i.e. a positive width, in 1-D). The Gaussian log-density is
  written out with a triangular solve, since ``tfd.MultivariateNormalTriL.log_prob`` broadcasts
  the scales over all cells and is an order of magnitude slower here.
* Everything runs in one compiled ``tf.function`` holding a ``tf.while_loop`` over the steps, with
  Adam written out (Kingma & Ba, default betas); the temperature and the learning rate are
  ``tf.Variable``s assigned at every step from their schedules, so annealing reaches the compiled
  graph. The compiled loop is memoised per (dimension, mean map, combination, whether Z has a
  background uncertainty) and serves fits of
  any size; it computes in float32 (twice as fast as float64 here, and ample for per-cell sums and
  Z), while every reported number is recomputed in float64 from the events. ``n_restarts``
  independent starts are trained side by side as a batch dimension (1-D: edges at signal
  quantiles, from equal-signal ones to increasingly top-heavy ones, and, with one signal,
  restarts 1-3 at the exact optimum on coarse grids of ``n_coarse`` x (1, 1.5, 2) runs of fine
  cells, :func:`coarse_optimum_edges`; n-D: means at random populated cells), all from a numpy
  Generator seeded by ``seed``. Same seed, same inputs -> identical result.
* The rule (``min_background`` for b_k, ``max_rel_uncertainty`` for sqrt(sum w^2)_k / b_k of the
  background, ``min_mc_events`` for its number of MC events n_k) acts three ways. (1) The soft
  Z is taken at :func:`rule_background`, the background each bin would need to obey the rule,
  so breaking it gains nothing. (2) Squared hinge penalties, relative to Z and with a safety
  ``margin``, bounded by 1 per bin (:func:`rule_penalty`: the uncertainty rule as an effective
  MC count b^2/w2 >= 1/max_rel^2, which stays finite where a soft bin holds a fraction of one
  heavy MC event, and the soft count sum_cells gamma n_cell >= min_mc_events, both weighted by
  ``penalty_uncertainty``); non-finite gradients are zeroed. (3) Every 5 steps the hard
  (argmax) assignment of the cells is scored: its Z if every bin (1-D: every interval of one
  winner, at most K of them) obeys the rule; each restart keeps its best such state. The result is the best hard Z under the rule, on the
  events, among every restart's start, best and final state, and its bins are checked and
  merged under the same rule (1-D: :func:`phenoflow.binning.rule.merge_low_background`
  for the background floor, then :func:`phenoflow.binning.rule.merge_bins`, as in
  :func:`phenoflow.binning.rule.apply_rule_1d`; n-D: :func:`phenoflow.binning.rule.merge_bins` with
  touching bins). Why: on real scores with few MC events of large weights the soft relaxation
  alone ended 3-80 % below the exact optimum, or in NaN (docs/benchmarks.md, issue 16).
* Signed event weights (NLO generators) enter every yield with their sign: cell sums, soft
  yields (gamma-weighted sums of the cells) and hard yields; sums of w^2 are positive, and an
  event of negative weight counts as one MC event like any other. A soft bin whose background
  is <= 0 has its Z taken at the rule's floor (or at 1e-12 without a rule: large), and the
  penalties push it back (:func:`rule_penalty`); a hard bin with b <= 0 is always merged by
  the rule. The 1-D starting edges use the running maximum of the signed signal distribution
  function.
* Several signals: Z_i per signal with the other signals counted as background, combined by
  ``combination`` (:data:`phenoflow.binning.rule.COMBINATIONS`); "minimum" is a smooth minimum
  -tau logsumexp(-Z_i / tau), tau = 2% of the mean Z_i, in the loss and the exact one in results.
  The MC-uncertainty constraint concerns the true background only.
* Results come from the hard assignment evaluated on the events themselves. In 1-D the bins are
  the runs of fine cells with one winning component (exactly what training scores as its hard
  state), each edge midway between the last event of one run and the first of the next, usable
  with :func:`phenoflow.binning.rule.binned_yields`; in n-D a
  :class:`BinMap` assigns any score vector to a bin.

TensorFlow is imported only when a mixture is trained.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from phenoflow.binning import simplex
from phenoflow.binning.rule import (
    COMBINATIONS,
    BinYields,
    SortedEvents,
    bin_index,
    combine_significances,
    group_sums,
    merge_bins,
    merge_edges,
    rule_note,
    signal_significances,
    yields_with_errors,
)
from phenoflow.evaluation.metrics import ASIMOV, Significance

SCHEDULES = ("constant", "cosine", "exponential")
#: Coarse grids of the exact-optimum starts, in units of ``n_coarse`` cells (1-D, one signal)
COARSE_GRIDS = (1.0, 1.5, 2.0)
#: Default fine cells: 1-D quantile cells (with fewer distinct scores, one cell per score, so
#: that every cut between two events is open to the mixture), and grid divisions per free
#: simplex coordinate
FINE_CELLS_1D, FINE_DIVISIONS_SIMPLEX = 2000, 100
_SCALE_FLOOR = 1e-9  # smallest Gaussian width (score units)
_HARD_SLACK = 1e-5  # float32 training's slack on the rule (RULE_TOLERANCE; sums of ~1e3 cells)
_B_FLOOR = 1e-12  # background floor inside the loss (expected events), keeps Z_A finite as b -> 0
_N_FLOOR = 1e-6  # MC-event floor of a soft bin's mean weight b / n in rule_background


# --- schedules and the differentiable significance ------------------------------------------------


def schedule(kind: str, start: float, end: float, n_steps: int) -> np.ndarray:
    """Values at steps 0 .. n_steps-1 going from ``start`` to ``end``, shape (n_steps,).

    "constant": ``start`` throughout; "cosine": half a cosine from start to end; "exponential":
    geometric interpolation (start and end must be positive).
    """
    t = np.arange(n_steps) / max(n_steps - 1, 1)
    if kind == "constant":
        return np.full(n_steps, float(start))
    if kind == "cosine":
        return end + (start - end) * 0.5 * (1.0 + np.cos(np.pi * t))
    if kind == "exponential":
        if start <= 0 or end <= 0:
            raise ValueError(f"an exponential schedule needs positive start and end, got {start}, {end}")
        return start * (end / start) ** t
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got '{kind}'")


_SERIES_BELOW = 1e-2  # log1p(x)/x by its series below this x (remainder x^6/7 < 2e-13)


def significance_squared_with_uncertainty(s, b, variance):
    """Cowan's Z^2 of signal ``s`` over background ``b`` > 0 known to within sigma_b^2 =
    ``variance`` >= 0 (TensorFlow tensors, broadcasting; float32 or float64), the square of
    :func:`phenoflow.evaluation.metrics.asimov_significance_with_uncertainty`, written without
    any division by the variance:

        Z^2 = 2 ((s+b) log1p(s b / (b (b+v) + s v)) - s b / (b+v) * log1p(x) / x),  x = v s / (b (b+v)),

    (the formula's (b^2/v) log1p(x) is s b/(b+v) log1p(x)/x). At v = 0 it is exactly Z_A^2, and
    log1p(x)/x is its series 1 - x/2 + ... - x^5/6 below x = 0.01, so values and gradients stay
    finite as v -> 0 (and fall smoothly, like 1/v, as v -> inf). s < 0 counts as 0; Z^2 >= 0.
    """
    import tensorflow as tf

    s = tf.maximum(s, 0.0)
    b_v = b + variance
    first = (s + b) * tf.math.log1p(s * b / (b * b_v + s * variance))
    x = variance * s / (b * b_v)
    small = x < _SERIES_BELOW
    x_small = tf.where(small, x, tf.zeros_like(x))  # both branches finite: no NaN in the gradients
    x_large = tf.where(small, tf.ones_like(x), x)
    series = 1.0 + x_small * (-1 / 2 + x_small * (1 / 3 + x_small * (-1 / 4 + x_small * (1 / 5 - x_small / 6))))
    ratio = tf.where(small, series, tf.math.log1p(x_large) / x_large)
    return tf.maximum(2.0 * (first - s * b / b_v * ratio), 0.0)


def differentiable_significance(s, b, combination: str = "quadrature", w2=None, uncertainty=None):
    """Differentiable combined significance of soft yields (TensorFlow tensors).

    ``s``: signal yields (..., n_signals, n_bins); ``b``: background yields (..., n_bins).
    Returns (Z (...,), Z_i (..., n_signals)), Z_i as in :func:`phenoflow.binning.rule.signal_significances`;
    float32 or float64. Without ``uncertainty`` Z is the plain Asimov Z_A; with ``uncertainty`` =
    (rel, mc) (scalars or tensors) it is Cowan's Z with sigma_b^2 = (rel b')^2 + mc sum w^2 per
    bin, b' the background signal i sees and ``w2`` (..., n_bins) the background's soft sum of
    w^2 (mc = 1 with the MC statistics, 0 without). Safe as b -> 0: the background of each bin is
    floored at 1e-12 events, so values and gradients stay finite. "minimum" is smooth here:
    -tau logsumexp(-Z_i / tau), tau = 2% of the mean Z_i (below the exact minimum by at most tau
    ln n_signals).
    """
    import tensorflow as tf

    others = tf.maximum(b[..., None, :] + tf.reduce_sum(s, axis=-2, keepdims=True) - s, _B_FLOOR)
    sp = tf.maximum(s, 0.0)
    if uncertainty is None:
        za2 = tf.maximum(2.0 * ((sp + others) * tf.math.log1p(sp / others) - sp), 0.0)
    else:
        rel, mc = uncertainty
        variance = (rel * others) ** 2 + mc * tf.maximum(w2, 0.0)[..., None, :]
        za2 = significance_squared_with_uncertainty(sp, others, variance)
    z_sig = tf.sqrt(tf.reduce_sum(za2, axis=-1) + 1e-30)
    if combination == "quadrature":
        z = tf.sqrt(tf.reduce_sum(z_sig**2, axis=-1))
    elif combination == "geometric_mean":
        z = tf.exp(tf.reduce_mean(tf.math.log(z_sig), axis=-1))
    elif combination == "minimum":
        tau = 0.02 * tf.stop_gradient(tf.reduce_mean(z_sig, axis=-1, keepdims=True)) + 1e-12
        z = -tau[..., 0] * tf.reduce_logsumexp(-z_sig / tau, axis=-1)
    else:
        raise ValueError(f"combination must be one of {', '.join(COMBINATIONS)}, got '{combination}'")
    return z, z_sig


def rule_penalty(b, w2, rule, n=None):
    """Squared-hinge penalty of soft bins against the rule (TensorFlow tensors), shape (...,).

    ``b``, ``w2``, ``n``: background yield, sum of w^2 and (soft) number of background MC
    events per bin (..., n_bins; ``n`` may be None when lambda_n = 0); ``rule`` = (min_b,
    max_rel, min_n, lambda_b, lambda_u, lambda_n, margin). Returns lambda_b sum_k relu(1 - b_k /
    (min_b (1 + margin)))^2 + lambda_u sum_k relu(1 - n_eff_k max_rel^2 / (1 + margin)^2)^2 +
    lambda_n sum_k relu(1 - n_k / (min_n (1 + margin)))^2 with n_eff_k = b_k^2 / w2_k the
    effective number of MC events of the bin (b_k < 0 counts as 0): the rule sqrt(w2_k) / b_k <=
    max_rel is n_eff_k >= 1 / max_rel^2. The hinges are bounded by 1 for b, n >= 0, so a soft bin
    holding a small fraction gamma of one MC event (relative uncertainty 1/sqrt(gamma), which a
    hinge on sqrt(w2)/b would square into 1/gamma) cannot blow the loss and its gradients up.
    With signed weights a soft bin's b can be <= 0: the background hinge keeps growing
    (linearly in -b, so with a gradient pulling b up).
    """
    import tensorflow as tf

    min_b, max_rel, min_n, lam_b, lam_u, lam_n, margin = rule
    short = tf.nn.relu(1.0 - b / (min_b * (1.0 + margin)))
    bp = tf.maximum(b, 0.0)
    n_eff = bp * bp / tf.maximum(w2, 1e-30)
    few = tf.nn.relu(1.0 - n_eff * max_rel**2 / (1.0 + margin) ** 2)
    penalty = lam_b * tf.reduce_sum(short**2, axis=-1) + lam_u * tf.reduce_sum(few**2, axis=-1)
    if n is None:
        return penalty
    lacking = tf.nn.relu(1.0 - n / (min_n * (1.0 + margin)))
    return penalty + lam_n * tf.reduce_sum(lacking**2, axis=-1)


def rule_background(b, b_rule, w2_rule, min_background, inv_rel2, n_rule=None, min_events=0.0):
    """The background a bin would need to obey the rule, max(b, min_background,
    w2 / (max_rel^2 b'), min_events b' / n) (TensorFlow tensors, broadcasting): ``b`` the
    background Z is taken at, ``b_rule`` = b', ``w2_rule`` and ``n_rule`` = n (background MC
    events; may be None without ``min_events``) the yields the rule is judged on (the soft yields
    themselves in training), ``inv_rel2`` = 1 / max_rel^2 (0 without that constraint). It is b
    itself where the rule holds, more where it does not: the mixture's objective takes Z at this
    background, so a bin gains nothing by breaking the rule. A bin with one MC event where the
    rule asks for four (through max_rel, or ``min_events``) counts as if it had that many events'
    background at its mean weight, and widening it to take them in (as a bin obeying the rule
    must) costs no significance. w2 / b' and b' / n are taken as 0 where b' <= 0 (the floor
    min_background, or the 1e-12 floor of the significance, takes over), and n is floored at
    1e-6 events (a component holding less than that gains nothing worth a NaN gradient).
    """
    import tensorflow as tf

    positive = tf.where(b_rule > 0, b_rule, tf.zeros_like(b_rule))
    needed = tf.maximum(tf.maximum(b, min_background), inv_rel2 * tf.math.divide_no_nan(w2_rule, positive))
    if n_rule is None:
        return needed
    return tf.maximum(needed, min_events * positive / tf.maximum(n_rule, _N_FLOOR))


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
) -> FineCells:
    """Sum events into fine cells. ``x``: 1-D scores (n,) -> ``n_fine`` bins over [lo, hi] at
    quantiles of the MC-event count (ties merged, events outside skipped); free simplex
    coordinates (n, d) -> populated cells of a grid of ``n_fine`` divisions per axis."""
    if x.ndim == 1:
        inside = (x >= lo) & (x <= hi)
        if not inside.any():
            raise ValueError(f"no event has a score in [{lo}, {hi}]")
        q = np.quantile(x[inside], np.linspace(0.0, 1.0, n_fine + 1))
        cell = bin_index(x, np.unique(np.r_[lo, q, hi]))
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


def _mixture_from_edges(edges: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 1-D mixture of ``k`` components whose argmax intervals are exactly the bins of
    ``edges`` (fewer bins: the widest split in halves): means at the centres, sigmas the half
    widths, pi proportional to sigma. Returns unnormalised log pi, means and sigmas, (k,) each."""
    while len(edges) - 1 < k:  # ties or fewer bins: split the widest bins
        i = int(np.argmax(np.diff(edges)))
        edges = np.insert(edges, i + 1, 0.5 * (edges[i] + edges[i + 1]))
    half = np.maximum(0.5 * np.diff(edges), 10 * _SCALE_FLOOR)
    return np.log(half), 0.5 * (edges[:-1] + edges[1:]), half


def _init_1d(
    rng: np.random.Generator,
    x: np.ndarray,
    w: np.ndarray,
    k: int,
    n_restarts: int,
    lo: float,
    hi: float,
    start_edges: Sequence[np.ndarray] = (),
) -> _Init:
    """Starting edges at signal quantiles: the signal fraction above edge j is (1 - u_j)^p, p
    spread from 1 (restart 0: equal-signal quantiles, u_j = j/K) to 3 over the restarts (purest
    bins increasingly narrow, as significance-optimal bins tend to be), u_j jittered by a
    Dirichlet(10) partition for restarts >= 1. ``start_edges`` (e.g. exact optima on coarse
    grids, :func:`coarse_optimum_edges`) replace restarts 1, 2, ... (restart 0 too if there are
    too few restarts). Each set of edges becomes a mixture whose argmax intervals are exactly those
    edges (:func:`_mixture_from_edges`)."""
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.maximum.accumulate(np.cumsum(w[order]) / w.sum())  # monotone even with w < 0
    out = []
    for r in range(n_restarts):
        u = np.arange(1, k) / k if r == 0 else np.cumsum(rng.dirichlet(np.full(k, 10.0)))[:-1]
        p = 1.0 + 2.0 * r / max(n_restarts - 1, 1)
        frac = 1.0 - (1.0 - u) ** p
        edges = np.unique(np.r_[lo, np.interp(frac, cw, xs), hi])
        given = r - 1 + max(len(start_edges) + 1 - n_restarts, 0)
        if 0 <= given < len(start_edges):
            edges = np.asarray(start_edges[given], dtype=np.float64)
        out.append(_mixture_from_edges(edges, k))
    lw, mu, sig = (np.stack(v) for v in zip(*out))
    return _Init(lw - np.log(np.exp(lw).sum(axis=1, keepdims=True)), mu[..., None], sig[..., None, None])


def coarse_optimum_edges(
    cells: FineCells,
    k: int,
    n_coarse: int,
    lo: float,
    hi: float,
    min_background: float = 0.0,
    max_rel_uncertainty: float = np.inf,
    significance: Significance = ASIMOV,
    min_mc_events: float = 0,
) -> np.ndarray | None:
    """Edges of the exact optimum (:func:`phenoflow.binning.optimal.optimal_partition`) over a
    coarse grid of the 1-D fine cells, a start for the mixture: the cells are grouped into about
    ``n_coarse`` runs of equal share of half the MC events plus half the signal yield (so the
    grid resolves both where the MC knowledge is and the signal-rich tail), each edge placed
    midway between the last event of one run and the first of the next. One signal only; None if
    no partition obeys the rule (``min_background``, ``max_rel_uncertainty``, ``min_mc_events``).
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
        rule = (min_background, max_rel_uncertainty, significance, min_mc_events)
        part = optimal_partition(coarse.s[0], coarse.b, coarse.b_sumw2, k, *rule, coarse.b_events)
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


# --- training -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trained:
    log_weights: np.ndarray  # (R, K), after the last step
    means: np.ndarray  # (R, K, d)
    scale_tril: np.ndarray  # (R, K, d, d)
    history: dict[str, np.ndarray]  # name -> (n_steps, R) or (n_steps,)
    best_log_weights: np.ndarray  # the same at each restart's best hard state under the rule
    best_means: np.ndarray
    best_scale_tril: np.ndarray


_ADAM = (0.9, 0.999, 1e-8)
_CHECK_EVERY = 5  # steps between checks of the hard assignment (its best state is kept)  # beta_1, beta_2, epsilon (Kingma & Ba defaults)


@functools.cache
def _trainer(dim: int, interval: bool, combination: str, uncertain: bool = False, counted: bool = False) -> Callable:
    """The compiled training loop for mixtures in ``dim`` coordinates (1-D interval means if
    ``interval``, simplex means otherwise), maximising Cowan's Z if ``uncertain`` (its rel and
    mc come as tensors), else the plain Z_A; with the rule's minimum of MC events in the soft
    objective and penalties if ``counted`` (the hard check applies it always). Memoised so that
    fits of any size share one trace (shapes are relaxed after the first retrace); it holds no
    data, only compiled code."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    real = tf.float32  # twice as fast as float64 on CPU; results are recomputed in float64 from the events
    fill = tfp.bijectors.FillScaleTriL(
        diag_bijector=tfp.bijectors.Softplus(), diag_shift=tf.constant(_SCALE_FLOOR, real)
    )
    beta1, beta2, eps = _ADAM

    def parameters(logits, mean_raw, scale_raw, lo, hi):
        if interval:
            means = lo + (hi - lo) * tf.sigmoid(mean_raw)
        else:
            full = tf.concat([mean_raw, tf.zeros_like(mean_raw[..., :1])], axis=-1)
            means = tf.nn.softmax(full, axis=-1)[..., :-1]
        return tf.nn.log_softmax(logits, axis=-1), means, fill.forward(scale_raw)

    def significance_of(s, b, w2, uncertainty):
        if uncertain:
            return differentiable_significance(s, b, combination, w2, uncertainty)[0]
        return differentiable_significance(s, b, combination)[0]

    def objective(params, data, temperature, rule, bounds, uncertainty):
        x_t, cell_sums, occupancy, lo, hi = data
        log_w, means, tril = parameters(*params, lo, hi)
        # log N at every cell, (R, K, m); tfd.MultivariateNormalTriL.log_prob would broadcast the
        # scales over the cells (an order of magnitude slower), so the density is written out.
        if dim == 1:
            z2 = ((x_t - means) / tril[..., 0]) ** 2
        else:
            z2 = tf.reduce_sum(
                tf.linalg.triangular_solve(tril, x_t[None, None] - means[..., None], lower=True) ** 2, axis=-2
            )
        log_det = tf.reduce_sum(tf.math.log(tf.linalg.diag_part(tril)), axis=-1)
        log_joint_ = -0.5 * z2 - log_det[..., None] - 0.5 * dim * np.log(2 * np.pi) + log_w[..., None]
        gamma = tf.nn.softmax(log_joint_ / temperature, axis=1)  # (R, K, m)
        sums = tf.linalg.matmul(gamma, cell_sums)  # (R, K, n_sig + 3)
        s, b, w2, n = tf.transpose(sums[..., :-3], [0, 2, 1]), sums[..., -3], sums[..., -2], sums[..., -1]
        min_b, inv_rel2, _, min_n = bounds
        n = n if counted else None
        z = significance_of(s, rule_background(b, b, w2, min_b, inv_rel2, n, min_n), w2, uncertainty)
        penalty = rule_penalty(b, w2, rule, n)
        loss = -z + tf.stop_gradient(z) * penalty
        sharp = tf.linalg.matvec(tf.reduce_max(gamma, axis=1), occupancy)
        return loss, z, sharp, log_joint_

    def hard_significance(log_joint_, data, bounds, uncertainty):
        """Z of the hard (argmax) assignment of the cells, (R,), or -1 unless every bin holding
        cells obeys the rule (1-D: every interval of cells with the same winner, at most K of
        them, as the hard result will be judged)."""
        _, cell_sums, occupancy, _, _ = data
        min_b, _, rel2_hard, min_n = bounds
        owner = tf.argmax(log_joint_, axis=1)  # (R, m)
        n_r, m, k = tf.shape(owner)[0], tf.shape(owner)[1], tf.shape(log_joint_)[1]
        if interval:  # cells in increasing score: runs of one winner are the bins
            change = tf.cast(owner[:, 1:] != owner[:, :-1], tf.int32)
            run = tf.concat([tf.zeros([n_r, 1], tf.int32), tf.cumsum(change, axis=1)], axis=1)
            ids, n_ids, few_enough = run, m, run[:, -1] < k
        else:
            ids, n_ids, few_enough = tf.cast(owner, tf.int32), k, tf.ones([n_r], tf.bool)
        flat = tf.reshape(ids + n_ids * tf.range(n_r)[:, None], [-1])
        columns = tf.concat([cell_sums, occupancy[:, None]], axis=1)
        hs = tf.math.unsorted_segment_sum(tf.tile(columns, [n_r, 1]), flat, n_r * n_ids)
        hs = tf.reshape(hs, [n_r, n_ids, -1])
        hb, hw2, hn, used = hs[..., -4], hs[..., -3], hs[..., -2], hs[..., -1] > 0
        legal = (hb > 0) & (hb >= min_b * (1 - _HARD_SLACK)) & (hw2 <= rel2_hard * hb * hb) & (hn >= min_n)
        feasible = tf.reduce_all(legal | ~used, axis=-1) & few_enough
        z_hard = significance_of(
            tf.transpose(hs[..., :-4], [0, 2, 1]), tf.where(used, hb, tf.ones_like(hb)), hw2, uncertainty
        )
        return tf.where(feasible & tf.math.is_finite(z_hard), z_hard, -tf.ones_like(z_hard))

    @tf.function(reduce_retracing=True)
    def train(params, data, rule, bounds, uncertainty, temperature, learning_rate, temperatures, learning_rates):
        n_steps = tf.shape(temperatures)[0]
        arrays = tuple(tf.TensorArray(real, size=n_steps) for _ in range(6))
        zeros = tuple(tf.zeros_like(p) for p in params)
        best = (tuple(params), -2.0 * tf.ones_like(params[0][:, 0]))

        def keep(better, new, old):
            shape = tf.concat([tf.shape(better), tf.ones([tf.rank(new) - 1], tf.int32)], axis=0)
            return tf.where(tf.reshape(better, shape), new, old)

        def body(i, params, m1, m2, best, arrays):
            temperature.assign(temperatures[i])
            learning_rate.assign(learning_rates[i])
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss, z, sharp, log_joint_ = objective(params, data, temperature, rule, bounds, uncertainty)
                total = tf.reduce_sum(loss)  # restarts are independent: their gradients separate
            grads = tape.gradient(total, params)
            z_hard = tf.cond(
                (i % _CHECK_EVERY == 0) | (i == n_steps - 1),
                lambda: hard_significance(tf.stop_gradient(log_joint_), data, bounds, uncertainty),
                lambda: tf.fill(tf.shape(z), tf.constant(np.nan, real)),  # not checked
            )
            grads = tuple(tf.where(tf.math.is_finite(g), g, tf.zeros_like(g)) for g in grads)
            better = z_hard > best[1]  # the best hard state so far, per restart
            best = (tuple(keep(better, p, q) for p, q in zip(params, best[0])), tf.where(better, z_hard, best[1]))
            t = tf.cast(i + 1, real)
            m1 = tuple(beta1 * m + (1 - beta1) * g for m, g in zip(m1, grads))
            m2 = tuple(beta2 * v + (1 - beta2) * g**2 for v, g in zip(m2, grads))
            step = learning_rate * tf.sqrt(1 - beta2**t) / (1 - beta1**t)
            params = tuple(p - step * m / (tf.sqrt(v) + eps) for p, m, v in zip(params, m1, m2))
            values = (loss, z, sharp, z_hard, temperature.read_value(), learning_rate.read_value())
            return i + 1, params, m1, m2, best, tuple(a.write(i, v) for a, v in zip(arrays, values))

        _, params, _, _, best, arrays = tf.while_loop(
            lambda i, *_: i < n_steps, body, (tf.constant(0), tuple(params), zeros, zeros, best, arrays)
        )
        return params, best[0], tuple(a.stack() for a in arrays)

    def run(init: _Init, data, rule, bounds, uncertainty, temperatures, learning_rates, lo, hi):
        if interval:
            frac = np.clip((init.means - lo) / (hi - lo), 1e-12, 1 - 1e-12)
            mean_raw = np.log(frac) - np.log1p(-frac)
        else:
            mu = np.clip(init.means, 1e-9, None)
            mean_raw = np.log(mu) - np.log(np.clip(1.0 - mu.sum(axis=-1, keepdims=True), 1e-9, None))
        params = (
            tf.constant(init.log_weights, real),
            tf.constant(mean_raw, real),
            fill.inverse(tf.constant(init.scale_tril, real)),
        )
        temperature = tf.Variable(temperatures[0], dtype=real, trainable=False, name="temperature")
        learning_rate = tf.Variable(learning_rates[0], dtype=real, trainable=False, name="learning_rate")
        data = tuple(tf.constant(v, real) for v in (*data, lo, hi))
        rule, bounds, uncertainty = (tuple(tf.constant(v, real) for v in c) for c in (rule, bounds, uncertainty))
        final, best, history = train(
            params,
            data,
            rule,
            bounds,
            uncertainty,
            temperature,
            learning_rate,
            tf.constant(temperatures, real),
            tf.constant(learning_rates, real),
        )
        final, best = ([v.numpy() for v in parameters(*p, data[-2], data[-1])] for p in (final, best))
        return final, best, [h.numpy() for h in history]

    run.traces = train.experimental_get_tracing_count  # how often the loop was traced (for checks)
    return run


def _train(
    cells: FineCells,
    init: _Init,
    *,
    interval: tuple[float, float] | None,
    combination: str,
    min_background: float,
    max_rel_uncertainty: float,
    min_mc_events: float,
    penalty_background: float,
    penalty_uncertainty: float,
    margin: float,
    temperatures: np.ndarray,
    learning_rates: np.ndarray,
    significance: Significance = ASIMOV,
) -> _Trained:
    """Adam on all restarts at once in one compiled tf.while_loop over len(temperatures) steps,
    maximising the soft combined Z (``significance``: Z_A, or Cowan's Z with its uncertainty).

    ``interval``: (lo, hi) for 1-D means lo + (hi - lo) sigmoid(raw); None for the simplex
    (softmax of [raw, 0] without its last entry). Scales through FillScaleTriL (softplus
    diagonal). The temperature and the learning rate are tf.Variables assigned at every step.
    The soft Z is taken at :func:`rule_background` (the background each bin would need to obey
    the rule), the penalties of :func:`rule_penalty` on top. At every step the hard (argmax)
    assignment of the cells is scored too: its Z if every bin holding cells obeys the rule, else
    -1; each restart keeps its best such state (``best_*``) beside its final one, and non-finite
    gradients are zeroed. History: loss, Z_soft, sharpness (mean max gamma over MC events) and
    Z_hard per step and restart; temperature and learning rate per step as read back from their
    variables.
    """
    d = cells.points.shape[1]
    y = cells.yields
    data = (cells.points.T, np.column_stack([y.s.T, y.b, y.b_sumw2, y.b_events]), y.count / y.count.sum())
    use_b = min_background > 0 and penalty_background > 0
    use_u = bool(np.isfinite(max_rel_uncertainty)) and penalty_uncertainty > 0
    use_n = min_mc_events > 0 and penalty_uncertainty > 0
    rule = (
        min_background if use_b else 1.0,
        max_rel_uncertainty if use_u else 1.0,
        min_mc_events if use_n else 1.0,
        penalty_background if use_b else 0.0,
        penalty_uncertainty if use_u else 0.0,
        penalty_uncertainty if use_n else 0.0,
        margin,
    )
    finite_u = bool(np.isfinite(max_rel_uncertainty))
    bounds = (
        max(min_background, 0.0),
        1.0 / max_rel_uncertainty**2 if finite_u else 0.0,
        (max_rel_uncertainty * (1 + _HARD_SLACK)) ** 2 if finite_u else 1e30,
        max(min_mc_events, 0.0),
    )
    lo, hi = interval if interval is not None else (0.0, 1.0)
    run = _trainer(d, interval is not None, combination, not significance.plain, min_mc_events > 0)
    uncertainty = (significance.relative_background_uncertainty, float(significance.mc_statistics))
    final, best, hist = run(init, data, rule, bounds, uncertainty, temperatures, learning_rates, lo, hi)
    names = ("loss", "z_soft", "sharpness", "z_hard", "temperature", "learning_rate")
    return _Trained(*final, dict(zip(names, hist)), *best)


# --- results ---------------------------------------------------------------------------------------------


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
    (``settings["significance"]``: Z_A or Cowan's Z with its background uncertainty);
    :attr:`significance_asimov` the plain Asimov one of the same bins.
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
    image: np.ndarray | None = None
    settings: dict = field(default_factory=dict)

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
    rule: dict,
    significance: Significance,
) -> _Hard:
    """Bins of the argmax assignment of the fine cells (as training scores it): runs of cells
    with one winner, edges midway between the last event of one run and the first of the next,
    yields on the events, bins merged under the rule."""
    owner_cell = np.argmax(log_joint(cells.points, log_w, means, tril), axis=1)
    change = np.flatnonzero(owner_cell[1:] != owner_cell[:-1])  # last cell of each run but the last
    edges0 = np.r_[lo, 0.5 * (cells.high[change] + cells.low[change + 1]), hi]
    owner = owner_cell[np.r_[0, change + 1]]
    component_hard = events.yields(edges0).merged(owner, k)
    edges, notes = merge_edges(edges0, events, max_bins=k, significance=significance, **rule)
    component_bin = np.full(k, -1)
    component_bin[owner] = bin_index(0.5 * (edges0[:-1] + edges0[1:]), edges)  # of its last interval
    component_bin[component_hard.count == 0] = -1
    n_effective = int(np.count_nonzero(component_hard.count))
    return _Hard(
        BinMap(log_w, means, tril, component_bin, edges), edges, component_hard, component_bin, n_effective, notes, None
    )


def _hard_simplex(
    log_w, means, tril, x, weights, labels, signal_labels, k: int, rule: dict, significance: Significance
) -> _Hard:
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
    groups, n_new = merge_bins(component_hard.take(kept), adjacency, significance=significance, **rule)
    bin_map = BinMap(log_w[kept], means[kept], tril[kept], groups)
    component_bin = np.full(k, -1)
    component_bin[kept] = groups
    notes = rule_note(
        n_eff, n_new, rule["min_background"], rule["max_rel_uncertainty"], "into touching bins ", rule["min_mc_events"]
    )
    image = simplex.bin_image(bin_map) if x.shape[1] == 2 else None
    return _Hard(bin_map, None, component_hard, component_bin, n_eff, notes, image)


def fit_gmm_binning(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    n_components: int,
    *,
    signal_labels: Sequence[int] = (1,),
    combination: str = "quadrature",
    min_background: float = 0.0,
    max_rel_uncertainty: float = np.inf,
    min_mc_events: float = 0,
    penalty_background: float = 20.0,
    penalty_uncertainty: float = 20.0,
    margin: float = 0.02,
    n_steps: int = 300,
    temperature: tuple[float, float] = (0.1, 0.01),
    temperature_schedule: str = "cosine",
    learning_rate: tuple[float, float] = (0.01, 0.0005),
    learning_rate_schedule: str = "cosine",
    n_restarts: int | None = None,
    n_fine: int | None = None,
    n_coarse: int = 600,
    score_range: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
    significance: Significance = ASIMOV,
) -> GMMBinningResult:
    """Optimise K = ``n_components`` bins of classifier outputs with a Gaussian mixture.

    ``scores``: (n,) 1-D scores in ``score_range``, or (n, C) softmax vectors; ``weights`` (n,)
    expected events; ``labels`` (n,) integer process groups, those in ``signal_labels`` being
    signals and all others background. ``min_background`` (events), ``max_rel_uncertainty``
    and ``min_mc_events`` (background MC events of nonzero weight) are the per-bin rule,
    ``penalty_*`` the weights of its penalties (``penalty_uncertainty`` weighs both MC-statistics
    hinges; 0 switches a penalty off; the rule is still applied to the hard bins).
    ``temperature`` and ``learning_rate``: (start, end) of their schedules (one of
    :data:`SCHEDULES`) over ``n_steps`` Adam steps. ``n_restarts``: starts trained side by side
    (default 6 in 1-D, 4 in n-D, where the cells are more numerous). ``n_fine``: fine bins (1-D, default 2000) or grid
    divisions per free coordinate (n-D, default 100). ``n_coarse`` (1-D, one signal): restarts
    1-3 start from the exact optimum on coarse grids of ``n_coarse`` x (1, 1.5, 2) runs of fine
    cells (0: no such starts). ``significance``: the Z maximised, merged
    by and reported (default the plain Asimov Z_A; :attr:`GMMBinningResult.significance_asimov`
    is always Z_A). See the module docstring for the method.
    """
    start = time.perf_counter()
    if combination not in COMBINATIONS:
        raise ValueError(f"combination must be one of {', '.join(COMBINATIONS)}, got '{combination}'")
    one_d = np.ndim(scores) == 1
    n_restarts = n_restarts or (6 if one_d else 4)
    if n_components < 1 or n_restarts < 1 or n_steps < 1:
        raise ValueError("n_components, n_restarts and n_steps must be at least 1")
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    signal_labels = tuple(int(g) for g in signal_labels)
    is_sig = np.isin(labels, signal_labels)
    if not is_sig.any() or is_sig.all():
        raise ValueError("need both signal (labels in signal_labels) and background events")
    if weights[~is_sig].sum() <= 0:
        raise ValueError("the total background yield must be positive")
    lo, hi = score_range
    x = scores if one_d else simplex.free_coordinates(scores)
    cells = fine_cells(
        x, weights, labels, signal_labels, n_fine or (FINE_CELLS_1D if one_d else FINE_DIVISIONS_SIMPLEX), lo, hi
    )
    rng = np.random.default_rng(seed)
    rule = dict(min_background=min_background, max_rel_uncertainty=max_rel_uncertainty, min_mc_events=min_mc_events)
    if one_d:
        sig = is_sig & (scores >= lo) & (scores <= hi)
        dp_start = [
            coarse_optimum_edges(cells, n_components, int(n_coarse * f), lo, hi, **rule, significance=significance)
            for f in (COARSE_GRIDS if n_coarse > 0 else ())
        ]
        dp_start = [e for e in dp_start if e is not None]
        init = _init_1d(rng, scores[sig], weights[sig], n_components, n_restarts, lo, hi, dp_start)
    else:
        init = _init_simplex(rng, cells, n_components, n_restarts)
    temps = schedule(temperature_schedule, *temperature, n_steps)
    trained = _train(
        cells,
        init,
        interval=(lo, hi) if one_d else None,
        combination=combination,
        **rule,
        penalty_background=penalty_background,
        penalty_uncertainty=penalty_uncertainty,
        margin=margin,
        temperatures=temps,
        learning_rates=schedule(learning_rate_schedule, *learning_rate, n_steps),
        significance=significance,
    )
    events = SortedEvents(scores, weights, labels, signal_labels) if one_d else None

    def hard_significance(params) -> float:
        """Hard Z of one mixture under the rule: 1-D on the events, n-D on the fine cells."""
        if one_d:
            edges = _hard_1d(*params, events, cells, n_components, lo, hi, rule, significance).edges
            return events.yields(edges).significance(combination, significance)
        y = cells.yields.merged(np.argmax(log_joint(cells.points, *params), axis=1), n_components)
        groups, n_new = merge_bins(
            y, np.ones((n_components, n_components), dtype=bool), significance=significance, **rule
        )
        return y.merged(groups, n_new).significance(combination, significance)

    # candidates per restart: its start, its best hard state during training, its final state
    stages = (
        (init.log_weights, init.means, init.scale_tril),
        (trained.best_log_weights, trained.best_means, trained.best_scale_tril),
        (trained.log_weights, trained.means, trained.scale_tril),
    )
    z_stage = np.array([[hard_significance(tuple(a[r] for a in st)) for st in stages] for r in range(n_restarts)])
    per_restart = z_stage.max(axis=1)
    best = int(np.argmax(per_restart))
    log_w, means, tril = (np.asarray(a[best], dtype=np.float64) for a in stages[int(np.argmax(z_stage[best]))])
    if one_d:
        hard = _hard_1d(log_w, means, tril, events, cells, n_components, lo, hi, rule, significance)
    else:
        hard = _hard_simplex(log_w, means, tril, x, weights, labels, signal_labels, n_components, rule, significance)
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
    settings = dict(
        rule,
        penalty_background=penalty_background,
        penalty_uncertainty=penalty_uncertainty,
        margin=margin,
        n_steps=n_steps,
        temperature=tuple(temperature),
        temperature_schedule=temperature_schedule,
        learning_rate=tuple(learning_rate),
        learning_rate_schedule=learning_rate_schedule,
        n_restarts=n_restarts,
        n_fine_cells=len(cells.points),
        n_coarse=n_coarse,
        seed=seed,
        significance=significance.as_dict(),
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
        component_soft=_soft_yields(cells, log_w, means, tril, float(temps[-1])),
        component_hard=hard.component_hard,
        component_bin=hard.component_bin,
        history={k: (v[:, best] if v.ndim == 2 else v) for k, v in trained.history.items()},
        restart_significance=per_restart,
        chosen_restart=best,
        warnings=notes + hard.notes,
        wall_time=time.perf_counter() - start,
        image=hard.image,
        settings=settings,
    )


def gmm_edges(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    n_bins: int,
    min_background: float = 0.0,
    max_rel_uncertainty: float = np.inf,
    min_mc_events: float = 0,
    seed: int = 0,
    **options,
) -> np.ndarray:
    """Edges over [0, 1] of the Gaussian-mixture binning with K = ``n_bins`` (METHODS convention).

    ``scores``, ``weights`` (expected events), ``labels`` (1 signal, 0 background): shape (n,).
    Returns increasing edges, shape (n_bins_found + 1,), n_bins_found <= ``n_bins``, every bin
    satisfying the rule. Keyword options of :func:`fit_gmm_binning` pass through; others are
    ignored.
    """
    accepted = set(inspect.signature(fit_gmm_binning).parameters) - {"n_components", "signal_labels", "score_range"}
    passed = {k: v for k, v in options.items() if k in accepted}
    result = fit_gmm_binning(
        scores,
        weights,
        labels,
        n_bins,
        min_background=min_background,
        max_rel_uncertainty=max_rel_uncertainty,
        min_mc_events=min_mc_events,
        seed=seed,
        **passed,
    )
    return result.edges
