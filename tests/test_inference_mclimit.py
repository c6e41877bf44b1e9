"""Results against the same likelihood without MC statistics, and the events an MC-limited one needs."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyhf
import pytest
from scipy.optimize import brentq, minimize_scalar

from phenoflow.binning.crossfit import row_bins
from phenoflow.binning.methods import evaluate_binning
from phenoflow.binning.rule import BinRule
from phenoflow.inference.fits import FitError, band_targets, expected_results
from phenoflow.inference.likelihood import (
    BinnedSample,
    MCStatistics,
    binned_samples,
    effective_background_events,
    workspace_spec,
)
from phenoflow.inference.mclimit import (
    MAX_FACTOR,
    EventsNeeded,
    describe,
    events_needed,
    mc_impact,
    mc_ratios,
    scale_sumw2,
)
from phenoflow.inference.study import (
    COLUMNS,
    MC_COLUMNS,
    InferenceSettings,
    run_inference,
    uncertainty_note,
    write_table,
)
from phenoflow.significance import Significance, asimov_significance

#: One bin of s = 20 over b = 200; Gaussian MC statistics only (a staterror in every bin).
GAUSSIAN = MCStatistics(poisson_below=0.0)
MEDIAN = band_targets()[2]


def one_bin(qcd_sumw2: float, zjets_sumw2: float) -> list[BinnedSample]:
    return [
        BinnedSample("qcd", False, np.array([80.0]), np.array([qcd_sumw2])),
        BinnedSample("sig", True, np.array([20.0]), np.array([1.0])),
        BinnedSample("zjets", False, np.array([120.0]), np.array([zjets_sumw2])),
    ]


def evaluate(samples, options=GAUSSIAN):
    result = expected_results(workspace_spec(samples, mc_statistics=options), bands=(0,))
    return result.significance, result.limits[2]


def by_hand(sumw2: float, s: float = 20.0, b: float = 200.0) -> tuple[float, float]:
    """Z and the median limit of one bin whose background b has one Gaussian-constrained factor g
    of width sigma = sqrt(sum w^2) / b (pyhf's staterror), profiled without pyhf:
    q(mu; n) = min_g 2 (lam - n - n ln(lam / n)) + ((g - 1) / sigma)^2, lam = mu s + g b, with
    q0 on the Asimov data n = s + b and the limit where sqrt(q_mu) on n = b is 1.96."""
    sigma = np.sqrt(sumw2) / b

    def q(mu: float, n: float) -> float:
        def value(g):
            lam = mu * s + g * b
            return 2 * (lam - n - n * np.log(lam / n)) + ((g - 1) / sigma) ** 2

        return minimize_scalar(value, bounds=(1e-6, 3.0), method="bounded", options={"xatol": 1e-12}).fun

    z = np.sqrt(q(0.0, s + b))
    return z, brentq(lambda mu: np.sqrt(q(mu, b)) - MEDIAN, 1e-3, 100.0, xtol=1e-10)


WITHOUT = (
    asimov_significance(20.0, 200.0),
    brentq(lambda mu: np.sqrt(2 * (mu * 20 - 200 * np.log1p(mu * 20 / 200))) - MEDIAN, 1e-3, 100.0, xtol=1e-12),
)


def hand_ratios(sumw2: float) -> tuple[float, float]:
    return mc_ratios(by_hand(sumw2), WITHOUT)


def test_without_mc_statistics_the_one_bin_result_is_the_counting_experiments():
    """Z = Z_A(20, 200) = sqrt(2 (220 ln 1.1 - 20)) = 1.39157 and the median limit of q_mu,A = 2 (mu s - b ln(1 + mu s / b))."""
    assert evaluate(one_bin(4.0, 900.0), MCStatistics(enabled=False)) == pytest.approx(WITHOUT, rel=1e-5)
    assert WITHOUT[0] == pytest.approx(1.39157, abs=1e-5)


def test_the_process_whose_sum_w2_dominates_gets_the_smallest_factor():
    """QCD's sum w^2 is 4, Z+jets' 900: the staterror's width sqrt(4 + 900) / 200 = 15 % makes
    Z 0.429 of Z_A (limit ratio 0.444). Z+jets' sum w^2 / f lowers it; the smallest power of two
    with both ratios >= 0.8, found by hand, is the search's, and half of it falls short. QCD alone
    cannot do it (even without its MC error the Z+jets' 900 remain)."""
    samples = one_bin(4.0, 900.0)
    ratios = hand_ratios(904.0)
    assert max(ratios) < 0.8 and mc_ratios(evaluate(samples), WITHOUT) == pytest.approx(ratios, rel=1e-4)
    reached = [f for f in 2 ** np.arange(11) if min(hand_ratios(4.0 + 900.0 / f)) >= 0.8]
    factor = int(reached[0])
    assert factor == 16  # 8 gives (0.794, 0.813), 16 gives (0.875, 0.889)
    impact = mc_impact(samples, evaluate(samples), evaluate, GAUSSIAN, 0.8)
    assert impact.limited and (impact.z_without, impact.limit_without) == pytest.approx(WITHOUT, rel=1e-5)
    assert (impact.z_ratio, impact.limit_ratio) == pytest.approx(ratios, rel=1e-4)
    assert impact.needed == (EventsNeeded(("qcd",), None), EventsNeeded(("zjets",), factor))
    # the library's fits at that factor and at half of it agree with the hand profile
    for f in (factor, factor // 2):
        ours = mc_ratios(evaluate(scale_sumw2(samples, ["zjets"], f)), WITHOUT)
        assert ours == pytest.approx(hand_ratios(4.0 + 900.0 / f), rel=1e-4)
        assert (min(ours) >= 0.8) == (f == factor)
    text = describe(impact.needed, {"qcd": 40_000, "zjets": 10_000, "sig": 5_000})
    assert text == "zjets: 16x more events (10 000 -> 160 000 generated); qcd alone: not within 65536x"


def test_when_no_process_suffices_alone_all_are_scaled_together():
    """QCD and Z+jets with 450 each: either alone leaves the other's 450 (ratios <= 0.576), both
    together need the factor found by hand from (450 + 450) / f (8 gives a Z ratio of 0.799)."""
    samples = one_bin(450.0, 450.0)
    assert max(hand_ratios(450.0)) < 0.8
    factor = int(next(f for f in 2 ** np.arange(11) if min(hand_ratios(900.0 / f)) >= 0.8))
    needed = events_needed(samples, ["qcd", "zjets"], evaluate, WITHOUT, 0.8)
    assert needed == [EventsNeeded(("qcd",), None), EventsNeeded(("zjets",), None), EventsNeeded(("qcd", "zjets"), 16)]
    assert factor == 16
    assert describe(needed, {"qcd": 1000, "zjets": 2000}) == (
        "all of qcd, zjets together: 16x more events each (qcd 1 000 -> 16 000, zjets 2 000 -> 32 000 generated);"
        " qcd alone: not within 65536x; zjets alone: not within 65536x"
    )


def test_scaling_sum_w2_scales_the_effective_events_and_the_poisson_terms_aux_counts():
    """f times the events at 1/f the weight: yields kept, N_eff and each shapesys term's Poisson
    auxiliary count (y / sigma)^2 times f; a bin crossing the threshold becomes Gaussian."""
    samples = [
        BinnedSample("sig", True, np.array([5.0, 10.0]), np.array([0.25, 1.0])),
        BinnedSample("qcd", False, np.array([50.0, 2.0]), np.array([250.0, 4.0])),
        BinnedSample("zjets", False, np.array([100.0, 6.0]), np.array([100.0, 9.0])),
    ]
    scaled = scale_sumw2(samples, ["qcd", "zjets"], 2.0)
    assert [s.yields.tolist() for s in scaled] == [s.yields.tolist() for s in samples]
    np.testing.assert_allclose(effective_background_events(scaled), 2 * effective_background_events(samples))
    np.testing.assert_allclose(scaled[0].sumw2, samples[0].sumw2)  # the signal untouched
    config = pyhf.Workspace(workspace_spec(scaled)).model().config
    assert config.param_set("shapesys_score_qcd").factors[1] == pytest.approx(2 * 1.0)  # (2 / 2)^2, twice
    assert config.param_set("shapesys_score_zjets").factors[1] == pytest.approx(2 * 4.0)
    # N_eff of bin 1: 64 / 13 = 4.9 -> 9.8 (still Poisson) -> 19.7 with 4x (Gaussian)
    types = {m["type"] for s in workspace_spec(scale_sumw2(samples, ["qcd", "zjets"], 4.0))["channels"][0]["samples"]
             for m in s["modifiers"]}  # fmt: skip
    assert "shapesys" not in types and "staterror" in types
    with pytest.raises(ValueError, match=r"no samples named \['ttbar'\]"):
        scale_sumw2(samples, ["ttbar"], 2.0)


def fake_evaluate(reach_at: float, calls: list[float], fail_at: float | None = None):
    """Z rising with the factor f of zjets' sum w^2: ratio f / (f + reach_at / 4) reaches 0.8 at
    f = reach_at; the limit ratio is 1 throughout. Records each f asked for."""

    def evaluate(samples):
        f = 1.0 / samples[0].sumw2[0]
        calls.append(f)
        if fail_at is not None and f == fail_at:
            raise FitError("the profile fit at mu = 2 failed")
        return f / (f + reach_at / 4), 1.0

    return evaluate


@pytest.mark.parametrize("reach_at", [2, 3, 16, 100, 1024, 40000])
def test_the_search_bisects_in_log2_f(reach_at):
    """The smallest power of two at or above where the ratio reaches 0.8, in at most 5 fits; the
    first at the largest factor, 2^16."""
    samples = [BinnedSample("zjets", False, np.array([1.0]), np.array([1.0]))]
    calls = []
    needed = events_needed(samples, ["zjets"], fake_evaluate(reach_at, calls), (1.0, 1.0), 0.8)
    assert needed == [EventsNeeded(("zjets",), int(2 ** np.ceil(np.log2(reach_at))))]
    assert calls[0] == MAX_FACTOR == 2**16 and len(calls) <= 5


def test_the_search_reports_a_factor_beyond_reach_and_a_failed_fit():
    samples = [BinnedSample("zjets", False, np.array([1.0]), np.array([1.0]))]
    calls = []
    assert events_needed(samples, ["zjets"], fake_evaluate(70000, calls), (1.0, 1.0), 0.8) == [
        EventsNeeded(("zjets",), None)
    ]
    assert calls == [MAX_FACTOR]  # one fit decides it
    needed = events_needed(samples, ["zjets"], fake_evaluate(3, [], fail_at=256), (1.0, 1.0), 0.8)
    assert needed == [EventsNeeded(("zjets",), None, error="fit failed at 256x: the profile fit at mu = 2 failed")]
    assert describe(needed) == "zjets: fit failed at 256x: the profile fit at mu = 2 failed"
    with pytest.raises(ValueError, match="power of two"):
        events_needed(samples, ["zjets"], fake_evaluate(3, []), (1.0, 1.0), 0.8, max_factor=1000)


def test_no_mc_statistics_or_no_result_needs_no_fit():
    def never(samples, options):
        raise AssertionError("no fit expected")

    samples = one_bin(4.0, 900.0)
    bare = mc_impact(samples, (1.2, 3.4), never, MCStatistics(enabled=False), 0.8)
    assert (bare.z_without, bare.limit_without, bare.z_ratio, bare.limit_ratio, bare.limited) == (1.2, 3.4, 1, 1, False)
    failed = mc_impact(samples, (np.nan, np.nan), never, GAUSSIAN, 0.8)
    assert np.isnan(failed.z_ratio) and not failed.limited and failed.needed == ()
    # ratios above the threshold: one fit, no search
    fine = mc_impact(samples, evaluate(samples), evaluate, GAUSSIAN, 0.4)
    assert not fine.limited and fine.needed == () and 0.4 < fine.z_ratio < 0.5


def test_mc_ratios():
    assert mc_ratios((0.5, 4.0), (2.0, 1.0)) == (0.25, 0.25)
    assert np.isnan(mc_ratios((0.5, np.nan), (2.0, 1.0))[1]) and np.isnan(mc_ratios((0.5, 1.0), (0.0, 1.0))[0])


SCORES = Path(__file__).parent / "data" / "binning_scores" / "default_55k_bdt.parquet"
SETTINGS = {"luminosity_uncertainty": 0.017, "normalisation": {"zvv_jets": 0.1, "qcd": 0.5}}
SIGNIFICANCE = Significance(relative_background_uncertainty=0.1, mc_statistics=True)


def test_inference_table_says_when_the_saved_default_run_is_mc_limited(tmp_path):
    """The default run's BDT scores (tests/data/binning_scores) in the optimal K = 5 binning of its
    config: the table's columns without MC statistics, the MC-limited flag and the events needed,
    which refits with Z+jets' sum w^2 divided by that factor confirm (and by half of it refute)."""
    scores = pd.read_parquet(SCORES)
    x, w = scores["score"].to_numpy(np.float64), scores["weight"].to_numpy(np.float64)
    rule = BinRule(min_background=1.0, max_rel_uncertainty=0.5, significance=Significance(0.1, True))
    binning = evaluate_binning("optimal", x, w, scores["label"].to_numpy(), 5, rule)
    rows = [{"method": "optimal", "n_bins_requested": 5, "edges": binning["edges"]}]
    generated = {"zz_qqvv": 5000, "zvv_jets": 10000, "qcd": 40000}
    settings = InferenceSettings(**SETTINGS, mc_statistics=MCStatistics(), cl=0.95, significance=SIGNIFICANCE,
                                 mc_limited_below=0.8)  # fmt: skip
    table = run_inference(scores, rows, lambda m, k: tmp_path / "ws.json", settings, generated=generated)
    assert list(table.columns) == COLUMNS and set(MC_COLUMNS) < set(COLUMNS)
    row = table.iloc[0]
    assert row["z_ratio_mc"] == pytest.approx(row["z_discovery"] / row["z_discovery_no_mc"])
    assert row["limit_ratio_mc"] == pytest.approx(row["limit_median_no_mc"] / row["limit_median"])
    assert row["z_ratio_mc"] < 0.1 and row["z_discovery_no_mc"] > 5 and row["mc_limited"]
    needed = row["mc_events_needed"]
    assert needed.endswith("; qcd alone: not within 65536x"), needed
    factor = int(needed.split("x more events")[0].removeprefix("zvv_jets: "))
    assert needed.startswith(
        f"zvv_jets: {factor}x more events (10 000 -> {10000 * factor:,} generated)".replace(",", " ")
    )
    samples = binned_samples(row_bins(rows[0], scores), 5, w, scores["process"].astype(str).to_numpy(),
                             scores["label"].to_numpy())[0]  # fmt: skip
    without = (row["z_discovery_no_mc"], row["limit_median_no_mc"])
    for f, reaches in ((factor, True), (factor // 2, False)):
        spec = workspace_spec(scale_sumw2(samples, ["zvv_jets"], f), **SETTINGS)
        result = expected_results(spec, bands=(0,))
        assert (min(mc_ratios((result.significance, result.limits[2]), without)) >= 0.8) == reaches, f
    # below a threshold of 0.04 the same result is not MC-limited, and nothing is searched
    relaxed = run_inference(scores, rows, lambda m, k: tmp_path / "ws.json", replace(settings, mc_limited_below=0.04),
                            generated=generated)  # fmt: skip
    assert not relaxed.loc[0, "mc_limited"] and relaxed.loc[0, "mc_events_needed"] == ""
    note = uncertainty_note(settings)
    write_table(pd.concat([table, relaxed]), tmp_path / "t.csv", tmp_path / "t.md", cl=0.95, n_skipped=0, note=note)
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["mc_limited"].tolist() == [True, False] and back.loc[0, "mc_events_needed"] == needed
    markdown = (tmp_path / "t.md").read_text()
    assert f"| yes: {needed} |" in markdown and "| no " in markdown and "Z ratio" in markdown
    assert "(10 % of b)² + Σw²" in markdown and "normalisation of zvv_jets 10 %" in markdown
    assert "do not carry the same uncertainties" in markdown and "either ratio below 0.8" in markdown
