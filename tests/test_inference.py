"""The HistFactory workspace of binned scores and its expected significance and CLs limits."""

import json

import numpy as np
import pandas as pd
import pyhf
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from phenoflow.binning.rule import bin_index
from phenoflow.inference.fits import band_targets, expected_results, tensorflow_backend
from phenoflow.inference.likelihood import (
    BinnedSample,
    MCStatistics,
    binned_samples,
    effective_background_events,
    workspace_spec,
)
from phenoflow.inference.study import COLUMNS, InferenceSettings, run_inference, select_rows, write_table
from phenoflow.significance import Significance, asimov_significance, asimov_significance_with_uncertainty


def one_bin(s: float, b: float) -> list[BinnedSample]:
    return [
        BinnedSample("sig", True, np.array([s]), np.array([0.0])),
        BinnedSample("bkg", False, np.array([b]), np.array([0.0])),
    ]


def test_one_bin_counting_experiment_by_hand():
    """s = 10 over b = 100, no uncertainty: Z = Z_A = sqrt(2 (110 ln 1.1 - 10)) = 0.98399; the
    expected CLs limit at quantile n solves sqrt(q_mu,A) = n + Phi^-1(1 - 0.05 Phi(n)) with the
    background-only Asimov q_mu,A = 2 (mu s - b ln(1 + mu s / b)); median 1.96 -> mu < 2.0900."""
    s, b = 10.0, 100.0
    result = expected_results(workspace_spec(one_bin(s, b), mc_statistics=False))
    assert result.significance == pytest.approx(asimov_significance(s, b), rel=1e-6)
    assert result.significance == pytest.approx(0.983992, abs=1e-6)

    def limit(n: float) -> float:
        target = n + norm.isf(0.05 * norm.cdf(n))
        return brentq(lambda mu: np.sqrt(2 * (mu * s - b * np.log1p(mu * s / b))) - target, 1e-6, 1e3, rtol=1e-12)

    np.testing.assert_allclose(result.limits, [limit(n) for n in (-2, -1, 0, 1, 2)], rtol=1e-4)
    assert result.limits[2] == pytest.approx(2.0900, abs=1e-4)
    assert np.all(np.diff(result.limits) > 0)
    # only the bands asked for: the others NaN
    median = expected_results(workspace_spec(one_bin(s, b), mc_statistics=False), bands=(0,))
    assert median.significance == result.significance and median.limits[2] == pytest.approx(result.limits[2], rel=1e-6)
    assert np.isnan([median.limits[i] for i in (0, 1, 3, 4)]).all()
    with pytest.raises(ValueError, match=r"bands must be a non-empty subset of \(-2, -1, 0, 1, 2\), got \(3,\)"):
        expected_results(workspace_spec(one_bin(s, b), mc_statistics=False), bands=(3,))


def test_limits_and_significance_equal_pyhfs_own_hypotest_route():
    """Two bins with every kind of uncertainty (the second bin, of 7.6 effective background MC
    events, with Poisson MC-statistics terms), 90 % CL: the one-fit-per-mu solution equals
    pyhf.infer.intervals.upper_limits.toms748_scan (root-finding on hypotest's expected CLs set)
    and pyhf.infer.hypotest's q0 p-value, both under pyhf's default numpy backend (reliable at
    these yields of ~100 events; it is not at ~1e6, see test_inference_fits.py)."""
    samples = [
        BinnedSample("sig", True, np.array([10.0, 3.0]), np.array([1.0, 0.1])),
        BinnedSample("zjets", False, np.array([100.0, 5.0]), np.array([30.0, 2.0])),
        BinnedSample("qcd", False, np.array([40.0, 0.5]), np.array([100.0, 2.0])),
    ]
    spec = workspace_spec(samples, luminosity_uncertainty=0.017, normalisation={"zjets": 0.1, "qcd": 0.5})
    assert {m["type"] for s in spec["channels"][0]["samples"] for m in s["modifiers"]} >= {"staterror", "shapesys"}
    ours = expected_results(spec, cl=0.9)
    model = pyhf.Workspace(spec).model()
    init = np.asarray(model.config.suggested_init())
    init[model.config.poi_index] = 0.0
    # (upper_limit of pyhf 0.7.6 does not pass its level on to toms748_scan: call that directly)
    _, expected = pyhf.infer.intervals.upper_limits.toms748_scan(
        model.expected_data(init), model, 0.1, 5.0, level=0.1, rtol=1e-6
    )
    np.testing.assert_allclose(ours.limits, expected, rtol=2e-4)
    init[model.config.poi_index] = 1.0
    p0 = pyhf.infer.hypotest(0.0, model.expected_data(init), model, test_stat="q0")
    assert ours.significance == pytest.approx(norm.isf(float(p0)), rel=1e-4)
    assert ours.cl == 0.9


def test_band_targets_median_is_the_two_sided_five_percent_quantile():
    assert band_targets(0.95)[2] == pytest.approx(1.959964, abs=1e-6)
    assert np.all(np.diff(band_targets(0.95)) > 0)


def test_workspace_is_valid_and_carries_the_configured_uncertainties():
    samples = [
        BinnedSample("zz", True, np.array([1.0, 4.0, 6.0]), np.array([0.01, 0.04, 0.06])),
        BinnedSample("zjets", False, np.array([50.0, 10.0, 2.0]), np.array([4.0, 1.0, 0.25])),
        BinnedSample("qcd", False, np.array([200.0, 5.0, 0.0]), np.array([900.0, 25.0, 0.0])),
    ]
    gaussian = MCStatistics(poisson_below=0.0)  # the Poisson terms: test_two_bin_workspace_by_hand
    spec = workspace_spec(
        samples, luminosity_uncertainty=0.017, normalisation={"qcd": 0.5}, mc_statistics=gaussian, channel="bdt"
    )
    pyhf.schema.validate(json.loads(json.dumps(spec)), "workspace.json")  # as written to disk
    model = pyhf.Workspace(spec).model()
    assert model.config.poi_name == "mu"
    by_sample = {s["name"]: {m["name"]: m for m in s["modifiers"]} for s in spec["channels"][0]["samples"]}
    assert by_sample["zz"]["mu"]["type"] == "normfactor" and "mu" not in by_sample["qcd"]
    assert all(by_sample[n]["lumi"]["type"] == "lumi" for n in by_sample)
    assert by_sample["qcd"]["norm_qcd"] == {"name": "norm_qcd", "type": "normsys", "data": {"hi": 1.5, "lo": 0.5}}
    assert "norm_zjets" not in by_sample["zjets"]
    assert by_sample["qcd"]["staterror_bdt"]["data"] == [30.0, 5.0, 0.0]
    assert "staterror_bdt" not in by_sample["zz"]  # the signal carries no MC statistics by default
    parameters = {p["name"]: p for p in spec["measurements"][0]["config"]["parameters"]}
    assert parameters["lumi"]["sigmas"] == [0.017] and parameters["lumi"]["auxdata"] == [1.0]
    assert spec["observations"][0]["data"] == [250.0, 15.0, 2.0]  # background-only Asimov
    # staterror: per-bin relative uncertainty sqrt(sum of the carrying samples' sum w^2) / their yield
    assert model.config.param_set("staterror_bdt").width() == pytest.approx(
        [np.sqrt(904.0) / 250, np.sqrt(26.0) / 15, np.sqrt(0.25) / 2]
    )
    with_signal = workspace_spec(samples, mc_statistics=MCStatistics(include_signal=True, poisson_below=0.0))
    assert pyhf.Workspace(with_signal).model().config.param_set("staterror_score").width() == pytest.approx(
        [np.sqrt(904.01) / 251, np.sqrt(26.04) / 19, np.sqrt(0.31) / 8]
    )
    bare = workspace_spec(samples, mc_statistics=False)
    assert {m["type"] for s in bare["channels"][0]["samples"] for m in s["modifiers"]} == {"normfactor"}


def two_bins() -> list[BinnedSample]:
    """Bin 0: 150 background events from 100 Z+jets MC events of weight 1 and 10 QCD events of
    weight 5, N_eff = 150^2 / 350 = 64.3; bin 1: 8 events from 4 Z+jets events of weight 1.5 and
    1 QCD event of weight 2, N_eff = 64 / 13 = 4.92. Signal 5 and 10 events (sum w^2 0.25, 1)."""
    return [
        BinnedSample("sig", True, np.array([5.0, 10.0]), np.array([0.25, 1.0])),
        BinnedSample("qcd", False, np.array([50.0, 2.0]), np.array([250.0, 4.0])),
        BinnedSample("zjets", False, np.array([100.0, 6.0]), np.array([100.0, 9.0])),
    ]


def expected_two_bin_spec(sig: list[dict], qcd: list[dict], zjets: list[dict]) -> dict:
    """The workspace of :func:`two_bins` with these MC-statistics modifiers per sample."""
    mu = {"name": "mu", "type": "normfactor", "data": None}
    return {
        "channels": [
            {
                "name": "score",
                "samples": [
                    {"name": "sig", "data": [5.0, 10.0], "modifiers": [mu, *sig]},
                    {"name": "qcd", "data": [50.0, 2.0], "modifiers": qcd},
                    {"name": "zjets", "data": [100.0, 6.0], "modifiers": zjets},
                ],
            }
        ],
        "observations": [{"name": "score", "data": [150.0, 8.0]}],
    }


def staterror(data: list[float]) -> dict:
    return {"name": "staterror_score", "type": "staterror", "data": data}


def shapesys(sample: str, data: list[float]) -> dict:
    return {"name": f"shapesys_score_{sample}", "type": "shapesys", "data": data}


@pytest.mark.parametrize(
    "options, sig, qcd, zjets",
    [
        (  # the default: background only; bin 0 Gaussian, bin 1 (N_eff 4.92 < 10) Poisson
            MCStatistics(),
            [],
            [staterror([np.sqrt(250.0), 0.0]), shapesys("qcd", [0.0, 2.0])],
            [staterror([10.0, 0.0]), shapesys("zjets", [0.0, 3.0])],
        ),
        (  # the signal included: in the staterror and with its own shapesys
            MCStatistics(include_signal=True),
            [staterror([0.5, 0.0]), shapesys("sig", [0.0, 1.0])],
            [staterror([np.sqrt(250.0), 0.0]), shapesys("qcd", [0.0, 2.0])],
            [staterror([10.0, 0.0]), shapesys("zjets", [0.0, 3.0])],
        ),
        (  # a threshold of 4.9 puts bin 1 above it: Gaussian everywhere
            MCStatistics(poisson_below=4.9),
            [],
            [staterror([np.sqrt(250.0), 2.0])],
            [staterror([10.0, 3.0])],
        ),
        (  # 65 puts both below it: no staterror at all
            MCStatistics(poisson_below=65.0),
            [],
            [shapesys("qcd", [np.sqrt(250.0), 2.0])],
            [shapesys("zjets", [10.0, 3.0])],
        ),
        (MCStatistics(enabled=False), [], [], []),
    ],
    ids=["default", "with-signal", "all-gaussian", "all-poisson", "off"],
)
def test_two_bin_workspace_by_hand(options, sig, qcd, zjets):
    """The MC-statistics modifiers of a two-bin workspace, written by hand: which samples carry a
    staterror or a shapesys, in which bins, with which sqrt(sum w^2)."""
    spec = workspace_spec(two_bins(), mc_statistics=options)
    np.testing.assert_allclose(effective_background_events(two_bins()), [22500 / 350, 64 / 13])
    expected = expected_two_bin_spec(sig, qcd, zjets)
    assert spec["channels"] == expected["channels"] and spec["observations"] == expected["observations"]
    assert spec["measurements"][0]["config"]["poi"] == "mu"


def test_two_bin_model_in_pyhf_has_the_hand_computed_constraints():
    """In pyhf, bin 0's staterror has the relative width sqrt(250 + 100) / 150 and bin 1's is
    fixed; each shapesys is fixed in bin 0 and in bin 1 has the Poisson auxiliary count
    (y / sigma)^2 = the sample's N_eff: QCD (2 / 2)^2 = 1, Z+jets (6 / 3)^2 = 4."""
    model = pyhf.Workspace(workspace_spec(two_bins())).model()
    config = model.config
    assert config.param_set("staterror_score").width()[0] == pytest.approx(np.sqrt(350.0) / 150)
    fixed = dict(zip(config.par_order, (config.param_set(n).suggested_fixed for n in config.par_order)))
    assert fixed["staterror_score"] == [False, True]
    assert fixed["shapesys_score_qcd"] == [True, False] and fixed["shapesys_score_zjets"] == [True, False]
    assert config.param_set("shapesys_score_qcd").factors[1] == pytest.approx(1.0)
    assert config.param_set("shapesys_score_zjets").factors[1] == pytest.approx(4.0)


def profiled_q0_by_hand(n: np.ndarray) -> float:
    """q0 of :func:`two_bins`' default model on the data ``n`` (2,), profiled without pyhf: in
    each bin (no parameter is shared at mu = 0) the Poisson deviance 2 (lam - n - n ln(lam / n))
    plus bin 0's Gaussian constraint ((g - 1) / sigma)^2, sigma = sqrt(350) / 150, on
    lam = 150 g, or bin 1's Poisson constraints 2 tau (g - 1 - ln g), tau = 1 (QCD) and 4
    (Z+jets), on lam = 2 g_qcd + 6 g_zjets; the nominal parameters fit the Asimov data exactly."""
    from scipy.optimize import minimize

    def deviance(lam, count):
        return 2 * (lam - count - count * np.log(lam / count))

    sigma = np.sqrt(350.0) / 150
    bin0 = minimize(lambda g: deviance(150 * g[0], n[0]) + ((g[0] - 1) / sigma) ** 2, [1.0], tol=1e-14).fun

    def bin1_value(g):
        return deviance(2 * g[0] + 6 * g[1], n[1]) + 2 * (g[0] - 1 - np.log(g[0])) + 8 * (g[1] - 1 - np.log(g[1]))

    bin1 = minimize(bin1_value, [1.0, 1.0], bounds=[(1e-6, 10), (1e-6, 10)], tol=1e-14).fun
    return float(bin0 + bin1)


def test_two_bin_significance_equals_an_independent_profile_and_pyhfs_hypotest():
    """Z of the default two-bin model on its mu = 1 Asimov data (155, 18): our fits equal the
    profile computed by hand (scipy on the explicit likelihood), and pyhf.infer.hypotest's q0
    under pyhf's TensorFlow backend in float64 (tensorflow_backend). Its expected CLs at our
    median and +-2 sigma limits is 1 - cl = 0.05."""
    spec = workspace_spec(two_bins())
    ours = expected_results(spec)
    assert ours.significance == pytest.approx(np.sqrt(profiled_q0_by_hand(np.array([155.0, 18.0]))), rel=1e-5)
    with tensorflow_backend():
        model = pyhf.Workspace(spec).model()
        pars = np.asarray(model.config.suggested_init(), dtype=np.float64)
        pars[model.config.poi_index] = 1.0
        p0 = pyhf.infer.hypotest(0.0, model.expected_data(pars), model, test_stat="q0")
        assert ours.significance == pytest.approx(norm.isf(float(p0)), rel=1e-4)
        pars[model.config.poi_index] = 0.0
        background_only = model.expected_data(pars)
        for band in (0, 2, 4):
            expected = pyhf.infer.hypotest(ours.limits[band], background_only, model, return_expected_set=True)[1]
            assert float(expected[band]) == pytest.approx(0.05, abs=2e-5)


@pytest.mark.parametrize("s, b, sumw2", [(10.0, 20.0, 50.0), (3.0, 4.0, 4.0), (20.0, 8.0, 16.0)])
def test_one_bin_poisson_term_gives_cowans_significance(s, b, sumw2):
    """One bin, one background below the threshold: the shapesys term is a Poisson auxiliary
    measurement of the background with tau = b / sigma_b^2, the model behind Cowan's Z with
    sigma_b^2 = sum w^2 (asimov_significance_with_uncertainty), which our Z equals."""
    samples = [
        BinnedSample("sig", True, np.array([s]), np.array([0.0])),
        BinnedSample("bkg", False, np.array([b]), np.array([sumw2])),
    ]
    spec = workspace_spec(samples)
    assert [m["type"] for m in spec["channels"][0]["samples"][1]["modifiers"]] == ["shapesys"]
    assert expected_results(spec).significance == pytest.approx(
        asimov_significance_with_uncertainty(s, b, np.sqrt(sumw2)), rel=1e-5
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, MCStatistics()),
        (False, MCStatistics(enabled=False)),
        ({}, MCStatistics()),
        ({"include_signal": True, "poisson_below": 4}, MCStatistics(True, True, 4.0)),
    ],
)
def test_mc_statistics_from_config(value, expected):
    assert MCStatistics.from_config(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (
            {"signal": True},
            r"inference\.mc_statistics: unknown keys \['signal'\] \(known: enabled, include_signal, poisson_below\)",
        ),
        ({"include_signal": "no"}, r"inference\.mc_statistics\.include_signal: must be true or false, got 'no'"),
        ({"poisson_below": -2}, r"inference\.mc_statistics\.poisson_below: must be a number >= 0, got -2"),
        ({"poisson_below": True}, r"inference\.mc_statistics\.poisson_below: must be a number >= 0"),
        ("yes", r"inference\.mc_statistics: must be true, false or a mapping, got 'yes'"),
    ],
)
def test_mc_statistics_from_config_names_the_key(value, message):
    with pytest.raises(ValueError, match=message):
        MCStatistics.from_config(value)


def test_uncertainties_weaken_the_expected_result():
    samples = [
        BinnedSample("sig", True, np.array([20.0]), np.array([4.0])),
        BinnedSample("bkg", False, np.array([100.0]), np.array([100.0])),
    ]
    bare = expected_results(workspace_spec(samples, mc_statistics=False))
    full = expected_results(workspace_spec(samples, normalisation={"bkg": 0.2}))
    assert full.significance < bare.significance and full.limits[2] > bare.limits[2]


def test_negative_yields_are_floored_and_empty_bins_refused():
    scores = np.array([0.1, 0.2, 0.6, 0.7, 0.8, 0.9])
    weights = np.array([5.0, -2.0, 3.0, 1.0, -4.0, 2.0])
    processes = np.array(["bkg", "bkg", "bkg", "sig", "sig", "sig"])
    labels = np.array([0, 0, 0, 1, 1, 1])
    bins = bin_index(scores, np.array([0.0, 0.5, 1.0]))
    samples, notes = binned_samples(bins, 2, weights, processes, labels)
    bkg, sig = samples
    np.testing.assert_allclose(bkg.yields, [3.0, 3.0])
    np.testing.assert_allclose(bkg.sumw2, [29.0, 9.0])
    np.testing.assert_allclose(sig.yields, [0.0, 0.0])  # 1 - 4 + 2 = -1, floored
    np.testing.assert_allclose(sig.sumw2, [0.0, 21.0])
    assert notes == ["sig: negative yield in bins [1] floored at 0"]
    with pytest.raises(ValueError, match="signal samples have no positive yield"):
        workspace_spec(samples)
    no_background = [
        BinnedSample("sig", True, np.array([1.0, 2.0]), np.zeros(2)),
        BinnedSample("bkg", False, np.array([3.0, 0.0]), np.zeros(2)),
    ]
    with pytest.raises(ValueError, match=r"bins \[1\] have no positive background"):
        workspace_spec(no_background)
    with pytest.raises(ValueError, match="processes not in the samples"):
        workspace_spec(one_bin(1.0, 2.0), normalisation={"ttbar": 0.1})
    with pytest.raises(ValueError, match="luminosity"):
        workspace_spec(one_bin(1.0, 2.0), luminosity_uncertainty=1.0)


def test_study_writes_workspaces_table_and_markdown(tmp_path):
    rng = np.random.default_rng(3)
    n = 4000
    label = rng.integers(0, 2, n)
    scores = pd.DataFrame({
        "score": np.clip(rng.normal(0.3 + 0.4 * label, 0.15), 0, 1),
        "weight": np.where(label == 1, 0.05, 1.0),
        "label": label,
        "process": np.where(label == 1, "sig", np.where(rng.random(n) < 0.5, "zjets", "qcd")),
    })  # fmt: skip
    edges = {2: [0.0, 0.6, 1.0], 3: [0.0, 0.5, 0.7, 1.0]}
    rows = [{"space": "score", "method": "optimal", "n_bins_requested": k, "edges": e} for k, e in edges.items()]
    rows.append({"space": "simplex", "method": "gmm", "n_bins_requested": 3})
    chosen, skipped = select_rows(rows, ["optimal"], [3, 2])
    assert [r["n_bins_requested"] for r in chosen] == [3, 2] and skipped == 1
    with pytest.raises(ValueError, match="no score binning for gmm, K = 2"):
        select_rows(rows, ["gmm"], [2])
    settings = InferenceSettings(luminosity_uncertainty=0.02, normalisation={"qcd": 0.3},
                                 mc_statistics=MCStatistics(poisson_below=1e4), cl=0.95,
                                 significance=Significance(relative_background_uncertainty=0.1, mc_statistics=True))  # fmt: skip
    table = run_inference(scores, chosen, lambda m, k: tmp_path / f"{m}_K{k}.json", settings)
    assert list(table.columns) == COLUMNS and len(table) == 2
    # ~1 000 background MC events of weight 1 per bin, all below the threshold of 1e4
    assert table["notes"].str.contains("Poisson terms \\(shapesys\\) in bins \\[0, 1").all()
    assert np.all(np.isfinite(table.drop(columns=["method", "mc_events_needed", "notes"]).to_numpy(np.float64)))
    # background MC events of weight 1: the MC error is as large as the data's own (test_inference_mclimit.py)
    ratios = table[["z_ratio_mc", "limit_ratio_mc"]].to_numpy()
    assert np.all((0.5 < ratios) & (ratios < 1)) and table["mc_limited"].tolist() == (ratios.min(axis=1) < 0.8).tolist()
    assert table.loc[table["mc_limited"], "mc_events_needed"].str.contains("x more events").all()
    assert (table["z_cowan"] < table["z_asimov"]).all() and (table["z_discovery"] < table["z_asimov"]).all()
    for _, row in table.iterrows():
        spec = json.loads((tmp_path / f"optimal_K{row['n_bins_requested']}.json").read_text())
        yields = np.sum([s["data"] for s in spec["channels"][0]["samples"] if s["name"] != "sig"], axis=0)
        assert yields.sum() == pytest.approx(scores.loc[scores["label"] == 0, "weight"].sum())
    write_table(table, tmp_path / "t.csv", tmp_path / "t.md", cl=0.95, n_skipped=skipped)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv").fillna(""), table.fillna(""), check_dtype=False)
    markdown = (tmp_path / "t.md").read_text()
    assert "95 % CL limit on mu" in markdown and "1 multi-class (simplex) binnings are not included" in markdown


def test_a_failed_fit_gives_a_row_without_results_and_says_why(tmp_path, monkeypatch):
    import phenoflow.inference.study as study

    def fail(spec, cl):
        raise study.FitError("the profile fit at mu = 2 failed (Inequality constraints incompatible)")

    monkeypatch.setattr(study, "expected_results", fail)
    scores = pd.DataFrame(
        {
            "score": [0.2, 0.8, 0.3, 0.9],
            "weight": [5.0, 1.0, 4.0, 2.0],
            "label": [0, 1, 0, 1],
            "process": ["b", "s", "b", "s"],
        }
    )
    rows = [{"method": "optimal", "n_bins_requested": 1, "edges": [0.0, 1.0]}]
    settings = InferenceSettings(0.0, {}, MCStatistics(), 0.95, Significance())
    table = run_inference(scores, rows, lambda m, k: tmp_path / "ws.json", settings)
    assert table["limit_median"].isna().all() and table["z_discovery"].isna().all()
    assert table.loc[0, "z_asimov"] == pytest.approx(asimov_significance(3.0, 9.0))
    assert "no expected results: the profile fit at mu = 2 failed" in table.loc[0, "notes"]
    assert (tmp_path / "ws.json").exists()
