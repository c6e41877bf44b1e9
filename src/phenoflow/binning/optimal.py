"""Exactly optimal binning of a 1-D classifier score by dynamic programming.

The events are first summed into fine cells: one per distinct score, or, with more distinct
scores than ``max_cells``, runs of neighbouring events with equal event counts
(:func:`event_cells`), so that every cut between two neighbouring events (or between two runs)
is a candidate edge; :func:`fine_histograms` gives equal-width cells instead. A binning is a
contiguous partition of the fine cells; its objective is sum_k Z(s_k, b_k)^2, whose square
root is the combined significance of :func:`phenoflow.binning.rule.combined_significance`; Z is
the plain Asimov Z_A or, with a ``significance`` that has a background uncertainty, Cowan's Z
with each candidate bin's own sigma_b (its relative systematic and its sqrt(sum w^2)). The
partition into at most ``n_bins`` bins that maximises it, subject to the per-bin rule of
:meth:`phenoflow.binning.rule.BinRule.obeys` (background yield, its MC uncertainty and its number of
MC events), is found exactly by dynamic programming over the fine edges.

:func:`optimal_edges` is the method ``optimal`` of :data:`phenoflow.binning.methods.METHODS`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from phenoflow.binning.rule import BinRule, background_events


class Partition(NamedTuple):
    """Chosen boundaries as indices into the fine edges (0 and n_fine included, increasing;
    ``len(indices) - 1`` bins) and the objective sum_k Z(s_k, b_k)^2 they reach."""

    indices: np.ndarray
    objective: float


def fine_histograms(
    scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, n_fine: int, lo: float = 0.0, hi: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted fine histograms of the score.

    ``scores``, ``weights`` (expected events) and ``labels`` (1 signal, 0 background) have shape
    (n,). Returns signal yields s, background yields b, background sum of w^2 and background MC
    events (nonzero weight), each shape (n_fine,), and the fine edges, shape (n_fine + 1,). Bins are [e_i, e_{i+1}) with the last one
    closed, as in :func:`numpy.histogram` (and :func:`phenoflow.binning.rule.binned_yields`); scores
    outside [lo, hi] are not counted.
    """
    if n_fine < 1:
        raise ValueError(f"n_fine must be at least 1, got {n_fine}")
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    is_sig = np.asarray(labels) == 1
    edges = np.linspace(lo, hi, n_fine + 1)
    s, _ = np.histogram(scores[is_sig], bins=edges, weights=weights[is_sig])
    b, _ = np.histogram(scores[~is_sig], bins=edges, weights=weights[~is_sig])
    b_w2, _ = np.histogram(scores[~is_sig], bins=edges, weights=weights[~is_sig] ** 2)
    n_b, _ = np.histogram(scores, bins=edges, weights=background_events(weights, is_sig))
    return s, b, b_w2, n_b, edges


def bin_value_matrix(
    s: np.ndarray,
    b: np.ndarray,
    b_sumw2: np.ndarray,
    rule: BinRule = BinRule(),
    b_events: np.ndarray | None = None,
) -> np.ndarray:
    """Z^2 of every candidate bin made of fine bins i..j-1, shape (n_fine + 1, n_fine + 1).

    Z is the rule's significance (default the plain Asimov Z_A), with the candidate bin's
    background sum of w^2 for its MC statistics. Entry [i, j] for i < j is Z(s_ij, b_ij)^2 if the
    bin obeys ``rule`` (:meth:`phenoflow.binning.rule.BinRule.obeys`: b_ij > 0, b_ij >=
    min_background, sqrt(b_sumw2_ij) / b_ij <= max_rel_uncertainty and at least min_mc_events
    background MC events, from ``b_events`` (n_fine,), needed only with that minimum), otherwise -inf;
    entries with i >= j are -inf. Yields are differences of cumulative sums (a run of empty
    fine bins gives exactly b = 0, since adding zeros leaves a running sum unchanged; event
    counts stay whole numbers).
    """
    s = np.asarray(s, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    w2 = np.asarray(b_sumw2, dtype=np.float64)
    n_b = np.zeros_like(b) if b_events is None else np.asarray(b_events, dtype=np.float64)
    if not (s.shape == b.shape == w2.shape == n_b.shape and s.ndim == 1):
        raise ValueError(
            f"s, b, b_sumw2 and b_events must be 1-D of equal length, got {s.shape}, {b.shape}, {w2.shape}, {n_b.shape}"
        )
    if rule.min_mc_events > 0 and b_events is None:
        raise ValueError(f"min_mc_events = {rule.min_mc_events:g} needs b_events, the fine bins' background MC events")
    zero = np.zeros(1)
    cs, cb, cw2, cn = (np.concatenate([zero, np.cumsum(x)]) for x in (s, b, w2, n_b))
    S = cs[None, :] - cs[:, None]
    B = cb[None, :] - cb[:, None]
    W2 = cw2[None, :] - cw2[:, None]
    N = cn[None, :] - cn[:, None]
    ok = np.triu(np.ones(S.shape, dtype=bool), k=1) & rule.obeys(B, W2, N)
    z = rule.significance(np.where(ok, S, 0.0), np.where(ok, B, 1.0), np.where(ok, W2, 0.0))
    return np.where(ok, z**2, -np.inf)


def optimal_partition(
    s: np.ndarray,
    b: np.ndarray,
    b_sumw2: np.ndarray,
    n_bins: int,
    rule: BinRule = BinRule(),
    b_events: np.ndarray | None = None,
) -> Partition:
    """Contiguous partition of the fine bins into at most ``n_bins`` bins maximising sum Z^2
    (Z: the rule's significance, default the plain Asimov Z_A).

    ``s``, ``b``, ``b_sumw2``, ``b_events``: fine-bin signal yield, background yield,
    background sum of w^2 and background MC events, shape (n_fine,). Every bin must obey
    ``rule``: b_k > 0, b_k >= min_background, sqrt(b_sumw2_k) / b_k <= max_rel_uncertainty and
    at least min_mc_events background MC events (``b_events`` is needed only then). Among equally good partitions (to a relative
    1e-12) the one with the fewest bins is returned, so fewer than ``n_bins`` bins come back when
    more cannot help or the constraints forbid them. Exact; O(n_bins * n_fine^2) time and
    O(n_fine^2 + n_bins * n_fine) memory, vectorised over both inner indices.

    Raises ValueError if no partition at all satisfies the constraints.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    value = bin_value_matrix(s, b, b_sumw2, rule, b_events)
    n = value.shape[0] - 1
    k_max = min(n_bins, n)
    # best[k, j]: best objective over partitions of fine bins 0..j-1 into exactly k bins
    best = np.full((k_max + 1, n + 1), -np.inf)
    best[0, 0] = 0.0
    prev_idx = np.zeros((k_max + 1, n + 1), dtype=np.intp)
    for k in range(1, k_max + 1):
        total = best[k - 1][:, None] + value  # [i, j]: last bin i..j-1 after k-1 bins up to i
        prev_idx[k] = np.argmax(total, axis=0)
        best[k] = np.take_along_axis(total, prev_idx[k][None, :], axis=0)[0]
    final = best[1:, n]
    if not np.isfinite(final).any():
        events = "" if b_events is None else f" from {float(np.sum(b_events)):g} MC events"
        raise ValueError(
            f"no binning satisfies the constraints (min_background={rule.min_background}, "
            f"max_rel_uncertainty={rule.max_rel_uncertainty}, min_mc_events={rule.min_mc_events}); "
            f"total background {float(np.sum(b)):g}{events}"
        )
    top = float(np.max(final))
    k = 1 + int(np.argmax(final >= top - 1e-12 * abs(top)))
    indices = [n]
    for kk in range(k, 0, -1):
        indices.append(int(prev_idx[kk, indices[-1]]))
    indices = np.array(indices[::-1], dtype=np.intp)
    return Partition(indices, float(final[k - 1]))


def event_cells(
    scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, max_cells: int, lo: float = 0.0, hi: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The events summed into fine cells whose boundaries lie between neighbouring events.

    One cell per distinct score in [lo, hi] if there are at most ``max_cells`` of them, else
    ``max_cells`` runs of neighbouring distinct scores holding (nearly) equal numbers of events,
    so the cells are finest where the events are densest and the tail keeps its own cells.
    ``scores``, ``weights`` (expected events), ``labels`` (1 signal, 0 background): shape (n,).
    Returns the signal yield, background yield, background sum of w^2 and background MC events
    (nonzero weight) per cell, shape (n_cells,), and the cuts, shape (n_cells + 1,): lo, the midpoints between the last score of
    one cell and the first of the next, hi.
    """
    if max_cells < 1:
        raise ValueError(f"max_cells must be at least 1, got {max_cells}")
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    is_sig = np.asarray(labels) == 1
    inside = (scores >= lo) & (scores <= hi)
    values, cell, counts = np.unique(scores[inside], return_inverse=True, return_counts=True)
    if len(values) > max_cells:
        # run i holds the distinct scores whose cumulative event count falls in its equal share
        run = np.minimum((np.cumsum(counts) - counts) * max_cells // counts.sum(), max_cells - 1)
        first = np.flatnonzero(np.r_[True, np.diff(run) > 0])
        cell = np.searchsorted(first, cell, side="right") - 1
        cuts = np.r_[lo, 0.5 * (values[first[1:] - 1] + values[first[1:]]), hi]
    else:
        cuts = np.r_[lo, 0.5 * (values[1:] + values[:-1]), hi]
    w, sig = weights[inside], is_sig[inside]
    n_cells = len(cuts) - 1
    s = np.bincount(cell, weights=np.where(sig, w, 0.0), minlength=n_cells)
    b = np.bincount(cell, weights=np.where(sig, 0.0, w), minlength=n_cells)
    w2 = np.bincount(cell, weights=np.where(sig, 0.0, w**2), minlength=n_cells)
    n_b = np.bincount(cell, weights=background_events(w, sig), minlength=n_cells)
    return s, b, w2, n_b, cuts


def optimal_edges(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    n_bins: int,
    rule: BinRule = BinRule(),
    max_cells: int = 2000,
) -> np.ndarray:
    """Edges over [0, 1] of the DP-optimal binning on the event cells of :func:`event_cells`,
    maximising sum Z^2 (Z: the rule's significance) under ``rule``.

    ``scores``, ``weights`` (expected events), ``labels`` (1 signal, 0 background): shape (n,).
    Exact over every cut between events when there are at most ``max_cells`` distinct scores
    (about 1 s per K at 2000 on one core; time grows as max_cells^2). Returns increasing edges,
    shape (n_bins_found + 1,) with n_bins_found <= ``n_bins``.
    """
    s, b, b_w2, n_b, cuts = event_cells(scores, weights, labels, max_cells)
    part = optimal_partition(s, b, b_w2, n_bins, rule, n_b)
    return cuts[part.indices]


def event_optimum(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    n_bins: int,
    rule: BinRule = BinRule(),
    lo: float = 0.0,
    hi: float = 1.0,
    max_events: int = 5000,
) -> tuple[np.ndarray, float]:
    """The exact optimum over every binning of the events themselves: the DP of
    :func:`optimal_partition` with one fine bin per distinct score, so that every cut between
    two neighbouring events is a candidate edge (no fine grid limits it), under ``rule``. The
    reference for other methods on small samples.

    ``scores`` in [lo, hi], ``weights`` (expected events), ``labels`` (1 signal, 0 background):
    shape (n,). Returns the edges (n_bins_found + 1,), midway between neighbouring distinct
    scores and lo, hi at the ends, and sqrt(sum Z^2). O(n_bins n^2) time, O(n^2) memory: refused
    above ``max_events`` distinct scores.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n_distinct = np.unique(scores[(scores >= lo) & (scores <= hi)]).size
    if n_distinct > max_events:
        raise ValueError(f"{n_distinct} distinct scores: more than max_events = {max_events} for the exact optimum")
    s, b, w2, n_b, cuts = event_cells(scores, weights, labels, max_events, lo, hi)
    part = optimal_partition(s, b, w2, n_bins, rule, n_b)
    return cuts[part.indices], float(np.sqrt(part.objective))
