"""The Gaussian-mixture binning on saved real classifier scores (tests/data/binning_scores) against
the exact optimum over every binning of the same events, under the same rule and the same Z."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phenoflow.binning.gmm import GMMSettings, fit_gmm_binning
from phenoflow.binning.optimal import event_optimum, optimal_edges
from phenoflow.binning.rule import RULE_TOLERANCE, BinRule, binned_yields, combined_significance
from phenoflow.significance import Significance

DATA = Path(__file__).parent / "data" / "binning_scores"
COWAN = Significance(0.1, True)  # the default config's significance block
RULE = BinRule(
    min_background=1.0, max_rel_uncertainty=0.5, min_mc_events=10, significance=COWAN
)  # the default config's


def load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = pd.read_parquet(DATA / f"{name}.parquet")
    return tuple(table[c].to_numpy(t) for c, t in (("score", np.float64), ("weight", np.float64), ("label", np.int64)))


@pytest.mark.parametrize("name", ["default_bdt", "tops_bdt", "default_55k_bdt", "default_55k_mlp", "default_55k_cnn"])
@pytest.mark.parametrize("k", [5, 20])
def test_mixture_reaches_the_exact_optimum_on_real_scores(name, k):
    scores, weights, labels = load(name)
    edges, optimum = event_optimum(scores, weights, labels, k, RULE)
    fit = fit_gmm_binning(scores, weights, labels, k, rule=RULE, seed=0)
    y = binned_yields(scores, weights, labels, fit.edges)
    slack = 1 + RULE_TOLERANCE  # bins of exactly four equal-weight MC events sit on the threshold
    assert np.all(y["b"] * slack >= RULE.min_background)
    assert np.all(np.sqrt(y["b_sumw2"]) <= RULE.max_rel_uncertainty * y["b"] * slack)
    assert np.all(y["b_events"] >= RULE.min_mc_events)
    assert fit.significance == pytest.approx(combined_significance(y["s"], y["b"], y["b_sumw2"], COWAN), rel=1e-9)
    assert fit.significance <= optimum * (1 + 1e-9)  # nothing beats the optimum over all cuts
    assert fit.significance >= 0.98 * optimum, f"GMM {fit.significance:.5g} vs exact {optimum:.5g}"
    assert fit.n_bins == len(edges) - 1  # as many bins as the optimum keeps


def test_event_optimum_by_hand():
    # three events: signal 4 at 0.9, background 1 at 0.5 and 0.1 (w2 = 1 each). One bin: Z_A(4, 2);
    # two bins: the cut between 0.5 and 0.9 isolates the signal with b = 0 (refused by b > 0), so
    # the best two-bin split is {0.1}, {0.5, 0.9}: Z_A(0, 1)^2 + Z_A(4, 1)^2 = Z_A(4, 1)^2
    from phenoflow.significance import asimov_significance

    scores, weights, labels = np.array([0.1, 0.5, 0.9]), np.array([1.0, 1.0, 4.0]), np.array([0, 0, 1])
    edges, z = event_optimum(scores, weights, labels, 1)
    np.testing.assert_allclose(edges, [0.0, 1.0])
    assert z == pytest.approx(float(asimov_significance(4.0, 2.0)))
    edges, z = event_optimum(scores, weights, labels, 2)
    np.testing.assert_allclose(edges, [0.0, 0.3, 1.0])
    assert z == pytest.approx(float(asimov_significance(4.0, 1.0)))
    with pytest.raises(ValueError, match="max_events"):
        event_optimum(np.linspace(0, 1, 20), np.ones(20), np.arange(20) % 2, 2, max_events=10)


@pytest.mark.parametrize("name", ["default_bdt", "tops_bdt"])
def test_workflow_optimal_is_the_exact_optimum_on_real_scores(name):
    # fewer distinct scores than max_cells: the workflow's `optimal` cuts between every two events
    scores, weights, labels = load(name)
    for k in (3, 10):
        edges, optimum = event_optimum(scores, weights, labels, k, RULE)
        np.testing.assert_allclose(optimal_edges(scores, weights, labels, k, RULE), edges)
        # with fewer cells than events it is at most the optimum, and still close on these scores
        coarse = optimal_edges(scores, weights, labels, k, RULE, max_cells=400)
        y = binned_yields(scores, weights, labels, coarse)
        assert np.all(y["b_events"] >= RULE.min_mc_events)
        z = combined_significance(y["s"], y["b"], y["b_sumw2"], COWAN)
        assert 0.95 * optimum <= z <= optimum * (1 + 1e-9)


def test_mixture_bins_are_the_runs_of_fine_cells_training_scores():
    # the 1-D result is the hard assignment of the fine cells that training checks: every fine
    # cell's events land in one final bin, and each edge lies midway between two events
    from phenoflow.binning.gmm import FINE_CELLS_1D, fine_cells

    # (no coarse-DP starts, whose edges are midway by construction: the result is a trained state)
    scores, weights, labels = load("default_55k_cnn")
    fit = fit_gmm_binning(scores, weights, labels, 10, rule=RULE, settings=GMMSettings(n_fine=500, n_coarse=0))
    cells = fine_cells(scores, weights, labels, (1,), 500)
    bins = np.digitize(scores, fit.edges[1:-1])
    for c in range(len(cells.points)):
        assert np.unique(bins[cells.cell == c]).size == 1
    distinct = np.unique(scores)
    gap = np.searchsorted(distinct, fit.edges[1:-1])
    np.testing.assert_allclose(fit.edges[1:-1], 0.5 * (distinct[gap - 1] + distinct[gap]), rtol=1e-12)
    assert len(fine_cells(scores, weights, labels, (1,), FINE_CELLS_1D).points) == distinct.size  # one per score
