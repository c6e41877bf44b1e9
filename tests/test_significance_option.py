"""The config's significance option (Cowan's Z with a background uncertainty) wired through the
score scan, the cut-and-count, the binning rule, the DP, the Gaussian mixture and the comparison
table; with both settings off every result is the plain Asimov one."""

import math
from dataclasses import replace

import numpy as np
import pytest

from phenoflow.binning.optimal import bin_value_matrix, optimal_partition
from phenoflow.binning.rule import BinRule, BinYields, combined_significance, signal_significances
from phenoflow.evaluation.comparison import comparison_row, comparison_table, write_comparison
from phenoflow.evaluation.metrics import max_significance
from phenoflow.evaluation.scores import evaluate
from phenoflow.models.cuts import Cut, CutAndCount
from phenoflow.significance import ASIMOV, Significance, asimov_significance_with_uncertainty

OFF = Significance.from_config({"relative_background_uncertainty": 0.0, "mc_statistics": False})
MC = Significance.from_config({"mc_statistics": True})


def cowan2(s: float, b: float, v: float) -> float:
    """Z^2 by Cowan's formula written out (v = sigma_b^2; v = 0: the plain Asimov Z_A^2)."""
    if v == 0:
        return 2 * ((s + b) * math.log(1 + s / b) - s)
    first = (s + b) * math.log((s + b) * (b + v) / (b * b + (s + b) * v))
    return 2 * (first - b * b / v * math.log(1 + v * s / (b * (b + v))))


def test_the_option_from_the_config():
    assert OFF == ASIMOV and OFF.plain and OFF.describe() == "Asimov"
    both = Significance.from_config({"relative_background_uncertainty": 0.1, "mc_statistics": True})
    assert not both.plain and both.describe() == "10 % syst. + MC stat."
    # sigma_b^2 = (0.1 * 20)^2 + 2.25 = 6.25; a rounding-negative sum of w^2 counts as 0
    assert both.sigma_b(20.0, 2.25) == pytest.approx(2.5)
    assert both.sigma_b(20.0, -1e-18) == pytest.approx(2.0)
    assert both(5.0, 20.0, 2.25) == pytest.approx(math.sqrt(cowan2(5.0, 20.0, 6.25)), rel=1e-12)
    assert Significance(0.1)(5.0, 20.0, 1e6) == pytest.approx(math.sqrt(cowan2(5.0, 20.0, 4.0)), rel=1e-12)
    with pytest.raises(ValueError, match="unknown"):
        Significance.from_config({"relative": 0.1})
    with pytest.raises(ValueError, match="relative_background_uncertainty"):
        Significance(-0.1)


# --- the score scan -----------------------------------------------------------------------------


def scan_sample():
    """Cuts score >= 0.9 / 0.5 / 0.1 keep s = 4 / 6 / 6.5 and b = 3 / 11 / 51 with sum w^2 = 9 / 17 / 57:
    the tightest cut's background is one event of weight 3."""
    scores = np.r_[0.9, 0.9, 0.9, 0.5, np.full(8, 0.5), 0.1, np.full(40, 0.1)]
    weights = np.r_[2.0, 2.0, 3.0, 2.0, np.ones(8), 0.5, np.ones(40)]
    labels = np.r_[1, 1, 0, 1, np.zeros(8), 1, np.zeros(40)].astype(int)
    return scores, weights, labels


def test_the_scan_moves_its_threshold_for_the_mc_uncertainty():
    scores, weights, labels = scan_sample()
    plain = max_significance(scores, weights, labels, min_background=1.0)
    # Z_A: 1.9652 (0.9), 1.6736 (0.5), 0.8918 (0.1)
    assert (plain.threshold, plain.s, plain.b, plain.sigma_b) == (0.9, 4.0, 3.0, 0.0)
    assert plain.significance == pytest.approx(math.sqrt(cowan2(4, 3, 0)), rel=1e-12)
    assert plain.significance == pytest.approx(1.96524, abs=1e-5)
    # with sigma_b^2 = sum w^2: 0.8785 (0.9), 1.0014 (0.5), 0.6063 (0.1)
    best = max_significance(scores, weights, labels, min_background=1.0, significance=MC)
    assert (best.threshold, best.s, best.b) == (0.5, 6.0, 11.0)
    assert best.sigma_b == pytest.approx(math.sqrt(17.0))
    assert best.significance == pytest.approx(math.sqrt(cowan2(6, 11, 17)), rel=1e-12)
    assert best.significance == pytest.approx(1.00138, abs=1e-5)
    assert best.s_over_sqrt_b == pytest.approx(6 / math.sqrt(11))
    # a relative systematic alone: sigma_b = 0.3 b
    syst = max_significance(scores, weights, labels, 1.0, Significance(0.3))
    want = {t: cowan2(s, b, (0.3 * b) ** 2) for t, s, b in ((0.9, 4, 3), (0.5, 6, 11), (0.1, 6.5, 51))}
    assert syst.threshold == max(want, key=want.get)
    assert syst.significance == pytest.approx(math.sqrt(max(want.values())), rel=1e-12)
    assert syst.sigma_b == pytest.approx(0.3 * syst.b)


def test_metrics_hold_both_maxima_and_off_is_the_plain_scan():
    scores, weights, labels = scan_sample()
    both = Significance(0.1, True)
    metrics = evaluate(scores, weights, labels, 1.0, both).metrics
    assert metrics["max_significance"] == max_significance(scores, weights, labels, 1.0).as_dict()
    with_u = metrics["max_significance_with_uncertainty"]
    assert with_u == {**max_significance(scores, weights, labels, 1.0, both).as_dict(), **both.as_dict()}
    assert {"threshold", "significance", "s", "b", "sigma_b"} <= set(with_u)
    off = evaluate(scores, weights, labels, 1.0, OFF).metrics
    assert off["max_significance_with_uncertainty"] == {**off["max_significance"], **OFF.as_dict()}
    assert off == {**evaluate(scores, weights, labels, 1.0).metrics}


# --- the cut-and-count ------------------------------------------------------------------------------


@pytest.mark.parametrize("topology", ["sequential", "parallel"])
def test_the_cut_and_count_follows_the_option(topology, tmp_path):
    scores, weights, labels = scan_sample()
    x = scores[:, None]
    plain = CutAndCount(seed=0, topology=topology)
    plain.fit(x, labels, weights)
    assert plain.cuts == [Cut(0, low=0.9)]
    model = CutAndCount(seed=0, topology=topology, significance=Significance(mc_statistics=True))
    history = model.fit(x, labels, weights, validation=(x, labels, weights))
    assert model.cuts == [Cut(0, low=0.5)]
    assert history["train_significance"].iloc[0] == pytest.approx(math.sqrt(cowan2(6, 11, 17)), rel=1e-12)
    assert history["val_significance"].iloc[0] == history["train_significance"].iloc[0]
    assert model.baseline_significance == pytest.approx(math.sqrt(cowan2(6.5, 51, 57)), rel=1e-12)
    model.save(tmp_path / "cuts.json")
    assert CutAndCount.load(tmp_path / "cuts.json").significance == MC


# --- the binning rule and the DP --------------------------------------------------------------------


def test_the_rule_merges_where_the_uncertain_z_loses_least():
    # bin 1 (b = 0.5) must join bin 0 or bin 2. Gains sum Z^2(merged) - Z^2(partner):
    # plain: 0.3272 (bin 0) > 0.1884 (bin 2); with sigma_b^2 = sum w^2 bin 0's background is
    # 16 / 2^2 uncertain: 0.0457 (bin 0) < 0.1469 (bin 2).
    y = BinYields(
        np.array([[1.0, 0.5, 1.0]]), np.array([2.0, 0.5, 5.0]), np.array([16.0, 0.25, 1.0]), np.ones(3), np.ones(3)
    )
    chain = np.eye(3, k=1, dtype=bool) | np.eye(3, k=-1, dtype=bool)
    gain = {
        "plain": (cowan2(1.5, 2.5, 0) - cowan2(1, 2, 0), cowan2(1.5, 5.5, 0) - cowan2(1, 5, 0)),
        "mc": (cowan2(1.5, 2.5, 16.25) - cowan2(1, 2, 16), cowan2(1.5, 5.5, 1.25) - cowan2(1, 5, 1)),
    }
    assert gain["plain"][0] > gain["plain"][1] and gain["mc"][0] < gain["mc"][1]
    groups, n = BinRule(min_background=1.0).merge(y, chain)
    assert n == 2 and groups.tolist() == [0, 0, 1]
    assert BinRule(min_background=1.0, significance=OFF).merge(y, chain)[0].tolist() == [0, 0, 1]
    groups, n = BinRule(min_background=1.0, significance=MC).merge(y, chain)
    assert n == 2 and groups.tolist() == [0, 1, 1]
    merged = y.merged(groups, n)
    want = math.sqrt(cowan2(1, 2, 16) + cowan2(1.5, 5.5, 1.25))
    assert merged.significance("quadrature", MC) == pytest.approx(want, rel=1e-12)
    assert combined_significance(merged.s[0], merged.b, merged.b_sumw2, MC) == pytest.approx(want, rel=1e-12)


def test_several_signals_see_the_others_as_uncertain_background():
    # signal 0 sees b + s_1 = 12 with sigma_b^2 = (0.1 * 12)^2 + 4 (MC error of the true background only)
    s, b, w2 = np.array([[3.0], [2.0]]), np.array([10.0]), np.array([4.0])
    z = signal_significances(s, b, w2, Significance(0.1, True))
    assert z[0] == pytest.approx(math.sqrt(cowan2(3, 12, 1.44 + 4)), rel=1e-12)
    assert z[1] == pytest.approx(math.sqrt(cowan2(2, 13, 1.69 + 4)), rel=1e-12)


def test_the_dp_objective_of_three_fine_bins_by_hand():
    s, b, w2 = np.array([1.0, 2.0, 4.0]), np.array([10.0, 4.0, 1.0]), np.array([1.0, 1.0, 4.0])
    value = bin_value_matrix(s, b, w2, BinRule(significance=MC))
    for i in range(3):
        for j in range(i + 1, 4):
            want = cowan2(s[i:j].sum(), b[i:j].sum(), w2[i:j].sum())
            assert value[i, j] == pytest.approx(want, rel=1e-12), (i, j)
    assert np.all(value[np.tril_indices(4)] == -np.inf)
    # two bins: plain [0,1][2] (0.6013 + 8.0944 = 8.696 against [0][1,2] 5.443); with the MC
    # error the top bin (b = 1, sum w^2 = 4) is not worth isolating: [0][1,2] 0.0878 + 2.3059 =
    # 2.394 against 1.548 and, as one bin, 1.957
    plain = optimal_partition(s, b, w2, 2)
    assert plain.indices.tolist() == [0, 2, 3]
    assert plain.objective == pytest.approx(cowan2(3, 14, 0) + cowan2(4, 1, 0), rel=1e-12)
    best = optimal_partition(s, b, w2, 2, BinRule(significance=MC))
    assert best.indices.tolist() == [0, 1, 3]
    assert best.objective == pytest.approx(cowan2(1, 10, 1) + cowan2(6, 5, 5), rel=1e-12)
    assert best.objective == pytest.approx(2.39371, abs=1e-5)
    np.testing.assert_array_equal(bin_value_matrix(s, b, w2, BinRule(significance=OFF)), bin_value_matrix(s, b, w2))


# --- the Gaussian mixture's differentiable Z -----------------------------------------------------


def test_the_tensorflow_cowan_z_equals_the_numpy_one_with_finite_gradients():
    tf = pytest.importorskip("tensorflow")
    from phenoflow.binning.gmm import differentiable_significance, significance_squared_with_uncertainty

    s = np.array([5.0, 0.3, 50.0, 1e-3, 2.0, 5.0, 5.0, 5.0, 5.0, 0.0, 1.0])
    b = np.array([10.0, 2.0, 20.0, 5.0, 1e6, 10.0, 10.0, 10.0, 10.0, 3.0, 1e-12])
    v = np.array([4.0, 0.0025, 225.0, 1.0, 1e8, 0.0, 1e-30, 1e-9, 1e8, 1.0, 0.0])
    want = asimov_significance_with_uncertainty(s, b, np.sqrt(v))
    # float32 (the mixture's training): Z^2 to its rounding of terms of order s, as the plain Z_A
    for dtype, rtol, atol in ((tf.float64, 1e-9, 0.0), (tf.float32, 1e-5, 1e-6 * s)):
        st, bt, vt = (tf.constant(a, dtype) for a in (s, b, v))
        with tf.GradientTape() as tape:
            tape.watch([st, bt, vt])
            z2 = significance_squared_with_uncertainty(st, bt, vt)
        grads = tape.gradient(z2, [st, bt, vt])
        error = np.abs(z2.numpy() - want**2)[:-1]
        assert np.all(error <= (rtol * want**2 + atol)[:-1]), (dtype, error)
        for g in grads:
            assert np.all(np.isfinite(g.numpy())), (dtype, g)
    # the derivative in s against a central difference of the numpy function (v = 4 and v -> 0)
    for vv in (4.0, 1e-20):
        st = tf.constant(5.0, tf.float64)
        with tf.GradientTape() as tape:
            tape.watch(st)
            z2 = significance_squared_with_uncertainty(st, tf.constant(10.0, tf.float64), tf.constant(vv, tf.float64))
        h = 1e-5
        numeric = (
            asimov_significance_with_uncertainty(5 + h, 10, math.sqrt(vv)) ** 2
            - asimov_significance_with_uncertainty(5 - h, 10, math.sqrt(vv)) ** 2
        ) / (2 * h)
        assert tape.gradient(z2, st).numpy() == pytest.approx(numeric, rel=1e-6)
    # combined over bins and signals as the numpy rule, (rel, mc) = (0.1, 1)
    ss, bb, ww = np.array([[3.0, 1.0], [2.0, 0.5]]), np.array([10.0, 4.0]), np.array([4.0, 9.0])
    z, zi = differentiable_significance(tf.constant(ss), tf.constant(bb), "quadrature", tf.constant(ww), (0.1, 1.0))
    np.testing.assert_allclose(zi.numpy(), signal_significances(ss, bb, ww, Significance(0.1, True)), rtol=1e-9)
    # no uncertainty at all: Cowan's branch is the plain Z_A
    z0, _ = differentiable_significance(tf.constant(ss), tf.constant(bb), "quadrature", tf.constant(ww), (0.0, 0.0))
    plain, _ = differentiable_significance(tf.constant(ss), tf.constant(bb), "quadrature")
    assert z0.numpy() == pytest.approx(plain.numpy(), rel=1e-12)


def test_the_mixture_maximises_and_reports_the_option():
    pytest.importorskip("tensorflow")
    from phenoflow.binning.gmm import GMMSettings, fit_gmm_binning
    from phenoflow.binning.rule import binned_yields
    from phenoflow.binning.toys import gato_toy

    data = gato_toy(4000, 12000, seed=3)
    x, w, y = data["scores"], data["weights"], data["labels"]
    both = Significance(0.1, True)
    rule = BinRule(min_background=5.0, max_rel_uncertainty=0.3, significance=both)
    fit = fit_gmm_binning(x, w, y, 4, rule=rule, seed=1)
    yields = binned_yields(x, w, y, fit.edges)
    assert fit.significance == pytest.approx(
        combined_significance(yields["s"], yields["b"], yields["b_sumw2"], both), rel=1e-12
    )
    assert fit.significance_asimov == pytest.approx(combined_significance(yields["s"], yields["b"]), rel=1e-12)
    assert fit.significance < fit.significance_asimov
    assert fit.rule.significance == both
    # as good as the exact DP optimum of the same objective on 2000 fine bins (0.8020; the
    # mixture's 1000 quantile cells resolve the top of the score better: 0.8024 measured)
    fine = (np.histogram(x[y == k], 2000, (0, 1), weights=w[y == k] ** p)[0] for k, p in ((1, 1), (0, 1), (0, 2)))
    dp = optimal_partition(*fine, 4, rule)
    assert fit.significance > 0.98 * math.sqrt(dp.objective)
    # both settings off: the very same fit as without the option
    short = GMMSettings(n_steps=100, n_restarts=2)
    plain = fit_gmm_binning(x, w, y, 4, rule=replace(rule, significance=ASIMOV), settings=short, seed=1)
    off = fit_gmm_binning(x, w, y, 4, rule=replace(rule, significance=OFF), settings=short, seed=1)
    np.testing.assert_array_equal(off.edges, plain.edges)
    assert off.significance == plain.significance == plain.significance_asimov


# --- the binning rows and the comparison table ----------------------------------------------------


def test_binning_rows_carry_both_significances():
    from phenoflow.binning.methods import evaluate_binning

    scores, weights, labels = scan_sample()
    for method in ("equidistant", "quantile", "optimal"):
        row = evaluate_binning(method, scores, weights, labels, 3, BinRule(min_background=1.0, significance=MC))
        s, b, b_err = (np.array(row[k]) for k in ("s", "b", "b_error"))
        assert row["significance"] == pytest.approx(
            math.sqrt(sum(cowan2(*a, e**2) for *a, e in zip(s, b, b_err))), rel=1e-12
        )
        assert row["z_asimov"] == pytest.approx(math.sqrt(sum(cowan2(*a, 0) for a in zip(s, b))), rel=1e-12)
        off = evaluate_binning(method, scores, weights, labels, 3, BinRule(min_background=1.0, significance=OFF))
        assert off == evaluate_binning(method, scores, weights, labels, 3, BinRule(min_background=1.0))
        assert off["significance"] == off["z_asimov"]


def test_the_comparison_shows_both_maxima(tmp_path):
    scores, weights, labels = scan_sample()
    both = Significance(0.1, True)
    metrics = {"model": "bdt", **evaluate(scores, weights, labels, 1.0, both).metrics}
    row = comparison_row(metrics, {"training_time_s": 1.0, "n_parameters": 10})
    assert row["z_max"] == metrics["max_significance_with_uncertainty"]["significance"]
    assert row["z_max_asimov"] == metrics["max_significance"]["significance"] == pytest.approx(1.96524, abs=1e-5)
    assert row["s_over_sqrt_b"] == pytest.approx(4 / math.sqrt(3))
    old = {k: v for k, v in metrics.items() if k != "max_significance_with_uncertainty"}
    assert comparison_row(old, {"training_time_s": 1.0, "n_parameters": 10})["z_max"] == row["z_max_asimov"]
    table = comparison_table([row])
    write_comparison(table, tmp_path / "c.csv", tmp_path / "c.md", both)
    header = (tmp_path / "c.md").read_text().splitlines()[0]
    assert "Z_max (σ_b: 10 % syst. + MC stat.)" in header and "Z_max (Asimov)" in header
    write_comparison(table, tmp_path / "c.csv", tmp_path / "plain.md")
    assert "σ_b" not in (tmp_path / "plain.md").read_text()
