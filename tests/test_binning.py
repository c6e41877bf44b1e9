from dataclasses import replace

import numpy as np
import pytest

from phenoflow.binning.methods import evaluate_binning
from phenoflow.binning.rule import BinRule, binned_yields, combined_significance, merge_low_background
from phenoflow.plotstyle import Collision
from phenoflow.significance import asimov_significance

LHC = Collision(13000.0, 139.0)


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
    out = evaluate_binning("equidistant", scores, np.ones(1100), labels, n_bins=10, rule=BinRule(min_background=1.0))
    assert np.isfinite(out["significance"]) and out["n_bins"] < 10
    assert min(out["b"]) >= 1.0


def test_every_method_and_k_judged_by_one_rule_with_plots(tmp_path):
    """The binning stage on a small toy: a row per method x K, every row obeying the rule, the
    mixture's extra record, and the plots."""
    import pandas as pd

    from phenoflow.binning.gmm import GMMSettings
    from phenoflow.binning.methods import MethodOptions
    from phenoflow.binning.study import Plan, run_binnings
    from phenoflow.binning.toys import gato_toy

    toy = gato_toy(n_signal=4000, n_background=12000, seed=3)
    scores = pd.DataFrame(
        {
            "score": toy["scores"],
            "weight": toy["weights"],
            "label": toy["labels"],
            "process": [f"p{i}" for i in toy["process"]],
        }
    )
    settings = GMMSettings.from_config({"steps": 150, "restarts": 2, "temperature": [0.3, 0.02], "schedule": "cosine"})
    methods = ["equidistant", "quantile", "optimal", "gmm"]
    rule = BinRule(min_background=20.0, max_rel_uncertainty=0.3, min_mc_events=400)
    options = MethodOptions(seed=7, gmm=settings)
    rows = run_binnings(scores, Plan(tuple(methods), (2, 4), rule, options), tmp_path, collision=LHC)
    assert [(r["method"], r["n_bins_requested"]) for r in rows] == [
        (m, k) for m in ("equidistant", "quantile", "optimal", "gmm") for k in (2, 4)
    ]
    for row in rows:
        b, err = np.array(row["b"]), np.array(row["b_error"])
        assert np.all(b >= 20.0) and np.all(err / b <= 0.3 + 1e-12), row["method"]
        assert row["n_bins"] == len(row["edges"]) - 1 <= row["n_bins_requested"]
        # at least 400 background MC events per bin, counted on the events
        expected = binned_yields(toy["scores"], toy["weights"], toy["labels"], np.array(row["edges"]))["b_events"]
        assert row["b_events"] == expected.astype(int).tolist() and min(row["b_events"]) >= 400, row["method"]
    # the count binds: the optimal K = 4 binning without it has a bin of fewer events
    free = run_binnings(scores, Plan(("optimal",), (4,), replace(rule, min_mc_events=0)), tmp_path, collision=LHC)[0]
    assert min(free["b_events"]) < 400
    by = {(r["method"], r["n_bins_requested"]): r["significance"] for r in rows}
    assert by["gmm", 4] > by["equidistant", 4] and by["gmm", 4] >= 0.95 * by["optimal", 4]
    (n_effective,) = rows[-1]["gmm"]["n_effective_components"]  # one fit: no cross-fitting
    assert n_effective <= 4 and len(rows[-1]["gmm"]["background_bias_soft_vs_hard"][0]) == 4
    names = {p.name for p in tmp_path.iterdir()}
    for name in ("gmm_history_K4.png", "gmm_components_K2.png", "stack_optimal_K4_log.png", "stack_gmm_K4_linear.png"):
        assert name in names, name
    # cross-fitted over three groups: each group's edges chosen on the other two, every event in
    # the stacked bins; the rule holds for the stacked bins, and both figures are reported
    scores["fold"], scores["row"] = np.arange(len(scores)) % 3, np.arange(len(scores))
    groups = scores["fold"].to_numpy()
    crossed = run_binnings(scores, Plan(("optimal", "gmm"), (4,), rule, options), tmp_path / "x", collision=LHC,
                           groups=groups)  # fmt: skip
    for row in crossed:
        assert row["crossfit"] and len(row["fold_edges"]) == 3 and "edges" not in row
        assert all(len(e) == row["n_bins"] + 1 for e in row["fold_edges"])
        b, err = np.array(row["b"]), np.array(row["b_error"])
        assert np.all(b >= 20.0) and np.all(err / b <= 0.3 + 1e-12) and min(row["b_events"]) >= 400, row["method"]
        assert np.sum(row["b"]) == pytest.approx(scores.loc[scores.label == 0, "weight"].sum(), rel=1e-9)
        assert row["significance_choosing"] == pytest.approx(np.mean(row["significance_choosing_per_group"]))
    assert len(crossed[1]["gmm"]["n_effective_components"]) == 3  # one mixture per group
    assert (tmp_path / "x" / "stack_gmm_K4_log.png").stat().st_size > 0


def test_softmax_vectors_binned_on_the_simplex(tmp_path):
    """Three classes, two of them signals: grid, argmax-quantile and mixture bin maps, merged by
    the rule, with Z per signal combined; the mixture's bin map drawn."""
    import pandas as pd

    from phenoflow.binning.methods import MethodOptions
    from phenoflow.binning.study import Plan, run_simplex_binnings

    rng = np.random.default_rng(5)
    n = 3000
    target = np.repeat([0, 1, 2], n)
    logits = rng.normal(size=(3 * n, 3)) + 2.5 * np.eye(3)[target]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weight = np.where(target == 0, 10.0, 0.05)
    scores = pd.DataFrame({"weight": weight, "class": target, **{f"p_{c}": proba[:, i] for i, c in enumerate("bxy")}})
    from phenoflow.binning.gmm import GMMSettings

    settings = GMMSettings(n_steps=150, n_restarts=2)
    rule = BinRule(min_background=5.0, max_rel_uncertainty=0.5, min_mc_events=200)
    plan = Plan(("equidistant", "quantile", "optimal", "gmm"), (3, 6), rule, MethodOptions(seed=1, gmm=settings))
    rows = run_simplex_binnings(scores, ["b", "x", "y"], [1, 2], plan, tmp_path, collision=LHC)
    assert [(r["method"], r["n_bins_requested"]) for r in rows] == [
        ("equidistant", 3),
        ("equidistant", 6),
        ("quantile", 3),
        ("quantile", 6),
        ("gmm", 3),
        ("gmm", 6),
    ]  # no exact optimum on the simplex
    for row in rows:
        assert row["space"] == "simplex" and np.all(np.array(row["b"]) >= 5.0)
        assert len(row["b_events"]) == row["n_bins"] and min(row["b_events"]) >= 200 and sum(row["b_events"]) == n
        zi = np.array(row["signal_significance"])
        assert zi.shape == (2,) and row["significance"] == pytest.approx(np.sqrt(np.sum(zi**2)))
        assert np.array(row["s"]).shape == (2, row["n_bins"])
    assert (tmp_path / "simplex_gmm_K6.png").stat().st_size > 0
    by = {(r["method"], r["n_bins_requested"]): r["significance"] for r in rows}
    assert by["gmm", 6] > by["equidistant", 6]


# --- one registry ------------------------------------------------------------------------------------


def test_one_registry_gives_every_method_s_bins_of_scores_and_of_softmax_vectors():
    """1-D scores: edges over [0, 1] from every method; softmax vectors: a bin map from the grid and
    the argmax regions, none from the exact optimum, none from the argmax regions with fewer bins
    than classes. (The mixture through the registry: test_gmm_binning.py.)"""
    from phenoflow.binning.methods import METHODS, MethodOptions, registered
    from phenoflow.binning.toys import gato_toy, softmax_toy

    toy = gato_toy(n_signal=500, n_background=1500, seed=1)
    scores, weights, labels = toy["scores"], toy["weights"], toy["labels"]
    assert set(METHODS) == {"equidistant", "quantile", "optimal", "gmm", "gmm_likelihood", "gmm_limit"}
    for method in ("equidistant", "quantile", "optimal"):
        chosen = registered(method)(scores, weights, labels, 4, BinRule(min_background=1.0), MethodOptions())
        assert chosen.edges[0] == 0.0 and chosen.edges[-1] == 1.0 and 2 <= len(chosen.edges) <= 5, method
        assert np.all(np.diff(chosen.edges) > 0) and chosen.fit is None and chosen.warnings == []
    equal = registered("equidistant")(scores, weights, labels, 4, BinRule(), MethodOptions())
    np.testing.assert_array_equal(equal.edges, np.linspace(0, 1, 5))
    three = softmax_toy(600, (200, 200), seed=1)
    proba, w3, y3 = three["scores"], three["weights"], three["labels"]
    for method in ("equidistant", "quantile"):
        chosen = registered(method)(proba, w3, y3, 6, BinRule(), MethodOptions())
        assigned = chosen.bin_map(proba)
        assert chosen.edges is None and assigned.min() >= 0 and assigned.max() < chosen.n_bins, method
    assert registered("optimal")(proba, w3, y3, 6, BinRule(), MethodOptions()) is None
    assert registered("quantile")(proba, w3, y3, 2, BinRule(), MethodOptions()) is None


def test_an_unknown_method_is_refused_naming_the_config_key():
    from phenoflow.binning.methods import evaluate_binning, registered
    from phenoflow.binning.study import Plan

    with pytest.raises(ValueError, match=r"binning\.methods: 'optimum' is not a binning method"):
        registered("optimum")
    with pytest.raises(ValueError, match=r"binning\.methods: 'optimum'"):
        evaluate_binning("optimum", np.array([0.5]), np.ones(1), np.ones(1), 2)
    with pytest.raises(ValueError, match=r"binning\.methods: \['optimum'\]"):
        Plan(("optimal", "optimum"), (3,), BinRule())


def test_the_plan_from_the_config_blocks():
    from pathlib import Path

    import yaml
    from snakemake.utils import validate

    from phenoflow.binning.gmm import GMMSettings
    from phenoflow.binning.study import Plan
    from phenoflow.inference.study import InferenceSettings
    from phenoflow.significance import Significance

    repo = Path(__file__).parents[1]
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    validate(
        config, str(repo / "workflow" / "schemas" / "config.schema.yaml")
    )  # the schema's defaults, as the workflow
    binning = config["binning"]
    plan = Plan.from_config(binning, config["significance"], seed=17, inference=config["inference"])
    assert plan.methods == ("equidistant", "quantile", "optimal", "gmm", "gmm_likelihood")
    assert plan.n_bins == (3, 5, 10, 20)
    assert plan.options.inference == InferenceSettings.from_config(config["inference"], config["significance"])
    with pytest.raises(ValueError, match=r"binning\.methods: gmm_likelihood needs the config's inference block"):
        Plan.from_config(binning, config["significance"], seed=17)
    assert plan.rule == BinRule(
        min_background=1.0, max_rel_uncertainty=0.5, min_mc_events=10, significance=Significance(0.1, True)
    )
    assert plan.options.seed == 17 and plan.options.gmm == GMMSettings.from_config(binning["gmm"])
    assert plan.options.combination == "quadrature" and plan.combination == binning["combination"] == "quadrature"
    with pytest.raises(ValueError, match="min_mc_events"):
        BinRule.from_config({"min_background": 1.0, "max_rel_uncertainty": 0.5})
    with pytest.raises(ValueError, match=r"binning\.gmm\.stepz"):
        Plan.from_config({**binning, "gmm": {"stepz": 3}}, None, seed=0)
