"""The rule every binning method is judged by: significances by hand, yields with MC errors."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from phenoflow.binning.rule import (
    combine_significances,
    combined_significance,
    signal_significances,
    yields_with_errors,
)


def test_signal_significances_and_combinations_by_hand():
    s = np.array([[4.0, 1.0], [1.0, 3.0]])  # two signals, two bins
    b = np.array([10.0, 5.0])

    def za(si, bi):
        return math.sqrt(2 * ((si + bi) * math.log(1 + si / bi) - si))

    z1 = math.sqrt(za(4, 11) ** 2 + za(1, 8) ** 2)  # signal 1 sees b + signal 2
    z2 = math.sqrt(za(1, 14) ** 2 + za(3, 6) ** 2)
    z = signal_significances(s, b)
    assert z == pytest.approx([z1, z2], rel=1e-12)
    assert combine_significances(z, "quadrature") == pytest.approx(math.hypot(z1, z2), rel=1e-12)
    assert combine_significances(z, "geometric_mean") == pytest.approx(math.sqrt(z1 * z2), rel=1e-12)
    assert combine_significances(z, "minimum") == pytest.approx(min(z1, z2), rel=1e-12)
    # one signal: the usual combined Asimov significance
    assert combine_significances(signal_significances(s[:1], b)) == pytest.approx(
        math.hypot(za(4, 10), za(1, 5)), rel=1e-12
    )
    assert signal_significances(s[:1], b)[0] == pytest.approx(combined_significance(s[0], b), rel=1e-12)


def test_yields_with_hist_match_numpy():
    rng = np.random.default_rng(9)
    bins = rng.integers(-1, 5, 500)
    weights = rng.normal(1.0, 0.5, 500)
    labels = rng.integers(0, 3, 500)
    got = yields_with_errors(bins, weights, labels, 5)
    assert sorted(got) == [0, 1, 2]
    for label, (values, errors) in got.items():
        sel = (labels == label) & (bins >= 0)
        assert np.allclose(values, np.bincount(bins[sel], weights=weights[sel], minlength=5))
        assert np.allclose(errors, np.sqrt(np.bincount(bins[sel], weights=weights[sel] ** 2, minlength=5)))


# --- signed (NLO) weights ---------------------------------------------------------------------------

from phenoflow.binning.methods import evaluate_binning  # noqa: E402
from phenoflow.binning.rule import BinRule, BinYields, apply_rule_1d, binned_yields, merge_low_background  # noqa: E402


def _za2(s: float, b: float) -> float:
    """Z_A^2 by hand; a bin whose signed signal is negative is no evidence for the signal (Z = 0)."""
    s = max(s, 0.0)
    return 2 * ((s + b) * math.log(1 + s / b) - s)


def test_the_merge_joins_a_negative_background_bin_to_the_best_neighbour():
    # b of the middle bin is -1: it must go. With bin 0: s = 3, b = 3; with bin 2: s = 5, b = 1.
    # Gains: Z^2(3, 3) - Z^2(1, 4) = 2.086 and Z^2(5, 1) - Z^2(3, 2) = 8.338: it joins bin 2.
    y = BinYields(
        np.array([[1.0, 2.0, 3.0]]), np.array([4.0, -1.0, 2.0]), np.array([1.0, 1.0, 1.0]), np.ones(3), np.ones(3)
    )
    assert _za2(5, 1) - _za2(3, 2) > _za2(3, 3) - _za2(1, 4)
    chain = np.eye(3, k=1, dtype=bool) | np.eye(3, k=-1, dtype=bool)
    groups, n = BinRule().merge(y, chain)
    assert n == 2 and groups.tolist() == [0, 1, 1]
    merged = y.merged(groups, n)
    np.testing.assert_allclose(merged.s, [[1.0, 5.0]])
    np.testing.assert_allclose(merged.b, [4.0, 1.0])
    np.testing.assert_allclose(merged.b_sumw2, [1.0, 2.0])  # sums of w^2 stay positive


def test_merge_low_background_with_negative_bins_by_hand():
    # b (low to high) 2, -1, 3, -2.5, 1 with min 1: from the top, bin 4 alone has 1; bins 3..0
    # then reach 1.5 only with bin 0, so they form one bin
    edges = np.linspace(0, 1, 6)
    out = merge_low_background(edges, np.array([2.0, -1.0, 3.0, -2.5, 1.0]), 1.0)
    np.testing.assert_allclose(out, [0.0, 0.8, 1.0])


def _nlo_sample(seed: int = 4, n: int = 4000):
    """Scores, signed weights (a fifth negative) and labels of a simple 1-D toy."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(int)
    scores = np.clip(rng.beta(np.where(labels == 1, 5, 2), np.where(labels == 1, 2, 5)), 0, 1)
    weights = np.where(labels == 1, 0.01, 0.2) * np.where(rng.random(n) < 0.2, -1.0, 1.0)
    return scores, weights, labels


@pytest.mark.parametrize("method", ["equidistant", "quantile", "optimal"])
def test_every_binning_judges_signed_yields(method):
    """With signed weights each kept bin has b >= min_background, and its s, b and MC error are
    the signed sums (and sqrt(sum w^2)) of its events."""
    scores, weights, labels = _nlo_sample()
    row = evaluate_binning(method, scores, weights, labels, 10, BinRule(min_background=2.0, max_rel_uncertainty=0.3))
    edges = np.array(row["edges"])
    expected = binned_yields(scores, weights, labels, edges)
    np.testing.assert_allclose(row["s"], expected["s"], rtol=1e-12)
    np.testing.assert_allclose(row["b"], expected["b"], rtol=1e-12)
    np.testing.assert_allclose(np.square(row["b_error"]), expected["b_sumw2"], rtol=1e-12)
    b, err = np.array(row["b"]), np.array(row["b_error"])
    assert (b >= 2.0).all() and (err <= 0.3 * b + 1e-12).all()
    assert row["significance"] == pytest.approx(math.sqrt(sum(_za2(s, b) for s, b in zip(row["s"], row["b"]))))
    assert sum(row["b"]) == pytest.approx(weights[labels == 0].sum())  # the signed total is kept


def test_rule_merges_a_bin_whose_signed_background_is_negative():
    # background events: 0.1 (w 3), 0.4 (w -3), 0.45 (w 1), 0.8 (w 2); signal 0.9 (w 1)
    scores = np.array([0.1, 0.4, 0.45, 0.8, 0.9])
    weights = np.array([3.0, -3.0, 1.0, 2.0, 1.0])
    labels = np.array([0, 0, 0, 0, 1])
    # bins [0, .25) b = 3, [.25, .5) b = -2, [.5, 1] b = 2 (s = 1): closing bins from the top, the
    # negative middle bin joins the lowest one (b = 1), and the top bin is kept
    edges, notes = apply_rule_1d(np.array([0.0, 0.25, 0.5, 1.0]), scores, weights, labels, BinRule(min_background=1e-9))
    np.testing.assert_allclose(edges, [0.0, 0.5, 1.0])
    yields = binned_yields(scores, weights, labels, edges)
    np.testing.assert_allclose(yields["b"], [1.0, 2.0])
    np.testing.assert_allclose(yields["s"], [0.0, 1.0])
    np.testing.assert_allclose(yields["b_sumw2"], [19.0, 4.0])
    assert notes == ["1 bin merged for b > 0, b >= 1e-09: 3 -> 2 bins"]


# --- the minimum number of background MC events -----------------------------------------------------

from rule_cases import RULE, TEN, background_counts, top_sample  # noqa: E402

from phenoflow.binning.optimal import event_optimum, optimal_edges  # noqa: E402
from phenoflow.binning.rule import evaluate_bin_map  # noqa: E402


def test_the_rule_counts_whole_background_events():
    b, w2 = np.array([1.0, 1.0]), np.array([0.1, 0.1])
    counted = BinRule(min_background=0.5, max_rel_uncertainty=0.5, min_mc_events=10)
    np.testing.assert_array_equal(counted.obeys(b, w2, np.array([9.0, 10.0])), [False, True])
    loose = BinRule(min_background=0.5, max_rel_uncertainty=0.5)
    np.testing.assert_array_equal(loose.obeys(b, w2, np.array([9.0, 10.0])), [True, True])
    np.testing.assert_array_equal(loose.obeys(b, w2), [True, True])  # no minimum: no count needed
    with pytest.raises(ValueError, match="min_mc_events"):
        counted.obeys(b, w2)


def test_the_merge_refuses_nine_background_events_and_keeps_ten():
    chain = np.eye(2, k=1, dtype=bool) | np.eye(2, k=-1, dtype=bool)
    for n_top, n_kept in ((9, 1), (10, 2)):
        y = BinYields(np.array([[4.5, 5.0]]), np.array([40.0, 0.1 * n_top]), np.array([40.0, 0.01 * n_top]),
                      np.array([50.0, 10.0 + n_top]), np.array([40.0, n_top]))  # fmt: skip
        groups, n = TEN.merge(y, chain)
        assert n == n_kept
        assert y.merged(groups, n).b_events.tolist() == ([40.0 + n_top] if n == 1 else [40.0, n_top])
        assert RULE.merge(y, chain)[1] == 2  # without the minimum both are kept


@pytest.mark.parametrize("method", ["equidistant", "quantile"])
def test_fixed_edges_are_merged_below_ten_background_events(method):
    for n_top in (9, 10):
        scores, weights, labels = top_sample(n_top)
        row = evaluate_binning(method, scores, weights, labels, 2, TEN)
        assert row["b_events"] == background_counts(row["edges"], scores, weights, labels)
        if n_top == 9:  # refused: the top bin is merged into the one below
            assert row["n_bins"] == 1 and row["b_events"] == [49]
            assert row["notes"] == [
                "1 bin merged for b > 0, b >= 0.5, rel. MC uncertainty <= 0.6, >= 10 background MC events: 2 -> 1 bins"
            ]
        else:  # accepted as it is
            assert row["n_bins"] == 2 and row["b_events"] == [40, 10] and row["notes"] == []
            assert row["edges"][1] == pytest.approx(0.5 if method == "equidistant" else 0.675)


def test_apply_rule_merges_nine_background_events_keeps_ten():
    for n_top, want in ((9, [0.0, 1.0]), (10, [0.0, 0.5, 1.0])):
        edges, _ = apply_rule_1d(np.array([0.0, 0.5, 1.0]), *top_sample(n_top), TEN)
        np.testing.assert_allclose(edges, want)


def test_the_optimum_refuses_a_top_bin_of_nine_background_events():
    # ten light events: the best top bin is that region alone (s = 5, b = 1). Nine: a bin of the
    # nine would be better still (b = 0.9) but is refused; the best top bin takes the heaviest
    # score of the low region, the background event at 0.45, and the signal event at 0.445 below
    # it, but not the background event at 0.4397: b = 1.9 from 10 events, s = 5.5
    for n_top in (9, 10):
        scores, weights, labels = top_sample(n_top)
        edges = optimal_edges(scores, weights, labels, 2, TEN)
        assert background_counts(edges, scores, weights, labels) == ([39, 10] if n_top == 9 else [40, 10])
        if n_top == 9:
            assert 0.4397 < edges[1] < 0.445
        else:
            assert 0.45 < edges[1] < 0.9
        row = evaluate_binning("optimal", scores, weights, labels, 2, TEN)
        np.testing.assert_allclose(row["edges"], edges)  # nothing left to merge
        # without the minimum the top bin even leaves out the light event at 0.90, below every
        # signal event of the region: 8 (9) events
        free = optimal_edges(scores, weights, labels, 2, RULE)
        assert background_counts(free, scores, weights, labels) == [41, n_top - 1]
    _, z = event_optimum(*top_sample(9), 2, TEN)
    za2 = _za2(5.5, 1.9) + _za2(4.5, 39.0)
    assert z == pytest.approx(math.sqrt(za2), rel=1e-12)


def test_a_bin_map_merges_nine_background_events_keeps_ten():
    # softmax vectors (background, signal, other): the top region's events at (0.1, 0.8, 0.1),
    # the others at (0.8, 0.1, 0.1); bin 1 is a signal probability above 0.5
    for n_top, n_kept in ((9, 1), (10, 2)):
        scores, weights, labels = top_sample(n_top)
        top = scores > 0.5
        proba = np.where(top[:, None], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1])
        out = evaluate_bin_map(lambda p: (p[:, 1] > 0.5).astype(int), 2, proba, weights, labels, TEN)
        assert out["n_bins"] == n_kept
        assert out["bins"].b_events.tolist() == ([49.0] if n_top == 9 else [40.0, 10.0])


def test_negative_weight_events_count_and_zero_weight_rows_do_not():
    # ten light top events, one of negative weight and one of weight 0: nine MC events
    scores, weights, labels = top_sample(10)
    top = np.flatnonzero((labels == 0) & (scores > 0.5))
    weights[top[0]], weights[top[1]] = -0.05, 0.0
    assert binned_yields(scores, weights, labels, np.array([0.0, 0.5, 1.0]))["b_events"].tolist() == [40.0, 9.0]
    row = evaluate_binning("equidistant", scores, weights, labels, 2, replace(RULE, min_mc_events=9))
    assert row["n_bins"] == 2 and row["b_events"] == [40, 9]
    assert evaluate_binning("equidistant", scores, weights, labels, 2, TEN)["n_bins"] == 1


# --- the rule as one value ----------------------------------------------------------------------------


def test_bin_rule_obeys_each_bound_by_hand():
    """b = 1 is the floor; four MC events of weight 0.25 have sqrt(sum w^2)/b = 0.5 exactly, the bound;
    b within RULE_TOLERANCE below the floor still passes, b = 0.99 or 0 or < 0 does not."""
    rule = BinRule(min_background=1.0, max_rel_uncertainty=0.5, min_mc_events=4)
    b = np.array([1.0, 1.0 - 1e-7, 0.99, 0.0, -1.0, 2.0, 1.0])
    w2 = np.array([0.25, 0.25, 0.0, 0.0, 0.0, 1.0 + 1e-3, 0.25])  # bin 5: sqrt(1.001)/2 > 0.5
    n = np.array([4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0])  # bin 6: one MC event short
    np.testing.assert_array_equal(rule.obeys(b, w2, n), [True, True, False, False, False, False, False])
    # the defaults ask for b > 0 only
    np.testing.assert_array_equal(BinRule().obeys(b, w2), [True, True, True, False, False, True, True])


def test_bin_rule_merges_the_smallest_offender_into_its_best_neighbour():
    # bin 1 (b = 0.5) breaks b >= 1; with bin 0: Z_A^2(3, 2.5) - Z_A^2(1, 2) = 2.673 - 0.433 = 2.240,
    # with bin 2: Z_A^2(4, 5.5) - Z_A^2(2, 5) = 2.384 - 0.711 = 1.674: it joins bin 0
    y = BinYields(np.array([[1.0, 2.0, 2.0]]), np.array([2.0, 0.5, 5.0]), np.ones(3), np.ones(3), np.ones(3))
    assert _za2(3, 2.5) - _za2(1, 2) > _za2(4, 5.5) - _za2(2, 5)
    chain = np.eye(3, k=1, dtype=bool) | np.eye(3, k=-1, dtype=bool)
    rule = BinRule(min_background=1.0)
    groups, n = rule.merge(y, chain)
    assert n == 2 and groups.tolist() == [0, 0, 1]
    assert rule.note(3, n, "") == ["1 bin merged for b > 0, b >= 1: 3 -> 2 bins"]
    assert rule.note(3, 3, "") == []
    # a bin that touches no bin joins the best of all of them; one bin left always stays
    groups, n = rule.merge(y, np.zeros((3, 3), dtype=bool))
    assert n == 2 and groups.tolist() == [0, 0, 1]
    groups, n = BinRule(min_background=100.0).merge(y, chain)  # 7.5 events in all
    assert n == 1 and groups.tolist() == [0, 0, 0]


def test_bin_rule_is_a_checked_frozen_value():
    import dataclasses

    rule = BinRule(min_background=1.0, max_rel_uncertainty=0.5, min_mc_events=10)
    assert rule.describe() == "b > 0, b >= 1, rel. MC uncertainty <= 0.5, >= 10 background MC events"
    assert BinRule().describe() == "b > 0, b >= 0"
    assert rule.as_dict()["significance"] == {"relative_background_uncertainty": 0.0, "mc_statistics": False}
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.min_background = 2.0
    with pytest.raises(TypeError):
        BinRule(1.0)  # keywords only: three numbers in a row are easy to swap
    for key, value in (("min_background", -1.0), ("max_rel_uncertainty", 0.0), ("min_mc_events", -1)):
        with pytest.raises(ValueError, match=f"binning.{key}"):
            BinRule(**{key: value})
