import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from phenoflow.evaluation.metrics import max_significance, weighted_auc
from phenoflow.significance import ASIMOV, Significance, asimov_significance


def test_asimov_hand_value():
    # Z = sqrt(2 (110 ln 1.1 - 10)) = 0.983992
    assert asimov_significance(10.0, 100.0) == pytest.approx(np.sqrt(2 * (110 * np.log(1.1) - 10)), rel=1e-12)
    assert asimov_significance(10.0, 100.0) == pytest.approx(0.983992, abs=1e-6)  # 2(10.484120 - 10) = 0.968240


def test_asimov_small_signal_limit_is_s_over_sqrt_b():
    assert asimov_significance(1.0, 1e6) == pytest.approx(1.0 / 1e3, rel=1e-5)


def test_asimov_edge_cases():
    z = asimov_significance(np.array([0.0, 5.0, 5.0]), np.array([10.0, 0.0, -1.0]))
    assert z[0] == 0.0 and np.isnan(z[1]) and np.isnan(z[2])


def test_max_significance_hand_case():
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    labels = np.array([1, 1, 0, 0, 0])
    weights = np.array([5.0, 5.0, 2.0, 50.0, 50.0])
    # thresholds: >=0.9: s=5,b=0 (not allowed, b<1); >=0.8: s=10,b=0 (no); >=0.7: s=10,b=2; ...
    best = max_significance(scores, weights, labels, min_background=1.0)
    assert best.threshold == 0.7
    assert best.s == 10.0 and best.b == 2.0
    assert best.significance == pytest.approx(asimov_significance(10.0, 2.0))
    assert best.s_over_sqrt_b == pytest.approx(10 / np.sqrt(2))


def test_max_significance_ties_cut_together():
    scores = np.array([0.5, 0.5, 0.1])
    labels = np.array([1, 0, 0])
    weights = np.array([3.0, 4.0, 10.0])
    best = max_significance(scores, weights, labels, min_background=1.0)
    assert (best.s, best.b) == (3.0, 4.0)


def _scan_sample(n_top: int):
    """Signal 5 events of weight 1 at score 0.95; background ``n_top`` light events (weight 0.1) at
    0.95 and 30 of weight 1 at 0.3."""
    scores = np.r_[np.full(5, 0.95), np.full(n_top, 0.95), np.full(30, 0.3)]
    weights = np.r_[np.ones(5), np.full(n_top, 0.1), np.ones(30)]
    labels = np.r_[np.ones(5, int), np.zeros(n_top + 30, int)]
    return scores, weights, labels


@pytest.mark.parametrize("significance", [ASIMOV, Significance(0.1, True)])
def test_max_significance_refuses_nine_background_events_and_keeps_ten(significance):
    # two thresholds: >= 0.95 keeps s = 5 over the light background (b = 0.9 or 1.0, above
    # min_background = 0.5), >= 0.3 keeps everything. With at least 10 MC events the first one is
    # taken when it keeps ten background events and refused when it keeps nine.
    for n_top in (9, 10):
        scores, weights, labels = _scan_sample(n_top)
        best = max_significance(scores, weights, labels, 0.5, significance, min_mc_events=10)
        b_top = 0.1 * n_top
        if n_top == 9:
            assert best.threshold == 0.3 and best.b_events == 39 and best.b == pytest.approx(30.9)
            z = significance(5.0, 30.9, 30 + 9 * 0.01)
        else:
            assert best.threshold == 0.95 and best.b_events == 10 and best.b == pytest.approx(b_top)
            z = significance(5.0, b_top, 10 * 0.01)
        assert best.significance == pytest.approx(z, rel=1e-12)
        free = max_significance(scores, weights, labels, 0.5, significance)
        assert free.threshold == 0.95 and free.b_events == n_top  # the rule without the count takes it
    with pytest.raises(ValueError, match="at least 40 MC events.*from 39"):
        max_significance(*_scan_sample(9), 0.5, min_mc_events=40)


def test_max_significance_counts_negative_weight_events_but_not_zero_weights():
    scores, weights, labels = _scan_sample(11)
    weights[5], weights[6] = -0.1, 0.0  # 11 light rows: one negative (counted), one of weight 0 (not)
    best = max_significance(scores, weights, labels, 0.5, min_mc_events=10)
    assert best.threshold == 0.95 and best.b_events == 10 and best.b == pytest.approx(0.8)
    assert max_significance(scores, weights, labels, 0.5, min_mc_events=11).threshold == 0.3


def test_the_evaluation_and_every_fold_obey_the_minimum():
    from phenoflow.evaluation.scores import evaluate, fold_spread

    # two folds, each a copy of the ten-event case: pooled, the threshold 0.95 keeps 20 light
    # events; each fold alone (scaled to the full luminosity) keeps ten there, fewer than 11, and
    # falls back to everything
    scores, weights, labels = _scan_sample(10)
    scores, labels = np.r_[scores, scores], np.r_[labels, labels]
    fold = np.repeat([0, 1], len(weights))
    pooled, per_fold = np.r_[weights, weights] / 2, np.r_[weights, weights]
    metrics = evaluate(scores, pooled, labels, 0.5, Significance(0.1, True), min_mc_events=11).metrics
    assert metrics["max_significance"]["threshold"] == 0.95 and metrics["max_significance"]["b_events"] == 20
    assert metrics["max_significance_with_uncertainty"]["b_events"] == 20
    spread = fold_spread(scores, per_fold, labels, fold, 0.5, ASIMOV, min_mc_events=11)
    assert spread["z_max_asimov"] == pytest.approx([asimov_significance(5.0, 31.0)] * 2, rel=1e-12)


def test_weighted_auc_matches_sklearn_and_hand_value():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([0, 0, 1, 1])
    weights = np.array([1.0, 2.0, 1.0, 1.0])
    # pairs (sig, bkg) weighted: sig 0.35 beats bkg 0.1 (w 1*1), loses to 0.4 (1*2); sig 0.8 beats both (1*1 + 1*2)
    assert weighted_auc(scores, weights, labels) == pytest.approx((1 + 3) / (2 * 3))
    assert weighted_auc(scores, weights, labels) == pytest.approx(roc_auc_score(labels, scores, sample_weight=weights))


# --- Weighted metrics for comparing classifiers ---

from scipy.stats import ks_2samp  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    confusion_matrix as sk_confusion_matrix,  # noqa: E402
    roc_curve,
)

from phenoflow.evaluation.metrics import (  # noqa: E402
    background_rejection,
    binary_confusion,
    confusion_matrix,
    effective_sample_size,
    ks_test,
    one_vs_rest_auc,
    project_to_binary,
    weighted_accuracy,
)


def _binary_sample(n=400, seed=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)
    weights = rng.exponential(1.0, n)
    return scores, weights, labels


def test_weighted_accuracy_hand_case():
    scores = np.array([0.9, 0.6, 0.4, 0.2])
    labels = np.array([1, 0, 1, 0])
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    # correct: 0.9 (sig kept, w 1) and 0.2 (bkg rejected, w 4): 5 / 10
    assert weighted_accuracy(scores, weights, labels) == pytest.approx(0.5)
    # at threshold 0.3 the signal at 0.4 is kept as well: (1 + 3 + 4) / 10
    assert weighted_accuracy(scores, weights, labels, threshold=0.3) == pytest.approx(0.8)
    # score == threshold counts as signal
    assert weighted_accuracy(scores, weights, labels, threshold=0.4) == pytest.approx(0.8)


def test_weighted_accuracy_matches_sklearn():
    scores, weights, labels = _binary_sample()
    expected = accuracy_score(labels, (scores >= 0.5).astype(int), sample_weight=weights)
    assert weighted_accuracy(scores, weights, labels) == pytest.approx(expected, rel=1e-12)


def test_weighted_accuracy_with_negative_weight():
    scores, labels = np.array([0.9, 0.1, 0.8]), np.array([1, 0, 0])
    weights = np.array([2.0, 1.0, -0.5])  # the misclassified event has negative weight
    assert weighted_accuracy(scores, weights, labels) == pytest.approx(3.0 / 2.5)


# Six events by hand, sorted by score:
#   score  0.9  0.8  0.7  0.65  0.6  0.2
#   label  S    B    S    B     S    B
#   weight 1    1    2    2     1    5      -> total S = 4, B = 8
# cut >= 0.9: eps_S 1/4; >= 0.8: 1/4 (b 1); >= 0.7: 3/4 (b 1); >= 0.65: 3/4 (b 3); >= 0.6: 1 (b 3)
_SIX = (
    np.array([0.9, 0.8, 0.7, 0.65, 0.6, 0.2]),
    np.array([1.0, 1.0, 2.0, 2.0, 1.0, 5.0]),
    np.array([1, 0, 1, 0, 1, 0]),
)


def test_background_rejection_six_events_by_hand():
    scores, weights, labels = _SIX
    # R50: first cut reaching eps_S >= 0.5 is >= 0.7 with b = 1 -> eps_B = 1/8
    assert background_rejection(scores, weights, labels, 0.5) == pytest.approx(8.0)
    # exactly on a step (3/4) the step is taken, not the next one
    assert background_rejection(scores, weights, labels, 0.75) == pytest.approx(8.0)
    # R99 needs all the signal: cut >= 0.6 with b = 3 -> 8/3
    assert background_rejection(scores, weights, labels, 0.99) == pytest.approx(8.0 / 3.0)
    # eps_S = 1/4 is reached before any background is kept -> infinite rejection
    assert background_rejection(scores, weights, labels, 0.2) == np.inf


def test_background_rejection_with_negative_background_weight():
    scores, weights, labels = _SIX
    weights = weights.copy()
    weights[1] = -0.5  # background at 0.8 now negative: B = 6.5, b(>= 0.7) = -0.5 -> eps_B < 0
    assert background_rejection(scores, weights, labels, 0.5) == np.inf
    # R99 at cut >= 0.6: b = -0.5 + 2 = 1.5 -> 6.5 / 1.5
    assert background_rejection(scores, weights, labels, 0.99) == pytest.approx(6.5 / 1.5)


def test_background_rejection_float_rounding_reaches_target():
    # 0.1 + 0.2 != 0.3 in floating point; the target 0.3/0.6 = 0.5 must still be reached at the second cut
    scores = np.array([0.9, 0.8, 0.7, 0.5, 0.1])
    labels = np.array([1, 1, 1, 0, 0])
    weights = np.array([0.1, 0.2, 0.3, 1.0, 1.0])
    assert background_rejection(scores, weights, labels, 0.5) == np.inf


def test_background_rejection_matches_step_on_sklearn_roc():
    scores, weights, labels = _binary_sample()
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights, drop_intermediate=False)
    for target in (0.3, 0.5, 0.9, 0.99):
        i = np.flatnonzero(tpr >= target)[0]
        assert background_rejection(scores, weights, labels, target) == pytest.approx(1.0 / fpr[i], rel=1e-12)


def test_background_rejection_rejects_bad_input():
    scores, weights, labels = _SIX
    with pytest.raises(ValueError):
        background_rejection(scores, weights, labels, 0.0)
    with pytest.raises(ValueError):
        background_rejection(scores, weights, np.zeros(6), 0.5)  # no signal


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(5)
    true, predicted = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    weights = rng.exponential(1.0, 300)
    ours = confusion_matrix(predicted, true, weights, 5)
    expected = sk_confusion_matrix(true, predicted, sample_weight=weights, labels=range(5))
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_confusion_matrix_hand_case_rows_true():
    true = np.array([0, 0, 1, 2, 2])
    predicted = np.array([0, 1, 1, 0, 2])
    weights = np.array([1.0, 2.0, 3.0, -1.0, 4.0])
    expected = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 0.0], [-1.0, 0.0, 4.0]])
    np.testing.assert_array_equal(confusion_matrix(predicted, true, weights, 3), expected)
    with pytest.raises(ValueError):
        confusion_matrix(predicted, true, weights, 2)


def test_project_to_binary_hand_case():
    # classes g, q (background) and W, Z, t (signal), rows true, columns predicted
    m = np.arange(25, dtype=float).reshape(5, 5)
    projected = project_to_binary(m, signal_classes=[2, 3, 4])
    tn = m[:2, :2].sum()  # 0 + 1 + 5 + 6
    fp = m[:2, 2:].sum()
    fn = m[2:, :2].sum()
    tp = m[2:, 2:].sum()
    np.testing.assert_array_equal(projected, [[tn, fp], [fn, tp]])
    assert (tn, fp, fn, tp) == (12.0, 33.0, 93.0, 162.0)  # e.g. fn = (10+11) + (15+16) + (20+21)
    assert projected.sum() == m.sum()


def test_binary_confusion_matches_sklearn_and_projection():
    scores, weights, labels = _binary_sample()
    ours = binary_confusion(scores, weights, labels, threshold=0.5)
    expected = sk_confusion_matrix(labels, (scores >= 0.5).astype(int), sample_weight=weights, labels=[0, 1])
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    # a 3-class split (two background classes) projects onto the same 2x2
    true3 = np.where(labels == 1, 2, np.arange(len(labels)) % 2)
    pred3 = np.where(scores >= 0.5, 2, 0)
    np.testing.assert_allclose(project_to_binary(confusion_matrix(pred3, true3, weights, 3), [2]), ours, rtol=1e-12)
    # accuracy is the weighted diagonal
    assert np.trace(ours) / ours.sum() == pytest.approx(weighted_accuracy(scores, weights, labels))


def test_one_vs_rest_auc_matches_sklearn():
    rng = np.random.default_rng(11)
    n, k = 500, 4
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weights = rng.exponential(1.0, n)
    ours = one_vs_rest_auc(probabilities, weights, labels)
    assert len(ours) == k
    for c in range(k):
        expected = roc_auc_score(labels == c, probabilities[:, c], sample_weight=weights)
        assert ours[c] == pytest.approx(expected, rel=1e-12)


def test_one_vs_rest_auc_ties_negative_weights_and_missing_class():
    # class 0 against the rest with column 0; pairs by hand
    probabilities = np.array([[0.8, 0.2, 0.0], [0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.1, 0.9, 0.0]])
    labels = np.array([0, 0, 1, 1])
    weights = np.array([1.0, 2.0, 3.0, -1.0])
    # signal (class 0): 0.8 (w1), 0.5 (w2); rest: 0.5 (w3), 0.1 (w-1)
    # 0.8 beats both: 1*(3-1) = 2; 0.5 ties 0.5: 0.5*2*3 = 3, beats 0.1: 2*(-1) = -2 -> 3 / (3 * 2)
    auc = one_vs_rest_auc(probabilities, weights, labels)
    assert auc[0] == pytest.approx(3.0 / 6.0)
    assert np.isnan(auc[2])  # class 2 has no events


def test_effective_sample_size():
    assert effective_sample_size(np.ones(7)) == pytest.approx(7.0)
    assert effective_sample_size(np.array([1.0, 3.0])) == pytest.approx(16.0 / 10.0)


def test_ks_test_equals_scipy_for_unit_weights():
    rng = np.random.default_rng(2)
    # above 10000 events per sample scipy's default (auto) mode is the asymptotic one
    a, b = rng.normal(0, 1, 12000), rng.normal(0.02, 1, 10500)
    statistic, p = ks_test(a, np.ones_like(a), b, np.ones_like(b))
    expected = ks_2samp(a, b)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_test_equals_scipy_asymptotic_with_ties_small_samples():
    a = np.array([0.1, 0.2, 0.2, 0.4, 0.9])
    b = np.array([0.2, 0.3, 0.5, 0.5, 0.7, 0.8])
    statistic, p = ks_test(a, np.ones(5), b, np.ones(6))
    expected = ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_test_integer_weights_equal_repeated_events():
    # weight 2 is the same distribution as the event listed twice; only the sample size differs
    a, wa = np.array([0.1, 0.5, 0.7]), np.array([2.0, 1.0, 1.0])
    b = np.array([0.2, 0.3, 0.6, 0.9])
    statistic, _ = ks_test(a, wa, b, np.ones(4))
    assert statistic == pytest.approx(ks_2samp(np.r_[0.1, a], b).statistic)
    # by hand: at 0.1 F_a = 1/2, F_b = 0 -> D = 1/2
    assert statistic == pytest.approx(0.5)


def test_ks_test_identical_samples_and_weights_scale_free():
    rng = np.random.default_rng(4)
    x, w = rng.random(200), rng.exponential(1.0, 200)
    statistic, p = ks_test(x, w, x, w)
    assert statistic == 0.0 and p == pytest.approx(1.0)
    # overall normalisation of either sample's weights does not matter
    y, v = rng.random(300), rng.exponential(1.0, 300)
    assert ks_test(x, w, y, v) == pytest.approx(ks_test(x, 7.0 * w, y, 0.01 * v))


def test_ks_test_detects_a_shift():
    rng = np.random.default_rng(8)
    a, b = rng.normal(0, 1, 2000), rng.normal(0.3, 1, 2000)
    _, p = ks_test(a, rng.exponential(1.0, 2000), b, rng.exponential(1.0, 2000))
    assert p < 1e-6


# --- Signed (NLO) weights: one AUC and ROC for the project, hand-computed values ---

from phenoflow.evaluation.metrics import weighted_roc  # noqa: E402
from phenoflow.models.mlp import weighted_auc_score  # noqa: E402


def _signed_example():
    """Signal 0.9 (w 2), 0.6 (w -1), 0.3 (w 1): S = 2; background 0.8 (w 3), 0.6 (w 1), 0.1 (w -1): B = 3."""
    scores = np.array([0.9, 0.6, 0.3, 0.8, 0.6, 0.1])
    labels = np.array([1, 1, 1, 0, 0, 0])
    weights = np.array([2.0, -1.0, 1.0, 3.0, 1.0, -1.0])
    return scores, weights, labels


def test_weighted_auc_with_negative_weights_hand_value():
    # pairs (signal, background) with signed weights, ties one half:
    #   0.9 (w 2) beats all three: 2 (3 + 1 - 1) = 6
    #   0.6 (w -1) ties 0.6 (w 1): -1 * 1 / 2 = -0.5; beats 0.1 (w -1): (-1)(-1) = 1
    #   0.3 (w 1) beats 0.1 (w -1): -1
    # AUC = (6 - 0.5 + 1 - 1) / (S B) = 5.5 / 6
    scores, weights, labels = _signed_example()
    assert weighted_auc(scores, weights, labels) == pytest.approx(11 / 12, rel=1e-12)
    # the networks' early stopping uses the same definition
    assert weighted_auc_score(labels, scores, weights) == pytest.approx(11 / 12, rel=1e-12)
    # with |w| it would be another number: the sign matters
    assert weighted_auc(scores, np.abs(weights), labels) != pytest.approx(11 / 12)


def test_weighted_roc_with_negative_weights_hand_values_and_area():
    # cuts score >= t, tightest first: t = 0.9, 0.8, 0.6, 0.3, 0.1
    #   s = 2, 2, 1, 2, 2 (of S = 2);  b = 0, 3, 4, 4, 3 (of B = 3): eps_B passes 1 and comes back
    scores, weights, labels = _signed_example()
    eff_s, eff_b, thresholds = weighted_roc(scores, weights, labels)
    np.testing.assert_allclose(eff_s, [0, 1, 1, 0.5, 1, 1])
    np.testing.assert_allclose(eff_b, [0, 0, 1, 4 / 3, 4 / 3, 1])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.8, 0.6, 0.3, 0.1])
    # the AUC is exactly the trapezoidal area under this (folded) curve
    area = np.sum(np.diff(eff_b) * 0.5 * (eff_s[1:] + eff_s[:-1]))
    assert area == pytest.approx(weighted_auc(scores, weights, labels), rel=1e-12)


def test_weighted_roc_and_auc_match_sklearn_for_positive_weights():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 400)
    scores = np.round(rng.normal(labels, 1.0), 1)  # rounded: many ties
    weights = rng.exponential(1.0, 400)
    fpr, tpr, thr = roc_curve(labels, scores, sample_weight=weights, drop_intermediate=False)
    eff_s, eff_b, thresholds = weighted_roc(scores, weights, labels)
    np.testing.assert_allclose(eff_s, tpr, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(eff_b, fpr, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(thresholds[1:], thr[1:])
    assert weighted_auc(scores, weights, labels) == pytest.approx(
        roc_auc_score(labels, scores, sample_weight=weights), rel=1e-12
    )


def test_weighted_auc_and_roc_need_positive_class_totals():
    scores, labels = np.array([0.9, 0.2, 0.5, 0.1]), np.array([1, 1, 0, 0])
    with pytest.raises(ValueError, match="signal is -1.0"):
        weighted_auc(scores, np.array([1.0, -2.0, 1.0, 1.0]), labels)
    with pytest.raises(ValueError, match="background is 0.0"):
        weighted_roc(scores, np.array([1.0, 1.0, 1.0, -1.0]), labels)


def test_max_significance_with_negative_weights_hand_case():
    # score, label, weight: 0.9 s 3; 0.8 b -0.5; 0.7 b 2; 0.6 s -1; 0.5 b 4
    # cuts: >=0.9 s=3 b=0 (not allowed); >=0.8 s=3 b=-0.5 (b <= 0: not allowed); >=0.7 s=3 b=1.5;
    #       >=0.6 s=2 b=1.5; >=0.5 s=2 b=5.5 -> the best is 0.7 with the signed b = 1.5 (|w| gives 2.5)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([1, 0, 0, 1, 0])
    weights = np.array([3.0, -0.5, 2.0, -1.0, 4.0])
    best = max_significance(scores, weights, labels, min_background=1.0)
    assert best.threshold == 0.7 and best.s == 3.0 and best.b == 1.5
    assert best.significance == pytest.approx(np.sqrt(2 * (4.5 * np.log(3.0) - 3.0)), rel=1e-12)
    assert best.s_over_sqrt_b == pytest.approx(3 / np.sqrt(1.5))
    # a negative background just above a large signal is never a working point
    best = max_significance(scores, weights, labels, min_background=0.0)
    assert best.b > 0


def test_rejection_accuracy_and_confusion_with_negative_weights_hand_values():
    # signal 0.9 (w 1), 0.8 (w -0.5), 0.7 (w 1.5): S = 2; background 0.85 (w 1), 0.6 (w 3): B = 4
    scores = np.array([0.9, 0.8, 0.7, 0.85, 0.6])
    labels = np.array([1, 1, 1, 0, 0])
    weights = np.array([1.0, -0.5, 1.5, 1.0, 3.0])
    # cuts: 0.9 s=1 b=0; 0.85 s=1 b=1; 0.8 s=0.5 b=1; 0.7 s=2 b=1; 0.6 s=2 b=4
    assert background_rejection(scores, weights, labels, 0.5) == np.inf  # s >= 1 first at 0.9, b = 0
    assert background_rejection(scores, weights, labels, 0.75) == pytest.approx(4.0)  # s >= 1.5 at 0.7: eps_B 1/4
    assert background_rejection(scores, weights, labels, 0.99) == pytest.approx(4.0)
    # at 0.75: signal kept 0.9, 0.8 (w 1 - 0.5), background 0.85 (w 1) kept; correct: 1 - 0.5 + 3 = 3.5 of 6
    assert weighted_accuracy(scores, weights, labels, 0.75) == pytest.approx(3.5 / 6.0)
    np.testing.assert_allclose(binary_confusion(scores, weights, labels, 0.75), [[3.0, 1.0], [1.5, 0.5]])


def test_ks_test_with_negative_weights_hand_value():
    from scipy.stats import kstwo

    # a: 0.1 (w 1), 0.2 (w -0.5), 0.3 (w 1.5), sum 2; b: 0.15 (w 1), 0.25 (w 1), sum 2
    # CDFs at 0.1, 0.15, 0.2, 0.25, 0.3: a 0.5, 0.5, 0.25, 0.25, 1; b 0, 0.5, 0.5, 1, 1 -> D = 0.75
    # effective sizes 4 / 3.5 and 2 -> n = round(0.727) = 1
    statistic, p = ks_test(np.array([0.1, 0.2, 0.3]), np.array([1.0, -0.5, 1.5]), np.array([0.15, 0.25]), np.ones(2))
    assert statistic == pytest.approx(0.75)
    assert p == pytest.approx(kstwo.sf(0.75, 1))
    assert effective_sample_size(np.array([1.0, -0.5, 1.5])) == pytest.approx(4 / 3.5)


def test_networks_early_stopping_auc_is_the_projects_one_over_classes():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + np.eye(3)[labels]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weights = rng.exponential(1.0, 300) * np.where(rng.random(300) < 0.15, -1.0, 1.0)
    expected = np.mean(one_vs_rest_auc(proba, weights, labels))
    assert weighted_auc_score(labels, proba, weights) == pytest.approx(expected, rel=1e-12)
    positive = np.abs(weights)
    sk = roc_auc_score(labels, proba, sample_weight=positive, multi_class="ovr", labels=[0, 1, 2])
    assert weighted_auc_score(labels, proba, positive) == pytest.approx(sk, rel=1e-12)


# --- Metrics that mean something: working points, each background alone, bootstrap errors ---

from scipy.stats import binom  # noqa: E402

from phenoflow.evaluation import bootstrap as bootstrap_module  # noqa: E402
from phenoflow.evaluation.bootstrap import Bootstrap, replica_counts, replica_metrics, standard_error  # noqa: E402
from phenoflow.evaluation.metrics import working_point  # noqa: E402
from phenoflow.evaluation.scores import NO_CURVE, evaluate, fold_spread, per_background  # noqa: E402
from phenoflow.significance import Significance  # noqa: E402

# Signal 0.9 (w 2), 0.5 (w 1): S = 3; background "zj" 0.7 (w 1), 0.2 (w 3): 4; "qcd" 0.95 (w 10), 0.1 (w 10): 20
_TWO_BACKGROUNDS = (
    np.array([0.9, 0.5, 0.7, 0.2, 0.95, 0.1]),
    np.array([2.0, 1.0, 1.0, 3.0, 10.0, 10.0]),
    np.array([1, 1, 0, 0, 0, 0]),
    np.array(["sig", "sig", "zj", "zj", "qcd", "qcd"]),
)


def test_auc_and_r50_against_each_background_by_hand():
    scores, weights, labels, processes = _TWO_BACKGROUNDS
    found = per_background(scores, weights, labels, processes)
    assert sorted(found) == ["qcd", "zj"]  # the signal is no background
    # vs zj: 0.9 (w 2) beats both (2 * 4), 0.5 (w 1) beats 0.2 (1 * 3): 11 / (3 * 4)
    assert found["zj"]["auc"] == pytest.approx(11 / 12, rel=1e-12)
    # vs qcd: 0.95 beats every signal; 0.9 and 0.5 beat 0.1: (2 + 1) * 10 / (3 * 20)
    assert found["qcd"]["auc"] == pytest.approx(0.5, rel=1e-12)
    # combined: 0.9 beats 14 of 24, 0.5 beats 13: (28 + 13) / (3 * 24), between the two
    assert weighted_auc(scores, weights, labels) == pytest.approx(41 / 72, rel=1e-12)
    # R50 vs zj: the cut >= 0.9 keeps 2/3 of the signal and no zj; vs qcd it keeps 0.95: eps_B 1/2
    assert found["zj"]["r50"] == np.inf and found["qcd"]["r50"] == pytest.approx(2.0)
    assert background_rejection(scores, weights, labels, 0.5) == pytest.approx(24 / 10)


def test_working_point_efficiencies_by_hand():
    scores, weights, labels, processes = _TWO_BACKGROUNDS
    point = working_point(scores, weights, labels, 0.6, processes)  # keeps 0.9 (s 2), 0.95 (qcd 10), 0.7 (zj 1)
    assert point.signal_efficiency == pytest.approx(2 / 3)
    assert point.background_efficiency == pytest.approx(11 / 24)
    assert point.per_background == pytest.approx({"qcd": 0.5, "zj": 0.25})
    assert point.background_rejection == pytest.approx(24 / 11)
    assert point.balanced_accuracy == pytest.approx((2 / 3 + 13 / 24) / 2)
    # keeping everything or nothing is worth 0.5, whatever the yields (the weighted accuracy of
    # "all background" would be B / (S + B) = 24 / 27 here)
    assert working_point(scores, weights, labels, 2.0).balanced_accuracy == 0.5
    assert working_point(scores, weights, labels, 0.0).balanced_accuracy == 0.5
    assert working_point(scores, weights, labels, 2.0).background_rejection == np.inf
    with pytest.raises(ValueError, match="background process zj"):
        working_point(scores, np.array([2.0, 1.0, 1.0, -3.0, 10.0, 10.0]), labels, 0.6, processes)


def test_evaluate_reports_the_working_point_of_its_best_z_and_each_background():
    scores, weights, labels, processes = _TWO_BACKGROUNDS
    metrics = evaluate(scores, weights, labels, 1.0, Significance(0.1), processes=processes).metrics
    assert "accuracy" not in metrics  # the weighted accuracy at 0.5 only measured the class yields
    point = metrics["working_point"]
    assert point["threshold"] == metrics["max_significance_with_uncertainty"]["threshold"]
    assert point["chosen_by"] == "max_significance_with_uncertainty"
    expected = working_point(scores, weights, labels, point["threshold"], processes)
    assert point["signal_efficiency"] == expected.signal_efficiency
    assert point["per_background"]["qcd"]["efficiency"] == expected.per_background["qcd"]
    assert metrics["per_background"] == per_background(scores, weights, labels, processes)
    assert metrics["auc"] == pytest.approx(41 / 72) and "note" not in metrics


def test_a_pass_fail_score_has_efficiencies_but_no_auc_or_rejection_at_fixed_efficiency():
    # a cut-and-count's score: signal passes (w 2) and fails (w 1); zj passes (w 1) and fails (w 3); qcd fails (w 20)
    scores = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    _, weights, labels, processes = _TWO_BACKGROUNDS
    metrics = evaluate(scores, weights, labels, 0.5, processes=processes, continuous=False).metrics
    assert metrics["auc"] is None and metrics["r50"] is None and metrics["r99"] is None
    assert metrics["note"] == NO_CURVE
    assert metrics["per_background"] == {"qcd": {"auc": None, "r50": None}, "zj": {"auc": None, "r50": None}}
    point = metrics["working_point"]
    assert point["chosen_by"] == "passing the cuts"
    assert point["signal_efficiency"] == pytest.approx(2 / 3) and point["background_efficiency"] == pytest.approx(
        1 / 24
    )
    assert point["background_rejection"] == pytest.approx(24.0)
    assert point["per_background"] == {
        "qcd": {"efficiency": 0.0, "rejection": np.inf},
        "zj": {"efficiency": 0.25, "rejection": 4.0},
    }
    # its best threshold is still scanned (Z of the selection: s = 2, b = 1)
    assert metrics["max_significance"]["s"] == 2.0 and metrics["max_significance"]["b"] == 1.0
    spread = fold_spread(scores, weights, labels, np.zeros(6, dtype=int), 0.5, continuous=False)
    assert (
        spread["auc"] is None
        and spread["auc_std"] is None
        and spread["z_max"] == [metrics["max_significance"]["significance"]]
    )


def test_replica_counts_keep_each_process_and_do_not_depend_on_the_blocks():
    processes = np.array(["b"] * 7 + ["s"] * 3 + ["b"] * 5)
    counts = replica_counts(processes, range(6), seed=42)
    assert counts.shape == (6, 15) and counts.dtype.kind == "i"
    np.testing.assert_array_equal(counts[:, processes == "b"].sum(axis=1), 12)
    np.testing.assert_array_equal(counts[:, processes == "s"].sum(axis=1), 3)
    np.testing.assert_array_equal(replica_counts(processes, range(4, 5), seed=42)[0], counts[4])
    assert not np.array_equal(replica_counts(processes, range(6), seed=43), counts)
    assert len({tuple(c) for c in counts}) == 6  # the replicas differ from each other


def test_replicas_of_the_sample_itself_give_its_auc_and_z_max(monkeypatch):
    """The vectorised rank AUC and threshold scan of the replicas are the project's AUC and scan:
    with every multiplicity 1 each replica is the sample itself."""
    rng = np.random.default_rng(9)
    n = 600
    processes = rng.choice(["sig", "zj", "qcd"], n, p=[0.2, 0.6, 0.2])
    labels = (processes == "sig").astype(int)
    scores = np.round(np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1), 2)  # many ties
    weights = np.where(labels == 1, 0.5, np.where(processes == "zj", 20.0, rng.uniform(50, 500, n)))
    weights[rng.random(n) < 0.05] *= -1  # signed weights
    monkeypatch.setattr(
        bootstrap_module, "replica_counts", lambda s, r, seed: np.ones((len(r), len(s)), dtype=np.int64)
    )
    both = Significance(0.1, True)
    replicas = replica_metrics(scores, weights, labels, processes, 5.0, Bootstrap(3, 1), both)
    np.testing.assert_allclose(replicas.auc, weighted_auc(scores, weights, labels), rtol=1e-12)
    np.testing.assert_allclose(
        replicas.z_max_asimov, max_significance(scores, weights, labels, 5.0).significance, rtol=1e-12
    )
    np.testing.assert_allclose(
        replicas.z_max, max_significance(scores, weights, labels, 5.0, both).significance, rtol=1e-12
    )
    for process in ("zj", "qcd"):
        mine = (processes == "sig") | (processes == process)
        expected = weighted_auc(scores[mine], weights[mine], labels[mine])
        np.testing.assert_allclose(replicas.auc_per_background[process], expected, rtol=1e-12)
    for values in replicas.as_arrays().values():  # the same bits wherever a replica lies in the block
        assert (values == values[0]).all()
    # with a minimum of background MC events the replica scan is the scan with that minimum
    counted = replica_metrics(scores, weights, labels, processes, 5.0, Bootstrap(3, 1), both, min_mc_events=120)
    for z, expected in ((counted.z_max_asimov, ASIMOV), (counted.z_max, both)):
        scan = max_significance(scores, weights, labels, 5.0, expected, min_mc_events=120)
        assert scan.significance != max_significance(scores, weights, labels, 5.0, expected).significance  # binds
        np.testing.assert_allclose(z, scan.significance, rtol=1e-12)


def test_bootstrap_error_of_the_auc_is_the_binomial_one():
    """All background at score 0.5, n signal events at 1 (a fraction p) or 0: the AUC is the signal
    fraction above, and resampling the signal's n events makes it Binomial(n, p) / n, whose
    standard deviation is sqrt(p (1 - p) / n)."""
    n, p = 400, 0.3
    labels = np.r_[np.ones(n, dtype=int), np.zeros(300, dtype=int)]
    scores = np.r_[np.where(np.arange(n) < p * n, 1.0, 0.0), np.full(300, 0.5)]
    weights = np.r_[np.full(n, 0.2), np.full(300, 7.0)]
    processes = np.where(labels == 1, "sig", "bkg")
    replicas = replica_metrics(scores, weights, labels, processes, 1.0, Bootstrap(4000, 20261206))
    assert weighted_auc(scores, weights, labels) == pytest.approx(p)
    # the error of a standard deviation from R replicas is about 1 / sqrt(2 R) = 1.1 % of it
    assert replicas.errors()["auc"] == pytest.approx(np.sqrt(p * (1 - p) / n), rel=0.05)
    assert replicas.errors()["auc_per_background"]["bkg"] == pytest.approx(np.sqrt(p * (1 - p) / n), rel=0.05)


def test_bootstrap_error_of_z_max_is_that_of_the_binomial_background():
    """Every signal event at score 1, a fraction q of the n_b background events too, the rest at 0:
    the best threshold keeps s and the K background events at 1, K ~ Binomial(n_b, q) in the
    replicas, so the error of Z_max is the standard deviation of Z_A(s, w_b K) over that
    binomial, summed exactly."""
    n_s, n_b, q, w_s, w_b = 200, 2000, 0.05, 0.5, 1.5
    labels = np.r_[np.ones(n_s, dtype=int), np.zeros(n_b, dtype=int)]
    scores = np.r_[np.ones(n_s), np.where(np.arange(n_b) < q * n_b, 1.0, 0.0)]
    weights = np.r_[np.full(n_s, w_s), np.full(n_b, w_b)]
    processes = np.where(labels == 1, "sig", "bkg")
    k = np.arange(1, n_b + 1)  # K = 0 has probability 1e-44
    z = asimov_significance(n_s * w_s, w_b * k)
    pmf = binom.pmf(k, n_b, q)
    expected = np.sqrt(np.sum(pmf * z**2) - np.sum(pmf * z) ** 2)
    replicas = replica_metrics(scores, weights, labels, processes, 0.5, Bootstrap(4000, 7))
    assert replicas.errors()["z_max_asimov"] == pytest.approx(expected, rel=0.05)
    assert replicas.errors()["z_max"] == replicas.errors()["z_max_asimov"]  # no uncertainty configured
    assert max_significance(scores, weights, labels, 0.5).significance == pytest.approx(
        asimov_significance(100.0, 150.0)
    )


def test_a_pass_fail_score_has_no_auc_replicas_and_errors_need_two_values():
    scores, weights, labels, processes = _TWO_BACKGROUNDS
    replicas = replica_metrics(
        (scores > 0.6).astype(float), weights, labels, processes, 0.5, Bootstrap(20, 3), continuous=False
    )
    errors = replicas.errors()
    assert errors["auc"] is None and errors["auc_per_background"] == {} and errors["n_replicas"] == 20
    assert len(replicas.z_max) == 20 and "auc" not in replicas.as_arrays()
    assert standard_error(np.array([1.0, np.nan])) is None
    assert standard_error(np.array([1.0, 3.0, np.nan])) == pytest.approx(np.sqrt(2.0))
    with pytest.raises(ValueError, match="evaluation.bootstrap"):
        Bootstrap(1, 3)
