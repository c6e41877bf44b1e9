"""Bins chosen on other events than those that fill them: a binning cross-fitted over groups.

Optimised bins report the fluctuations of the events that chose them: with bins of a few MC
events a DP optimum or a trained mixture finds where this sample's background happens to be
low, and the same events then quote a significance the next sample does not reach. As each
event is scored by the model that did not train on it (k-fold), here each group of events (the
folds; the even and odd rows for one fixed split: :func:`phenoflow.features.splits.crossfit_groups`)
is binned by edges chosen on the other groups' events, scaled to the full luminosity
(:func:`phenoflow.features.splits.group_complement_weights`). Bin i of the result holds every
event, each through edges that never saw it: the yields, significance and likelihood of the
cross-fitted binning are those of independent events. Each group's binning is also judged on
its own choosing events; the mean of those Z over the groups is the *choosing* significance,
and choosing / independent the optimism of the choice.

The groups' binnings must have the same number of bins to be stacked: each is first merged
under the rule on its choosing events (:func:`phenoflow.binning.rule.apply_rule_1d`), then those
with more bins than the fewest lose the adjacent merges that cost the least on their own
choosing events; the stacked bins are merged again under the rule if one breaks it (bin i of
every group merged with bin i + 1 of every group).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from phenoflow.binning.rule import (
    BinRule,
    BinYields,
    SortedEvents,
    _chain,
    apply_rule_1d,
    bin_index,
    combined_significance,
    group_sums,
    merge_edges,
)
from phenoflow.features.splits import crossfit_groups, group_complement_weights
from phenoflow.significance import ASIMOV

#: A binning method on given events: (scores, weights, labels) -> increasing edges over [0, 1].
EdgesOn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CrossFit:
    """A cross-fitted 1-D binning: the edges of each group (chosen without it), the yields of
    every event in the stacked bins, and each group's Z on its own choosing events
    (configured and plain Asimov)."""

    fold_edges: tuple[np.ndarray, ...]
    yields: BinYields
    choosing: np.ndarray
    choosing_asimov: np.ndarray
    notes: tuple[str, ...]

    @property
    def n_bins(self) -> int:
        return len(self.fold_edges[0]) - 1


def stacked_index(scores: np.ndarray, groups: np.ndarray, fold_edges: Sequence[np.ndarray]) -> np.ndarray:
    """Bin of each event (n,) through the edges of its own group (``fold_edges[g]``), -1 outside."""
    out = np.full(len(scores), -1, dtype=np.int64)
    for g, edges in enumerate(fold_edges):
        rows = groups == g
        out[rows] = bin_index(np.asarray(scores)[rows], np.asarray(edges, dtype=np.float64))
    return out


def crossfit_binning(
    edges_on: EdgesOn,
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    process: np.ndarray,
    groups: np.ndarray,
    rule: BinRule = BinRule(),
) -> CrossFit:
    """Cross-fit the binning ``edges_on`` over ``groups`` (n,; 0..G-1, G >= 2).

    ``scores``, ``weights`` (expected events of all events together), ``labels`` (1 signal),
    ``process`` names: shape (n,). ``rule``: the common rule, applied to every group's bins on
    its choosing events and to the stacked bins. ``edges_on`` is called once per group, for
    group 0, 1, ... in order, with the events outside it.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    significance = rule.significance
    n_groups = int(groups.max()) + 1
    if n_groups < 2 or len(np.unique(groups)) != n_groups:
        raise ValueError(f"cross-fitting needs groups 0..G-1 with G >= 2, got {sorted(set(groups.tolist()))}")
    chosen, events, notes = [], [], []
    for g in range(n_groups):
        rows = groups != g
        w = group_complement_weights(process, weights, groups, g)[rows]
        x, y = scores[rows], labels[rows]
        edges, why = apply_rule_1d(edges_on(x, w, y), x, w, y, rule)
        chosen.append(edges)
        events.append(SortedEvents(x, w, y, (1,)))
        notes += [f"group {g}: {n}" for n in why]
    n = min(len(e) - 1 for e in chosen)
    for g, edges in enumerate(chosen):
        if len(edges) - 1 > n:
            chosen[g], _ = merge_edges(edges, events[g], rule, max_bins=n)
            notes.append(f"group {g}: {len(edges) - 1} -> {n} bins, the fewest of any group, by the cheapest merges")
    cell = stacked_index(scores, groups, chosen)
    stacked = group_sums(cell, np.asarray(weights, dtype=np.float64), labels, (1,), n)
    merged, n_kept = rule.merge(stacked, _chain(n))
    if n_kept < n:
        keep = np.r_[True, np.diff(merged) != 0, True]
        chosen = [edges[keep] for edges in chosen]
        stacked = stacked.merged(merged, n_kept)
        notes += rule.note(n, n_kept, "after stacking the groups ")
    own, own_asimov = [], []
    for g, edges in enumerate(chosen):
        y = events[g].yields(edges)
        own.append(_z(y, significance))
        own_asimov.append(_z(y, ASIMOV))
    return CrossFit(tuple(chosen), stacked, np.array(own), np.array(own_asimov), tuple(notes))


def _z(y: BinYields, significance) -> float:
    """Combined Z of bins (``-inf``, never the best, if a bin has no background)."""
    if not np.all(y.b > 0):
        return -np.inf
    return combined_significance(y.s[0], y.b, y.b_sumw2, significance)


def crossfit_row(method: str, n_bins: int, fit: CrossFit, significance=ASIMOV) -> dict:
    """The JSON-ready row of a cross-fitted binning: the edges of each group (``fold_edges``), the
    stacked yields of every event with their background MC errors, the independent significance
    (configured and plain Asimov, ``significance`` and ``z_asimov``), the mean choosing ones
    (``significance_choosing``, ``z_asimov_choosing``) and the optimism, choosing over
    independent plain Asimov Z: with MC statistics in the significance the choosing events, a
    share (G - 1)/G of them scaled up, carry a larger MC error than all events together, which
    would hide part of the optimism."""
    y = fit.yields
    independent = _z(y, ASIMOV)
    choosing = float(np.mean(fit.choosing_asimov))
    return {
        "method": method,
        "n_bins_requested": n_bins,
        "n_bins": fit.n_bins,
        "crossfit": True,
        "fold_edges": [e.tolist() for e in fit.fold_edges],
        "s": y.s[0].tolist(),
        "b": y.b.tolist(),
        "b_error": np.sqrt(y.b_sumw2).tolist(),
        "b_events": y.b_events.tolist(),
        "significance": _z(y, significance),
        "z_asimov": independent,
        "significance_choosing": float(np.mean(fit.choosing)),
        "z_asimov_choosing": choosing,
        "significance_choosing_per_group": fit.choosing.tolist(),
        "optimism": choosing / independent if independent > 0 else float("nan"),
        "notes": list(fit.notes),
    }


def row_bins(row: Mapping, scores: pd.DataFrame) -> np.ndarray:
    """Bin of every event of a scores table (columns score, fold, row) under a binning row of
    the binning stage: its own group's edges for a cross-fitted row, else the row's ``edges``."""
    x = scores["score"].to_numpy(np.float64)
    if "fold_edges" in row:
        groups = crossfit_groups(scores["fold"].to_numpy(), scores["row"].to_numpy())
        return stacked_index(x, groups, [np.asarray(e) for e in row["fold_edges"]])
    return bin_index(x, np.asarray(row["edges"], dtype=np.float64))
