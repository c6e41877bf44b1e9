"""Gaussian-mixture bin optimisation: annealing, determinism, optimality, yields, rules, n-D."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from phenoflow.binning.gmm import (
    GMMBinningResult,
    GMMSettings,
    coarse_optimum_edges,
    differentiable_significance,
    fine_cells,
    fit_gmm_binning,
    schedule,
)
from phenoflow.binning.optimal import event_optimum, fine_histograms, optimal_partition
from phenoflow.binning.rule import (
    BinRule,
    binned_yields,
    combine_significances,
    combined_significance,
    evaluate_bin_map,
    signal_significances,
)
from phenoflow.binning.simplex import ArgmaxQuantileMap, RegularGridMap, free_coordinates
from phenoflow.binning.toys import softmax_toy

FAST = GMMSettings(n_steps=250, n_restarts=3, n_fine=300)
#: a soft start (T: 10 -> 0.01), one start
ANNEALED = GMMSettings(
    temperature=(10.0, 0.01), temperature_schedule="exponential", n_steps=250, n_restarts=1, n_fine=300
)


def beta_toy(n_signal: int = 2000, n_background: int = 6000, seed: int = 1):
    """Signal ~ Beta(5, 2), background ~ Beta(2, 5); weights vary by +-50% around a total of 30
    signal and 1000 background events."""
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.beta(5, 2, n_signal), rng.beta(2, 5, n_background)]
    labels = np.r_[np.ones(n_signal, int), np.zeros(n_background, int)]
    weights = rng.uniform(0.5, 1.5, len(scores)) * np.where(labels == 1, 30 / n_signal, 1000 / n_background)
    return scores, weights, labels


def simplex_toy(seed: int = 2):
    """Softmax scores (signal A, signal B, background) of a 3-class toy: label 0 background,
    1 signal A, 2 signal B (:func:`phenoflow.binning.toys.softmax_toy`)."""
    toy = softmax_toy(seed=seed)
    return toy["scores"], toy["weights"], toy["labels"]


def finite_everywhere(result: GMMBinningResult) -> bool:
    arrays = [result.bins.s, result.bins.b, result.bins.b_sumw2, result.signal_significance, result.component_bias]
    arrays += [v for pair in result.group_yields.values() for v in pair]
    return bool(np.isfinite(result.significance) and all(np.all(np.isfinite(a)) for a in arrays))


@pytest.fixture(scope="module")
def toy():
    return beta_toy()


@pytest.fixture(scope="module")
def annealed(toy):
    """K = 4 from a soft start (T: 10 -> 0.01) under a background floor of 20 events; one start,
    so that the history is that of the equal-signal-quantile initialisation."""
    return fit_gmm_binning(*toy, 4, rule=BinRule(min_background=20.0), settings=ANNEALED, seed=3)


def test_schedules():
    assert np.allclose(schedule("constant", 2.0, 0.1, 4), 2.0)
    assert np.allclose(schedule("cosine", 1.0, 0.0, 3), [1.0, 0.5, 0.0])
    assert np.allclose(schedule("exponential", 1.0, 0.01, 3), [1.0, 0.1, 0.01])
    with pytest.raises(ValueError):
        schedule("linear", 1.0, 0.0, 3)


def test_annealing_sharpens_the_soft_assignment(annealed):
    h = annealed.history
    # the temperature variable read back inside the compiled loop follows the schedule
    assert np.allclose(h["temperature"], schedule("exponential", 10.0, 0.01, ANNEALED.n_steps))
    assert np.allclose(h["learning_rate"], schedule("cosine", 0.01, 0.0005, ANNEALED.n_steps))
    assert h["sharpness"][0] < 0.8
    assert h["sharpness"][-1] > 0.99
    assert np.mean(h["sharpness"][-20:]) > np.mean(h["sharpness"][:20]) + 0.15
    assert len(h["loss"]) == len(h["z_soft"]) == ANNEALED.n_steps


def test_same_seed_gives_identical_boundaries(toy, annealed):
    fit_gmm_binning(*toy, 5, settings=FAST, seed=3)  # another shape in between: the loop is retraced for any size
    again = fit_gmm_binning(*toy, 4, rule=BinRule(min_background=20.0), settings=ANNEALED, seed=3)
    assert np.array_equal(again.edges, annealed.edges)
    assert np.array_equal(again.history["loss"], annealed.history["loss"])
    assert np.array_equal(again.means, annealed.means)


def test_near_the_dp_optimum_on_an_easy_toy(toy):
    scores, weights, labels = toy
    result = fit_gmm_binning(
        scores, weights, labels, 4, rule=BinRule(min_background=5.0), settings=GMMSettings(n_fine=300)
    )
    s, b, w2, _, _ = fine_histograms(scores, weights, labels, 300)
    optimum = math.sqrt(optimal_partition(s, b, w2, 4, BinRule(min_background=5.0)).objective)
    assert result.significance >= 0.97 * optimum
    assert result.n_bins <= 4
    y = binned_yields(scores, weights, labels, result.edges)
    assert np.all(y["b"] >= 5.0)
    assert result.significance == pytest.approx(combined_significance(y["s"], y["b"]), rel=1e-12)


def test_soft_yields_sum_to_the_totals(toy, annealed):
    _, weights, labels = toy
    soft, hard = annealed.component_soft, annealed.component_hard
    for comp in (soft, hard):
        assert comp.s.sum() == pytest.approx(weights[labels == 1].sum(), rel=1e-10)
        assert comp.b.sum() == pytest.approx(weights[labels == 0].sum(), rel=1e-10)
        assert comp.b_sumw2.sum() == pytest.approx(np.sum(weights[labels == 0] ** 2), rel=1e-10)
    # at T = 0.01 the soft yields are close to the hard ones (the bias)
    assert np.sum(np.abs(hard.b - soft.b)) < 0.02 * hard.b.sum()
    assert np.all(np.abs(annealed.component_bias) <= 1.0)


def test_hard_yields_equal_numpy_histograms(toy, annealed):
    scores, weights, labels = toy
    edges = annealed.edges
    assert edges[0] == 0.0 and edges[-1] == 1.0 and np.all(np.diff(edges) > 0)
    y = binned_yields(scores, weights, labels, edges)
    assert np.allclose(annealed.bins.s[0], y["s"], rtol=1e-12)
    assert np.allclose(annealed.bins.b, y["b"], rtol=1e-12)
    assert np.allclose(annealed.bins.b_sumw2, y["b_sumw2"], rtol=1e-12)
    for label, (values, errors) in annealed.group_yields.items():
        sel = labels == label
        assert np.allclose(values, np.histogram(scores[sel], edges, weights=weights[sel])[0])
        assert np.allclose(errors, np.sqrt(np.histogram(scores[sel], edges, weights=weights[sel] ** 2)[0]))
    assert np.array_equal(annealed.bin_map(scores), np.digitize(scores, edges[1:-1]))


def test_no_background_region_gives_no_empty_bin():
    rng = np.random.default_rng(7)
    scores = np.r_[rng.uniform(0.3, 1.0, 1500), rng.uniform(0.0, 0.5, 3000)]
    labels = np.r_[np.ones(1500, int), np.zeros(3000, int)]
    weights = np.where(labels == 1, 0.01, 0.5)
    result = fit_gmm_binning(scores, weights, labels, 3, settings=FAST)  # no constraint: b -> 0 is attractive
    assert finite_everywhere(result)
    assert np.all(result.bins.b > 0)
    # the soft Z rewards b -> 0 (no rule), yet the hard state kept never has an empty bin; had
    # one been chosen, it would have been merged with a note (test_bin_rule.py)
    assert np.all(np.isfinite(result.history["loss"])) and np.all(np.isfinite(result.history["z_soft"]))
    assert np.all(np.isfinite(result.restart_significance)) and result.n_bins <= 3


def test_too_many_components_give_fewer_bins_and_a_warning():
    rng = np.random.default_rng(8)
    levels = np.array([0.1, 0.4, 0.7, 0.95])
    scores = rng.choice(levels, 4000, p=[0.4, 0.3, 0.2, 0.1])
    labels = (rng.random(4000) < np.interp(scores, levels, [0.05, 0.2, 0.5, 0.8])).astype(int)
    weights = np.where(labels == 1, 0.01, 0.2)
    result = fit_gmm_binning(scores, weights, labels, 8, settings=FAST)
    assert result.n_effective <= 4 and result.n_bins <= 4
    assert any(w.startswith("K=8 requested") for w in result.warnings)
    assert finite_everywhere(result)


def test_differentiable_significance_matches_the_exact_one():
    """Against the exact significances (checked by hand in test_bin_rule.py) on the same two
    signals in two bins; the smooth minimum lies below the exact one by at most tau ln 2."""
    import tensorflow as tf

    s = np.array([[4.0, 1.0], [1.0, 3.0]])
    b = np.array([10.0, 5.0])
    z = signal_significances(s, b)
    for rule in ("quadrature", "geometric_mean", "minimum"):
        expected = combine_significances(z, rule)
        zt, zi = differentiable_significance(tf.constant(s), tf.constant(b), rule)
        assert zi.numpy() == pytest.approx(z, rel=1e-10)
        tol = 0.02 * np.mean(z) * math.log(2) if rule == "minimum" else 1e-10 * expected
        assert expected - tol <= float(zt) <= expected + 1e-10


def test_differentiable_significance_is_finite_without_background():
    import tensorflow as tf

    s = tf.Variable([[2.0, 0.0, 1.0]], dtype=tf.float64)
    b = tf.Variable([0.0, 0.0, 3.0], dtype=tf.float64)
    with tf.GradientTape() as tape:
        z, _ = differentiable_significance(s, b)
    grads = tape.gradient(z, [s, b])
    assert np.isfinite(float(z))
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_the_mixture_goes_through_the_registry_with_its_fit(toy):
    from phenoflow.binning.methods import MethodOptions, registered

    scores, weights, labels = toy
    rule = BinRule(min_background=50.0, max_rel_uncertainty=0.1)
    chosen = registered("gmm")(scores, weights, labels, 3, rule, MethodOptions(seed=1, gmm=FAST))
    edges = chosen.edges
    assert chosen.fit.rule == rule and chosen.fit.seed == 1 and chosen.fit.settings == FAST
    assert np.array_equal(edges, chosen.fit.edges) and chosen.bin_map is None and chosen.warnings == chosen.fit.warnings
    assert edges[0] == 0.0 and edges[-1] == 1.0 and np.all(np.diff(edges) > 0) and len(edges) <= 4
    y = binned_yields(scores, weights, labels, edges)
    assert np.all(y["b"] >= 50.0) and np.all(np.sqrt(y["b_sumw2"]) <= 0.1 * y["b"])


def test_several_signals_in_one_dimension(toy):
    scores, weights, labels = toy
    labels = labels.copy()
    labels[(labels == 1) & (scores < 0.7)] = 2  # a second, softer signal
    result = fit_gmm_binning(scores, weights, labels, 3, signal_labels=(1, 2), combination="minimum", settings=FAST)
    assert result.signal_significance.shape == (2,)
    assert result.significance == pytest.approx(result.signal_significance.min())
    assert result.bins.s.shape == (2, result.n_bins)


@pytest.fixture(scope="module")
def simplex_fit():
    scores, weights, labels = simplex_toy()
    fit = fit_gmm_binning(
        scores,
        weights,
        labels,
        5,
        signal_labels=(1, 2),
        rule=BinRule(min_background=10.0),
        settings=GMMSettings(n_steps=150, n_restarts=2, n_fine=40),
    )
    return (scores, weights, labels), fit


def test_simplex_mixture_assigns_every_event(simplex_fit):
    (scores, weights, labels), result = simplex_fit
    bins = result.bin_map(scores)
    assert bins.shape == (len(scores),) and bins.min() >= 0 and bins.max() < result.n_bins
    assert np.unique(bins).size == result.n_bins
    assert result.bins.b.sum() == pytest.approx(weights[labels == 0].sum())
    assert result.bins.s.sum() == pytest.approx(weights[labels != 0].sum())
    assert np.all(result.bins.b >= 10.0)
    assert result.image.shape == (200, 200)
    assert np.isnan(result.image[-1, -1]) and np.isfinite(result.image[0, 0])
    assert finite_everywhere(result)
    # the n-D baselines on the same events
    for bin_map in (RegularGridMap.for_bins(3, 5), ArgmaxQuantileMap.fit(scores, 5)):
        assigned = bin_map(scores)
        assert assigned.min() >= 0 and assigned.max() < bin_map.n_bins
        out = evaluate_bin_map(bin_map, bin_map.n_bins, scores, weights, labels, BinRule(min_background=10.0), (1, 2))
        assert np.all(out["bins"].b >= 10.0) and np.isfinite(out["significance"])
    assert (
        result.significance
        > evaluate_bin_map(
            RegularGridMap.for_bins(3, 5), 3, scores, weights, labels, BinRule(min_background=10.0), (1, 2)
        )["significance"]
    )


def test_regular_grid_cells_cover_the_simplex():
    grid = RegularGridMap.for_bins(3, 10)
    assert grid.m == 4 and grid.n_bins == 10
    corners = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    assert np.all((grid(corners) >= 0) & (grid(corners) < 10))
    with pytest.raises(ValueError):
        free_coordinates(np.array([[0.5, 0.6, 0.1]]))


def test_plots_are_written_as_png_and_pdf(tmp_path, toy, annealed, simplex_fit):
    from phenoflow.binning import plots as binning_plots
    from phenoflow.plotstyle import Collision

    scores, weights, labels = toy
    label = {"collision": Collision(None, 0.1)}  # the toy: 100 pb^-1, no beams
    edges = annealed.edges
    written = [
        binning_plots.binned_stack(
            edges,
            {"background": annealed.bins.b},
            {"signal": annealed.bins.s[0]},
            tmp_path / "stack.png",
            background_error=np.sqrt(annealed.bins.b_sumw2),
            log=True,
            signal_scale=10.0,
            **label,
        ),
        binning_plots.binned_stack(
            None, {"b": annealed.bins.b}, {"s": annealed.bins.s[0]}, tmp_path / "stack_lin.png", **label
        ),
        binning_plots.significance_vs_bins({"GMM": ([2, 4], [1.0, 1.2])}, tmp_path / "z.png", **label),
        binning_plots.training_history(annealed.history, tmp_path / "history.png", **label),
        binning_plots.mixture_components_1d(
            scores,
            weights,
            labels == 1,
            annealed,
            tmp_path / "components.png",
            reference=(edges[1:], "the mixture's, but one"),
            **label,
        ),
        binning_plots.simplex_bin_map(
            simplex_fit[1].image, tmp_path / "simplex.png", points=simplex_fit[0][0][:200], **label
        ),
    ]
    for png, pdf in written:
        assert png.suffix == ".png" and pdf.suffix == ".pdf"
        assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"
    assert not list(tmp_path.glob(".*.tmp"))


# --- signed (NLO) weights ---------------------------------------------------------------------------


def test_rule_penalty_by_hand_including_negative_background():
    import tensorflow as tf

    from phenoflow.binning.gmm import rule_penalty

    # min_b 2, max_rel 0.5, min_n 10, lambda_b 10, lambda_u 3, lambda_n 2, margin 0; bins b = 4, 1,
    # -2 with w2 = 1, 0.04, 1 and n = 12, 5, 9.5 background MC events (soft: fractions)
    #   background hinge relu(1 - b / 2): 0, 0.5, 2  -> 10 (0.25 + 4) = 42.5
    #   uncertainty relu(1 - n 0.5^2), n = max(b, 0)^2 / w2 = 16, 25, 0: 0, 0, 1 -> 3
    #   events relu(1 - n / 10): 0, 0.5, 0.05 -> 2 (0.25 + 0.0025) = 0.505
    b = tf.constant([[4.0, 1.0, -2.0]], tf.float64)
    w2 = tf.constant([[1.0, 0.04, 1.0]], tf.float64)
    n = tf.constant([[12.0, 5.0, 9.5]], tf.float64)
    rule = tuple(tf.constant(v, tf.float64) for v in (2.0, 0.5, 10.0, 10.0, 3.0, 2.0, 0.0))
    assert rule_penalty(b, w2, rule).numpy()[0] == pytest.approx(45.5, rel=1e-12)
    assert rule_penalty(b, w2, rule, n).numpy()[0] == pytest.approx(46.005, rel=1e-12)
    # the safety margin asks for (1 + margin) times the minimum: 10 events fall short of 11
    margin = rule[:-1] + (tf.constant(0.1, tf.float64),)
    ten = rule_penalty(
        tf.constant([[4.0]], tf.float64), tf.constant([[1.0]], tf.float64), margin, tf.constant([[10.0]], tf.float64)
    )
    assert ten.numpy()[0] == pytest.approx(2.0 * (1 - 10 / 11) ** 2, rel=1e-12)
    # a soft bin holding a fraction g of one MC event of weight 1e6: relative uncertainty
    # 1/sqrt(g), but the hinge on its effective count n = g stays below lambda_u (no blow-up)
    g = 1e-8
    tiny = rule_penalty(tf.constant([[g * 1e6]], tf.float64), tf.constant([[g * 1e12]], tf.float64), rule)
    assert tiny.numpy()[0] == pytest.approx(10.0 * (1 - g * 1e6 / 2) ** 2 + 3.0 * (1 - g / 4) ** 2, rel=1e-9)
    # only the background hinge: its gradient pulls the negative bin up (d/db = -2 lambda_b relu / 2)
    rule = tuple(tf.constant(v, tf.float64) for v in (2.0, 0.5, 1.0, 10.0, 0.0, 0.0, 0.0))
    with tf.GradientTape() as tape:
        tape.watch(b)
        penalty = rule_penalty(b, w2, rule)
    np.testing.assert_allclose(penalty.numpy(), [42.5])
    np.testing.assert_allclose(tape.gradient(penalty, b).numpy(), [[0.0, -5.0, -20.0]])


def test_rule_background_by_hand():
    import tensorflow as tf

    from phenoflow.binning.gmm import rule_background

    # min_b 2, max_rel 0.5 (1/max_rel^2 = 4): b = 10 with w2 = 4 obeys the rule -> 10; b = 1 ->
    # the floor 2; b = 5 with w2 = 25 (one MC event of weight 5) -> 4 * 25 / 5 = 20, four
    # events' worth; b = 0 -> 2; b = -1 -> 2
    b = tf.constant([10.0, 1.0, 5.0, 0.0, -1.0], tf.float64)
    w2 = tf.constant([4.0, 0.01, 25.0, 0.0, 1.0], tf.float64)
    np.testing.assert_allclose(rule_background(b, b, w2, 2.0, 4.0).numpy(), [10.0, 2.0, 20.0, 2.0, 2.0])
    # without the rule it is b itself
    np.testing.assert_allclose(rule_background(b, b, w2, 0.0, 0.0).numpy(), [10.0, 1.0, 5.0, 0.0, 0.0])
    # at least 10 MC events: b = 10 from 12 events obeys it; b = 5 from 1 event needs ten such
    # events, 50; b = 1 from 4 events (mean weight 0.25) needs 2.5, above the floor 2; b = 0 and
    # b = -1 take the floor
    n = tf.constant([12.0, 4.0, 1.0, 0.0, 3.0], tf.float64)
    np.testing.assert_allclose(rule_background(b, b, w2, 2.0, 0.0, n, 10.0).numpy(), [10.0, 2.5, 50.0, 2.0, 2.0])
    np.testing.assert_allclose(rule_background(b, b, w2, 2.0, 4.0, n, 10.0).numpy(), [10.0, 2.5, 50.0, 2.0, 2.0])
    np.testing.assert_allclose(rule_background(b, b, w2, 0.0, 0.0, n, 0.0).numpy(), [10.0, 1.0, 5.0, 0.0, 0.0])


def test_soft_yields_keep_signed_weights_by_hand():
    from phenoflow.binning.gmm import FineCells
    from phenoflow.binning.gmm.fit import _soft_yields
    from phenoflow.binning.rule import BinYields

    # two cells at 0.2 and 0.8; cell 1 has a negative background. Components at 0.2 and 0.8
    # (width 0.1, equal weights) at T = 1: gamma of the near component is 1 / (1 + exp(-18))
    cells = FineCells(
        np.array([[0.2], [0.8]]),
        BinYields(
            np.array([[1.0, -0.5]]),
            np.array([3.0, -1.0]),
            np.array([2.0, 1.0]),
            np.array([5.0, 4.0]),
            np.array([3.0, 2.0]),
        ),
        np.array([0, 1]),
    )
    y = _soft_yields(cells, np.log([0.5, 0.5]), np.array([[0.2], [0.8]]), np.full((2, 1, 1), 0.1), 1.0)
    g = 1.0 / (1.0 + math.exp(-18.0))
    np.testing.assert_allclose(y.s, [[g - 0.5 * (1 - g), (1 - g) - 0.5 * g]], rtol=1e-12)
    np.testing.assert_allclose(y.b, [3 * g - (1 - g), 3 * (1 - g) - g], rtol=1e-12)
    np.testing.assert_allclose(y.b_sumw2, [2 * g + (1 - g), 2 * (1 - g) + g], rtol=1e-12)
    np.testing.assert_allclose(y.b_events, [3 * g + 2 * (1 - g), 3 * (1 - g) + 2 * g], rtol=1e-12)


def test_gmm_with_negative_weights_obeys_the_rule_on_signed_yields(toy):
    scores, weights, labels = toy
    rng = np.random.default_rng(8)
    signed = weights * np.where(rng.random(len(weights)) < 0.2, -1.0, 1.0)  # NLO-like: a fifth negative
    rule = BinRule(min_background=5.0, max_rel_uncertainty=0.3)
    result = fit_gmm_binning(scores, signed, labels, 4, rule=rule, settings=FAST, seed=1)
    assert finite_everywhere(result)
    y = binned_yields(scores, signed, labels, result.edges)
    np.testing.assert_allclose(result.bins.b, y["b"], rtol=1e-12)
    np.testing.assert_allclose(result.bins.s[0], y["s"], rtol=1e-12)
    assert np.all(y["b"] >= 5.0) and np.all(np.sqrt(y["b_sumw2"]) <= 0.3 * y["b"])
    assert y["b"].sum() == pytest.approx(signed[labels == 0].sum(), rel=1e-12)
    assert result.significance == pytest.approx(combined_significance(y["s"], y["b"]), rel=1e-12)
    # the soft yields at the final temperature keep the signed totals
    assert result.component_soft.b.sum() == pytest.approx(signed[labels == 0].sum(), rel=1e-9)
    assert result.component_soft.s.sum() == pytest.approx(signed[labels == 1].sum(), rel=1e-9)


# --- the minimum number of background MC events -----------------------------------------------------

from rule_cases import RULE, TEN, background_counts, top_sample  # noqa: E402


def test_mixture_refuses_a_bin_of_nine_background_events_and_keeps_ten():
    """The hand-made case of test_bin_rule.py: the mixture reaches the exact optimum under the rule
    (one fine cell per event, fewer than the coarse cells, so its coarse-DP start is exact), whose
    top bin holds ten background MC events: the ten light ones, or the nine and one more; without
    the minimum its top bin holds fewer."""
    for n_top in (9, 10):
        scores, weights, labels = top_sample(n_top)
        _, optimum = event_optimum(scores, weights, labels, 2, TEN)
        fit = fit_gmm_binning(scores, weights, labels, 2, rule=TEN, settings=GMMSettings(n_steps=50))
        counts = [39, 10] if n_top == 9 else [40, 10]
        assert background_counts(fit.edges, scores, weights, labels) == counts
        assert fit.bins.b_events.tolist() == counts and fit.rule.min_mc_events == 10
        assert fit.significance == pytest.approx(optimum, rel=1e-9)
        free = fit_gmm_binning(scores, weights, labels, 2, rule=RULE, settings=GMMSettings(n_steps=50))
        assert min(background_counts(free.edges, scores, weights, labels)) < 10


def test_coarse_dp_starts_obey_the_minimum():
    scores, weights, labels = top_sample(9)
    cells = fine_cells(scores, weights, labels, (1,), 2000)  # one cell per event
    edges = coarse_optimum_edges(cells, 2, 600, 0.0, 1.0, TEN)
    assert background_counts(edges, scores, weights, labels) == [39, 10]
    free = coarse_optimum_edges(cells, 2, 600, 0.0, 1.0, RULE)
    assert background_counts(free, scores, weights, labels) == [41, 8]
    assert coarse_optimum_edges(cells, 2, 600, 0.0, 1.0, replace(RULE, min_mc_events=50)) is None  # 49 in all


@pytest.mark.parametrize(("n_top", "minimum", "feasible"), [(9, 10, False), (10, 10, True), (9, 9, True)])
def test_training_marks_a_hard_state_of_too_few_events_infeasible(n_top, minimum, feasible):
    """The training's check of the hard state: bins [0, 0.5) and [0.5, 1] (two components of equal
    width, so their argmax boundary is exactly 0.5), whose top bin holds the n_top light events,
    score their Z if every bin obeys the rule, else -1."""
    from phenoflow.binning.gmm.cells import _Init, _mixture_from_edges
    from phenoflow.binning.gmm.training import _train

    scores, weights, labels = top_sample(n_top)
    cells = fine_cells(scores, weights, labels, (1,), 2000)
    log_w, mu, sigma = _mixture_from_edges(np.array([0.0, 0.5, 1.0]), 2)
    init = _Init((log_w - np.log(np.exp(log_w).sum()))[None], mu[None, :, None], sigma[None, :, None, None])
    one_step = GMMSettings(n_steps=1, temperature=(0.01, 0.01), learning_rate=(1e-12, 1e-12))
    trained = _train(cells, init, (0.0, 1.0), "quadrature", replace(RULE, min_mc_events=minimum), one_step)
    z_hard = float(trained.history["z_hard"][0, 0])
    if feasible:
        s, b = np.array([5.0, 5.0]), np.array([40.0, 0.1 * n_top])
        assert z_hard == pytest.approx(combined_significance(s, b), rel=1e-5)  # float32 training
    else:
        assert z_hard == -1.0


# --- the settings ----------------------------------------------------------------------------------


def test_settings_from_the_config_block():
    """Each config key sets its settings (schedule and penalty two each), lists become tuples, unset
    keys keep the defaults; the dimension's defaults are filled in when a fit resolves them."""
    settings = GMMSettings.from_config(
        {"steps": 40, "restarts": 3, "fine_bins": 50, "coarse_bins": 0, "temperature": [1.0, 0.1],
         "learning_rate": [0.02, 0.001], "schedule": "exponential", "penalty": 5.0}
    )  # fmt: skip
    assert settings == GMMSettings(
        n_steps=40, n_restarts=3, n_fine=50, n_coarse=0, temperature=(1.0, 0.1), learning_rate=(0.02, 0.001),
        temperature_schedule="exponential", learning_rate_schedule="exponential",
        penalty_background=5.0, penalty_uncertainty=5.0,
    )  # fmt: skip
    assert GMMSettings.from_config({}) == GMMSettings.from_config(None) == GMMSettings()
    default = GMMSettings()
    assert (default.resolved(one_d=True).n_restarts, default.resolved(one_d=True).n_fine) == (6, 2000)
    assert (default.resolved(one_d=False).n_restarts, default.resolved(one_d=False).n_fine) == (4, 100)
    assert settings.resolved(one_d=False) == settings  # set values are kept
    np.testing.assert_array_equal(settings.temperatures(), schedule("exponential", 1.0, 0.1, 40))
    np.testing.assert_array_equal(settings.learning_rates(), schedule("exponential", 0.02, 0.001, 40))


def test_the_default_config_trains_the_mixture_with_the_defaults():
    """config/config.yaml leaves the mixture's settings to the schema, whose defaults Snakemake's
    validate fills in: the settings are the library's defaults."""
    from pathlib import Path

    import yaml
    from snakemake.utils import validate

    repo = Path(__file__).parents[1]
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    assert "gmm" not in config["binning"]
    validate(config, str(repo / "workflow" / "schemas" / "config.schema.yaml"))
    assert GMMSettings.from_config(config["binning"]["gmm"]) == GMMSettings()


def test_settings_refuse_unknown_keys_and_bad_values_naming_the_config_key():
    with pytest.raises(ValueError, match=r"binning\.gmm\.step is not a setting.*known: steps, restarts"):
        GMMSettings.from_config({"step": 100})
    for block, key in (({"steps": 0}, "steps"), ({"restarts": 0}, "restarts"), ({"coarse_bins": -1}, "coarse_bins"),
                       ({"schedule": "linear"}, "schedule"), ({"temperature": [0.1]}, "temperature"),
                       ({"learning_rate": [0.1, 0.0]}, "learning_rate"), ({"penalty": -1.0}, "penalty")):  # fmt: skip
        with pytest.raises(ValueError, match=rf"binning\.gmm\.{key} "):
            GMMSettings.from_config(block)
