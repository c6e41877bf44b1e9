import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from phenoflow.metrics import asimov_significance, max_significance, weighted_auc


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


def test_weighted_auc_matches_sklearn_and_hand_value():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([0, 0, 1, 1])
    weights = np.array([1.0, 2.0, 1.0, 1.0])
    # pairs (sig, bkg) weighted: sig 0.35 beats bkg 0.1 (w 1*1), loses to 0.4 (1*2); sig 0.8 beats both (1*1 + 1*2)
    assert weighted_auc(scores, weights, labels) == pytest.approx((1 + 3) / (2 * 3))
    assert weighted_auc(scores, weights, labels) == pytest.approx(roc_auc_score(labels, scores, sample_weight=weights))
