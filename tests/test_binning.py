import numpy as np
import pytest

from phenoflow.binning import binned_yields, combined_significance, evaluate_binning, merge_low_background
from phenoflow.metrics import asimov_significance


def test_binned_yields_and_combination():
    scores = np.array([0.1, 0.6, 0.7, 0.2, 0.9])
    labels = np.array([0, 0, 1, 1, 1])
    weights = np.array([10.0, 5.0, 1.0, 2.0, 3.0])
    y = binned_yields(scores, weights, labels, np.array([0, 0.5, 1.0]))
    np.testing.assert_allclose(y["s"], [2.0, 4.0])
    np.testing.assert_allclose(y["b"], [10.0, 5.0])
    np.testing.assert_allclose(y["b_sumw2"], [100.0, 25.0])
    z = combined_significance(y["s"], y["b"])
    assert z == pytest.approx(np.hypot(asimov_significance(2, 10), asimov_significance(4, 5)))


def test_merge_low_background_from_the_top():
    edges = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    # top bin has no background: merged with the one below it
    np.testing.assert_allclose(merge_low_background(edges, np.array([5.0, 5.0, 3.0, 0.0]), 1.0), [0, 0.25, 0.5, 1.0])
    # a low remainder at the bottom joins the bin above
    np.testing.assert_allclose(merge_low_background(edges, np.array([0.5, 5.0, 3.0, 2.0]), 1.0), [0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(merge_low_background(edges, np.array([2.0, 2.0, 2.0, 2.0]), 1.0), edges)


def test_empty_background_bins_never_give_inf():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.uniform(0.9, 1.0, 100), rng.uniform(0.0, 0.5, 1000)]
    labels = np.r_[np.ones(100), np.zeros(1000)].astype(int)
    out = evaluate_binning("equidistant", scores, np.ones(1100), labels, n_bins=10, min_background=1.0)
    assert np.isfinite(out["significance"]) and out["n_bins"] < 10
    assert min(out["b"]) >= 1.0
