"""Bins and thresholds chosen on other events than those that report them (cross-fitting)."""

import numpy as np
import pandas as pd
import pytest

from phenoflow.binning.crossfit import crossfit_binning, crossfit_row, row_bins, stacked_index
from phenoflow.binning.methods import MethodOptions, registered
from phenoflow.binning.rule import BinRule, apply_rule_1d
from phenoflow.evaluation.metrics import max_significance
from phenoflow.evaluation.scores import independent_threshold
from phenoflow.features.splits import crossfit_groups, group_complement_weights
from phenoflow.significance import ASIMOV, Significance

RULE = BinRule(min_background=1.0, max_rel_uncertainty=0.5, significance=Significance(0.1, True))


def toy(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    x = np.where(y == 1, rng.beta(5, 2, n), rng.beta(2, 5, n))
    process = np.where(y == 1, "s", np.where(rng.random(n) < 0.5, "b1", "b2"))
    w = np.where(y == 1, 0.02, np.where(process == "b1", 1.0, 4.0))
    return x, w, y, process


def quantile_edges(k):
    return lambda x, w, y: registered("quantile")(x, w, y, k, RULE, MethodOptions()).edges


def test_group_complement_weights_scale_the_other_groups_to_every_process_yield():
    process = np.array(["a", "a", "a", "b", "b", "b"])
    w = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    groups = np.array([0, 1, 2, 0, 1, 2])
    out = group_complement_weights(process, w, groups, 1)
    # group 1 left out: a's 1 + 3 scaled to 6, b's 10 + 30 to 60
    np.testing.assert_allclose(out, [1.5, 0.0, 4.5, 15.0, 0.0, 45.0])
    np.testing.assert_array_equal(crossfit_groups(np.zeros(5, int), np.arange(5)), [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(crossfit_groups(np.array([2, 0, 1]), np.arange(3)), [2, 0, 1])


def test_each_group_is_binned_by_edges_chosen_without_it():
    x, w, y, process = toy()
    groups = np.arange(len(x)) % 3
    fit = crossfit_binning(quantile_edges(5), x, w, y, process, groups, RULE)
    for g in range(3):
        rest = groups != g
        wc = group_complement_weights(process, w, groups, g)[rest]
        expected, _ = apply_rule_1d(quantile_edges(5)(x[rest], wc, y[rest]), x[rest], wc, y[rest], RULE)
        if len(expected) == len(fit.fold_edges[g]):  # (unless merged to the fewest bins of any group)
            np.testing.assert_allclose(fit.fold_edges[g], expected)
    # changing group 0's own events leaves its edges alone (and changes the others')
    moved = x.copy()
    moved[groups == 0] = np.sqrt(moved[groups == 0])
    again = crossfit_binning(quantile_edges(5), moved, w, y, process, groups, RULE)
    np.testing.assert_array_equal(again.fold_edges[0], fit.fold_edges[0])
    assert not np.array_equal(again.fold_edges[1], fit.fold_edges[1])


def test_stacked_yields_are_every_event_through_its_own_groups_edges():
    x, w, y, process = toy()
    groups = np.arange(len(x)) % 3
    fit = crossfit_binning(quantile_edges(4), x, w, y, process, groups, RULE)
    s, b, w2 = np.zeros(fit.n_bins), np.zeros(fit.n_bins), np.zeros(fit.n_bins)
    for g, edges in enumerate(fit.fold_edges):
        mine = groups == g
        s += np.histogram(x[mine & (y == 1)], edges, weights=w[mine & (y == 1)])[0]
        b += np.histogram(x[mine & (y == 0)], edges, weights=w[mine & (y == 0)])[0]
        w2 += np.histogram(x[mine & (y == 0)], edges, weights=w[mine & (y == 0)] ** 2)[0]
    np.testing.assert_allclose(fit.yields.s[0], s, rtol=1e-12)
    np.testing.assert_allclose(fit.yields.b, b, rtol=1e-12)
    np.testing.assert_allclose(fit.yields.b_sumw2, w2, rtol=1e-12)
    assert b.sum() == pytest.approx(w[y == 0].sum(), rel=1e-12)  # every event, at its own weight
    row = crossfit_row("quantile", 4, fit, RULE.significance)
    frame = pd.DataFrame({"score": x, "fold": groups, "row": np.arange(len(x))})
    np.testing.assert_array_equal(row_bins(row, frame), stacked_index(x, groups, fit.fold_edges))


def test_the_optimum_reports_less_on_independent_events_than_on_its_own():
    """On a noisy sample the exact optimum's bins fit the fluctuations of the events that chose
    them: their own Z exceeds the independent one, the optimism the cross-fit measures."""
    x, w, y, process = toy(n=1500, seed=4)
    groups = np.arange(len(x)) % 3
    optimal = lambda xs, ws, ys: registered("optimal")(xs, ws, ys, 10, RULE, MethodOptions()).edges  # noqa: E731
    row = crossfit_row("optimal", 10, crossfit_binning(optimal, x, w, y, process, groups, RULE), RULE.significance)
    assert row["optimism"] > 1.0 and row["z_asimov_choosing"] > row["z_asimov"] > 0
    assert row["optimism"] == pytest.approx(row["z_asimov_choosing"] / row["z_asimov"])


def test_groups_with_different_numbers_of_bins_are_merged_to_the_fewest():
    x, w, y, process = toy(n=600, seed=2)
    groups = np.arange(len(x)) % 2
    calls = []

    def uneven(xs, ws, ys):  # the first group gets 8 equal-width bins, the second 4
        calls.append(1)
        return np.linspace(0, 1, 9 if len(calls) == 1 else 5)

    fit = crossfit_binning(uneven, x, w, y, process, groups, BinRule())
    assert [len(e) - 1 for e in fit.fold_edges] == [4, 4]
    assert any(
        note.startswith("group 0: ") and note.endswith("-> 4 bins, the fewest of any group, by the cheapest merges")
        for note in fit.notes
    )


def test_the_threshold_is_chosen_on_the_other_groups_and_reported_on_its_own():
    x, w, y, process = toy()
    groups = np.arange(len(x)) % 2
    result = independent_threshold(x, w, y, process, groups, 1.0, ASIMOV)
    keep = np.zeros(len(x), bool)
    for g in range(2):
        rest = groups != g
        best = max_significance(x[rest], group_complement_weights(process, w, groups, g)[rest], y[rest], 1.0)
        assert result["thresholds"][g] == best.threshold
        keep |= (groups == g) & (x >= best.threshold)
    s, b = w[keep & (y == 1)].sum(), w[keep & (y == 0)].sum()
    assert result["s"] == pytest.approx(s) and result["b"] == pytest.approx(b)
    assert result["significance"] == pytest.approx(float(ASIMOV(s, b)))
    assert result["optimism"] == pytest.approx(result["significance_choosing"] / result["significance"])
