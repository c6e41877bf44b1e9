"""The rule every binning method is judged by: yields, MC errors and significances of bins.

Yields are expected events (sums of event weights), MC uncertainties sqrt(sum w^2) in the same
units; 1-D scores lie in [0, 1] (any [lo, hi] works), n-D scores are softmax vectors whose bins
come from a bin map. Signal i is judged by the combined significance
Z_i = sqrt(sum_k Z(s_ik, b_k + sum_{j!=i} s_jk)^2), the other signals counted as background,
and the Z_i are combined by one of :data:`COMBINATIONS`. Z is a
:class:`phenoflow.significance.Significance`: the plain Asimov Z_A by default, or Cowan's
Z with each bin's own background uncertainty sigma_b^2 = (rel (b_k + other signals))^2 +
sum w^2_k (the true background's MC error), uncorrelated between bins.

The rule (:class:`BinRule`): bins are merged until every bin has b > 0, b >= ``min_background``,
a relative background MC uncertainty sqrt(sum w^2)_k / b_k <= ``max_rel_uncertainty`` and at
least ``min_mc_events`` background MC events (or one bin is left), each merge losing the least
sum_i Z^2 (:meth:`BinRule.merge`; 1-D bins via :func:`apply_rule_1d`, any n-D bin map via
:func:`evaluate_bin_map`). Numpy only: no method's evaluation loads TensorFlow.

A bin's background MC events are its background rows with a nonzero weight. Events of negative
weight (NLO generators) count like the others: each is one simulated event whose weight enters
b and sum w^2, and the signed b and its sum w^2 are judged by the other two bounds. The count
is what the uncertainty bound alone cannot guarantee: four equal-weight events pass
sqrt(sum w^2)/b <= 0.5, and the optimisers fit the fluctuations of such bins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from phenoflow.binning import simplex
from phenoflow.defaults import default
from phenoflow.significance import ASIMOV, Significance

COMBINATIONS = ("quadrature", "geometric_mean", "minimum")
#: The combination the config's ``binning.combination`` defaults to (the schema's)
COMBINATION = default("binning.combination")
_TINY = np.finfo(np.float64).tiny

#: Relative slack of the rule's comparisons (b >= min_background, sqrt(sum w^2) <= max_rel b).
#: Sums of the same events taken in different orders (cumulative-sum differences in the DP,
#: direct sums here, float32 in the mixture's training) differ in their last digits, and bins
#: sit exactly on a threshold often: four MC events of equal weight have sqrt(sum w^2)/b = 0.5.
#: Every judge of the rule accepts a bin within this slack, so they agree on such bins.
RULE_TOLERANCE = 1e-6


# --- significances ------------------------------------------------------------------------------------


def _per_bin(s: np.ndarray, b: np.ndarray, b_sumw2, significance: Significance) -> np.ndarray:
    """Z(s_ik, b_k + sum_{j!=i} s_jk) of each signal and bin, (n_signals, n_bins); the relative
    uncertainty applies to everything signal i sees as background, the MC error is the true
    background's sqrt(sum w^2)."""
    others = b[None, :] + s.sum(axis=0, keepdims=True) - s
    return significance(s, others, b_sumw2)


def signal_significances(
    s: np.ndarray, b: np.ndarray, b_sumw2: np.ndarray | float = 0.0, significance: Significance = ASIMOV
) -> np.ndarray:
    """Combined Z of each signal over the bins, shape (n_signals,).

    ``s``: signal yields (n_signals, n_bins); ``b``: background yields and ``b_sumw2`` its sum of
    w^2 (n_bins,; used only by a ``significance`` with MC statistics). Signal i sees b + the
    other signals as its background: Z_i = sqrt(sum_k Z(s_ik, b_k + sum_{j!=i} s_jk)^2), Z the
    plain Asimov Z_A by default. NaN if some bin has no background at all for a signal (merge
    bins first).
    """
    s = np.atleast_2d(np.asarray(s, dtype=np.float64))
    b = np.asarray(b, dtype=np.float64)
    return np.sqrt(np.sum(_per_bin(s, b, b_sumw2, significance) ** 2, axis=1))


def combine_significances(z: np.ndarray, combination: str = COMBINATION) -> float:
    """Combine per-signal significances ``z`` (n_signals,): "quadrature" sqrt(sum z^2),
    "geometric_mean" (prod z)^(1/n) or "minimum" (exact)."""
    z = np.asarray(z, dtype=np.float64)
    if combination == "quadrature":
        return float(np.sqrt(np.sum(z**2)))
    if combination == "geometric_mean":
        return float(np.exp(np.mean(np.log(z)))) if np.all(z > 0) else 0.0
    if combination == "minimum":
        return float(np.min(z))
    raise ValueError(f"combination must be one of {', '.join(COMBINATIONS)}, got '{combination}'")


# --- yields -----------------------------------------------------------------------------------------


def bin_index(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each 1-D score for increasing ``edges`` (n_bins + 1,), shape (n,), -1 outside.

    Bins are [e_i, e_i+1) with the last closed, exactly as :func:`numpy.histogram`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n_bins = len(edges) - 1
    idx = np.searchsorted(edges, scores, side="right") - 1
    idx[scores == edges[-1]] = n_bins - 1
    idx[~((scores >= edges[0]) & (scores <= edges[-1]))] = -1
    return idx


def yields_with_errors(
    bins: np.ndarray, weights: np.ndarray, labels: np.ndarray, n_bins: int
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per-bin yield and MC uncertainty sqrt(sum w^2) of every process group, with ``hist``.

    ``bins``: bin index of each event in [0, n_bins) (others, e.g. -1, are skipped), ``weights``
    (expected events) and integer group ``labels``: shape (n,). Returns label -> (yields,
    errors), each shape (n_bins,), for every label present.
    """
    import hist

    bins, labels = np.asarray(bins), np.asarray(labels).astype(np.int64)
    groups = sorted(int(g) for g in np.unique(labels))
    h = hist.Hist(
        hist.axis.Integer(0, n_bins, underflow=False, overflow=False),
        hist.axis.IntCategory(groups),
        storage=hist.storage.Weight(),
    )
    ok = (bins >= 0) & (bins < n_bins)
    h.fill(bins[ok], labels[ok], weight=np.asarray(weights, dtype=np.float64)[ok])
    values, variances = h.values(), h.variances()
    return {g: (values[:, i].copy(), np.sqrt(variances[:, i])) for i, g in enumerate(groups)}


@dataclass(frozen=True)
class BinYields:
    """Yields of a set of bins: signal (n_signals, n_bins), background, background sum of w^2, MC
    events (every class, any weight) and background MC events (nonzero weight; the rule's
    count), each (n_bins,)."""

    s: np.ndarray
    b: np.ndarray
    b_sumw2: np.ndarray
    count: np.ndarray
    b_events: np.ndarray

    def merged(self, groups: np.ndarray, n_groups: int) -> BinYields:
        """Yields of the bins merged by ``groups`` (new bin of each old bin, (n_bins,))."""

        def add(x: np.ndarray) -> np.ndarray:
            return np.stack([np.bincount(groups, weights=r, minlength=n_groups) for r in np.atleast_2d(x)])

        return BinYields(add(self.s), *(add(x)[0] for x in self._columns))

    def take(self, index: np.ndarray) -> BinYields:
        """The bins ``index`` only."""
        return BinYields(self.s[:, index], *(x[index] for x in self._columns))

    def pairs(self) -> BinYields:
        """Yields of every two neighbouring bins joined, (n_bins - 1,)."""
        return BinYields(self.s[:, :-1] + self.s[:, 1:], *(x[:-1] + x[1:] for x in self._columns))

    @property
    def _columns(self) -> tuple[np.ndarray, ...]:
        """The per-bin arrays after the signal, in field order."""
        return self.b, self.b_sumw2, self.count, self.b_events

    def significance(self, combination: str, significance: Significance = ASIMOV) -> float:
        """Combined Z (``significance``, default Z_A); -inf if some bin has no background."""
        if not np.all(self.b > 0):
            return -np.inf
        return combine_significances(signal_significances(self.s, self.b, self.b_sumw2, significance), combination)


def group_sums(
    cell: np.ndarray, weights: np.ndarray, labels: np.ndarray, signal_labels: Sequence[int], m: int
) -> BinYields:
    """Sums per cell (index in [0, m), -1 skipped) of each signal, the background, its w^2, MC
    events and background MC events (:class:`BinYields`)."""
    ok = cell >= 0
    c, w, lab = cell[ok], weights[ok], labels[ok]
    is_sig = np.isin(lab, signal_labels)
    s = np.stack([np.bincount(c, weights=np.where(lab == g, w, 0.0), minlength=m) for g in signal_labels])
    b = np.bincount(c, weights=np.where(is_sig, 0.0, w), minlength=m)
    w2 = np.bincount(c, weights=np.where(is_sig, 0.0, w**2), minlength=m)
    n_b = np.bincount(c, weights=background_events(w, is_sig), minlength=m)
    return BinYields(s, b, w2, np.bincount(c, minlength=m).astype(np.float64), n_b)


def background_events(weights: np.ndarray, is_signal: np.ndarray) -> np.ndarray:
    """1.0 for each background MC event the rule counts (nonzero weight, either sign), else 0.0; (n,)."""
    return ((weights != 0) & ~is_signal).astype(np.float64)


class SortedEvents:
    """1-D events sorted once, so that the yields of any edges cost O(n_bins log n)."""

    def __init__(self, scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, signal_labels: Sequence[int]):
        order = np.argsort(scores, kind="stable")
        self.x = scores[order]
        w, lab = weights[order], labels[order]
        is_sig = np.isin(lab, signal_labels)
        cols = [np.where(lab == g, w, 0.0) for g in signal_labels]
        cols += [np.where(is_sig, 0.0, w), np.where(is_sig, 0.0, w**2), np.ones_like(w), background_events(w, is_sig)]
        self.cum = np.concatenate([np.zeros((len(cols), 1)), np.cumsum(np.stack(cols), axis=1)], axis=1)
        self.n_sig = len(signal_labels)

    def yields(self, edges: np.ndarray) -> BinYields:
        """Yields in the bins of ``edges`` with :func:`numpy.histogram`'s conventions."""
        pos = np.searchsorted(self.x, edges, side="left")
        pos[-1] = np.searchsorted(self.x, edges[-1], side="right")
        d = np.diff(self.cum[:, pos], axis=1)
        return BinYields(d[: self.n_sig], *d[self.n_sig :])


# --- merging -----------------------------------------------------------------------------------------


def _bin_objective(y: BinYields, significance: Significance = ASIMOV) -> np.ndarray:
    """sum_i Z(s_i, b + other signals)^2 of each bin; 0 where a bin has no background."""
    ok = y.b > 0
    z = _per_bin(y.s, np.where(ok, y.b, 1.0), y.b_sumw2, significance)
    return np.where(ok, np.sum(z**2, axis=0), 0.0)


@dataclass(frozen=True, kw_only=True)
class BinRule:
    """The rule every bin of every method obeys, and the Z they are optimised and merged by.

    A bin obeys it with background ``b`` > 0 and >= ``min_background`` (expected events), a
    relative background MC uncertainty sqrt(sum w^2) / b <= ``max_rel_uncertainty`` and at least
    ``min_mc_events`` background MC events (nonzero weight, either sign). ``significance``: the Z
    of each bin that the merges (and the optimising methods) maximise, default the plain Asimov
    Z_A. The defaults impose nothing but b > 0. The config's keys ``binning.min_background``,
    ``binning.max_rel_uncertainty``, ``binning.min_mc_events`` and the ``significance`` block.
    """

    min_background: float = 0.0
    max_rel_uncertainty: float = np.inf
    min_mc_events: float = 0
    significance: Significance = ASIMOV

    def __post_init__(self):
        if not self.min_background >= 0:
            raise ValueError(f"binning.min_background must be >= 0, got {self.min_background}")
        if not self.max_rel_uncertainty > 0:
            raise ValueError(f"binning.max_rel_uncertainty must be > 0, got {self.max_rel_uncertainty}")
        if not self.min_mc_events >= 0:
            raise ValueError(f"binning.min_mc_events must be >= 0, got {self.min_mc_events}")

    @classmethod
    def from_config(cls, binning: Mapping, significance: Mapping | None = None) -> BinRule:
        """From the config's ``binning`` block (its three bounds, as the schema fills them in) and
        ``significance`` block."""
        keys = ("min_background", "max_rel_uncertainty", "min_mc_events")
        missing = [k for k in keys if k not in binning]
        if missing:
            raise ValueError(f"binning: {', '.join(missing)} not set (a config validated by the schema has them)")
        return cls(**{k: binning[k] for k in keys}, significance=Significance.from_config(significance))

    def obeys(self, b: np.ndarray, b_sumw2: np.ndarray, b_events: np.ndarray | None = None) -> np.ndarray:
        """Whether bins of background ``b`` (expected events), background sum of w^2 ``b_sumw2``
        and background MC events ``b_events`` (arrays of one shape) obey the rule: b > 0,
        b >= ``min_background`` and sqrt(sum w^2) / b <= ``max_rel_uncertainty``, each within
        :data:`RULE_TOLERANCE`, and b_events >= ``min_mc_events`` (whole events: exact). The one
        judge of the rule for the merges here, the DP of :mod:`phenoflow.binning.optimal` and the
        mixture's hard bins. ``b_events`` may be None only without a minimum count."""
        b = np.asarray(b, dtype=np.float64)
        ok = (b > 0) & (b >= self.min_background * (1 - RULE_TOLERANCE))
        if np.isfinite(self.max_rel_uncertainty):
            allowed = self.max_rel_uncertainty * (1 + RULE_TOLERANCE) * np.where(ok, b, 0.0)
            ok &= np.sqrt(np.clip(b_sumw2, 0, None)) <= allowed
        if self.min_mc_events > 0:
            if b_events is None:
                raise ValueError(f"min_mc_events = {self.min_mc_events:g} needs the bins' background MC event counts")
            ok &= np.asarray(b_events) >= self.min_mc_events
        return ok

    def merge(self, y: BinYields, adjacency: np.ndarray) -> tuple[np.ndarray, int]:
        """Merge bins until every bin obeys the rule (or a single bin is left).

        Greedy: the offending bin with the smallest background joins, among the bins it touches
        (``adjacency``, (n_bins, n_bins) bool; all bins if it touches none), the one for which the
        merged bin has the largest sum_i Z^2 minus that of the partner, i.e. the merge losing the
        least significance (Z: :attr:`significance`). Returns the new bin of each old bin
        (n_bins,), numbered 0.. in order of first appearance, and the number of new bins.
        """
        n = len(y.b)
        groups = np.arange(n)
        adj = np.asarray(adjacency, dtype=bool).copy()
        cur, alive = y, np.ones(n, dtype=bool)
        while alive.sum() > 1:
            bad = ~self.obeys(cur.b, cur.b_sumw2, cur.b_events) & alive
            if not bad.any():
                break
            i = int(np.flatnonzero(bad)[np.argmin(cur.b[bad])])
            partners = np.flatnonzero(adj[i] & alive)
            partners = partners[partners != i]
            if partners.size == 0:
                partners = np.flatnonzero(alive & (np.arange(n) != i))
            trial = [cur.merged(np.where(np.arange(n) == i, j, np.arange(n)), n) for j in partners]
            before = _bin_objective(cur, self.significance)
            gain = [_bin_objective(t, self.significance)[j] - before[j] for t, j in zip(trial, partners)]
            j = int(partners[int(np.argmax(gain))])
            groups[groups == i] = j
            cur, alive[i] = trial[int(np.argmax(gain))], False
            adj[j] |= adj[i]
            adj[:, j] |= adj[:, i]
            adj[i], adj[:, i] = False, False
        _, new = np.unique(groups, return_inverse=True)
        first = {}
        for g in new:
            first.setdefault(int(g), len(first))
        new = np.array([first[int(g)] for g in new], dtype=np.int64)
        return new, len(first)

    def describe(self) -> str:
        """The rule in words, e.g. "b > 0, b >= 1, rel. MC uncertainty <= 0.5, >= 10 background MC events"."""
        rule = f"b > 0, b >= {self.min_background:g}" + (
            f", rel. MC uncertainty <= {self.max_rel_uncertainty:g}" if np.isfinite(self.max_rel_uncertainty) else ""
        )
        return rule + (f", >= {self.min_mc_events:g} background MC events" if self.min_mc_events > 0 else "")

    def note(self, n_before: int, n_after: int, how: str) -> list[str]:
        """A note on bins merged ``how`` under the rule; none if no bin was merged."""
        if n_after == n_before:
            return []
        k = n_before - n_after
        return [f"{k} bin{'s' * (k > 1)} merged {how}for {self.describe()}: {n_before} -> {n_after} bins"]

    def as_dict(self) -> dict:
        """The rule's settings, the significance's as a dict of its own (JSON-ready but for an
        infinite ``max_rel_uncertainty``)."""
        return {
            "min_background": self.min_background,
            "max_rel_uncertainty": self.max_rel_uncertainty,
            "min_mc_events": self.min_mc_events,
            "significance": self.significance.as_dict(),
        }


def _chain(n: int) -> np.ndarray:
    """Adjacency of consecutive 1-D bins."""
    return np.eye(n, k=1, dtype=bool) | np.eye(n, k=-1, dtype=bool)


def merge_edges(edges: np.ndarray, events: SortedEvents, rule: BinRule, max_bins: int) -> tuple[np.ndarray, list[str]]:
    """Apply ``rule`` to 1-D bins: at most ``max_bins`` bins (adjacent pairs losing the least
    sum Z^2 merged; a component can own two intervals), then b >= max(min_background, > 0)
    by merge_low_background, then :meth:`BinRule.merge` for what is left (relative uncertainty,
    ``min_mc_events``). Z: the rule's significance. Returns the edges and notes on what was
    merged."""
    significance = rule.significance
    notes = []
    n0 = len(edges) - 1
    while len(edges) - 1 > max_bins:
        y = events.yields(edges)
        obj = _bin_objective(y, significance)
        edges = np.delete(edges, int(np.argmax(_bin_objective(y.pairs(), significance) - obj[:-1] - obj[1:])) + 1)
    if len(edges) - 1 < n0:
        notes.append(f"{n0} argmax intervals for at most {max_bins} bins: adjacent intervals merged")
    n1 = len(edges) - 1
    edges = merge_low_background(edges, events.yields(edges).b, max(rule.min_background, _TINY))
    y = events.yields(edges)
    groups, _ = rule.merge(y, _chain(len(y.b)))
    edges = np.r_[edges[0], edges[1:-1][np.diff(groups) != 0], edges[-1]]
    return edges, notes + rule.note(n1, len(edges) - 1, "")


def apply_rule_1d(
    edges: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    rule: BinRule = BinRule(),
    signal_labels: Sequence[int] = (1,),
) -> tuple[np.ndarray, list[str]]:
    """Merge 1-D bins of any method until every bin obeys ``rule``, exactly as the mixture's hard
    bins are merged, each merge losing the least sum Z^2 (the rule's significance). ``edges``
    (n_bins + 1,); events (n,). Returns new edges and notes."""
    events = SortedEvents(
        np.asarray(scores, np.float64), np.asarray(weights, np.float64), np.asarray(labels), tuple(signal_labels)
    )
    return merge_edges(np.asarray(edges, np.float64), events, rule, len(edges) - 1)


def evaluate_bin_map(
    bin_function: Callable[[np.ndarray], np.ndarray],
    n_bins: int,
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    rule: BinRule = BinRule(),
    signal_labels: Sequence[int] = (1,),
    combination: str = COMBINATION,
) -> dict:
    """Bins of an n-D map merged under ``rule``, as for the mixture (touching bins from a pixel
    image for C = 3, any bins otherwise). ``scores`` (n, C); ``bin_function`` gives bins in
    [0, n_bins). Returns {"n_bins", "significance", "signal_significance" (both with the rule's
    significance), "significance_asimov" (plain Z_A), "bins" (BinYields), "groups" (new bin of
    each old bin)}."""
    scores = np.asarray(scores, dtype=np.float64)
    idx = np.asarray(bin_function(scores))
    y = group_sums(idx, np.asarray(weights, dtype=np.float64), np.asarray(labels), tuple(signal_labels), n_bins)
    if scores.shape[1] == 3:
        adjacency = simplex.region_adjacency(simplex.bin_image(bin_function), n_bins)
    else:
        adjacency = np.ones((n_bins, n_bins), dtype=bool)
    groups, n_new = rule.merge(y, adjacency)
    merged = y.merged(groups, n_new)
    z = signal_significances(merged.s, merged.b, merged.b_sumw2, rule.significance)
    return {
        "n_bins": n_new,
        "significance": combine_significances(z, combination),
        "signal_significance": z,
        "significance_asimov": combine_significances(signal_significances(merged.s, merged.b), combination),
        "bins": merged,
        "groups": groups,
    }


# --- 1-D yields and merging, for every method -------------------------------------------------------


def binned_yields(
    scores: np.ndarray, weights: np.ndarray, labels: np.ndarray, edges: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-bin signal and background yields, background sum of w^2 and background MC events
    (nonzero weight); each shape (n_bins,)."""
    is_sig = labels == 1
    s, _ = np.histogram(scores[is_sig], bins=edges, weights=weights[is_sig])
    b, _ = np.histogram(scores[~is_sig], bins=edges, weights=weights[~is_sig])
    b_w2, _ = np.histogram(scores[~is_sig], bins=edges, weights=weights[~is_sig] ** 2)
    n_b, _ = np.histogram(scores, bins=edges, weights=background_events(weights, is_sig))
    return {"s": s, "b": b, "b_sumw2": b_w2, "b_events": n_b}


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


def combined_significance(
    s: np.ndarray, b: np.ndarray, b_sumw2: np.ndarray | float = 0.0, significance: Significance = ASIMOV
) -> float:
    """sqrt(sum_k Z(s_k, b_k)^2) over bins, Z = ``significance`` (default the plain Z_A;
    ``b_sumw2``, the background's sum of w^2 per bin, serves its MC statistics); every bin must
    have b_k > 0."""
    if np.any(b <= 0):
        raise ValueError("combined_significance needs b > 0 in every bin; merge bins first")
    return float(np.sqrt(np.sum(significance(s, b, b_sumw2) ** 2)))
