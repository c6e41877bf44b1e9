"""The headline table from small hand-made stage results."""

import math

import pandas as pd
import pytest

from phenoflow.evaluation.headline import COLUMNS, headline_table, write_headline

BDT = {
    "auc": 0.91,
    "max_significance": {"significance": 3.2},
    "max_significance_with_uncertainty": {"significance": 2.5},
    "max_significance_with_uncertainty_independent": {"significance": 2.1},  # threshold from other folds
    "bootstrap": {"auc": 0.012, "z_max_asimov": 0.41, "z_max": 0.3},
}
# a pass/fail score: no AUC; no uncertainty configured: Z_max = Z_A
CUTS = {"auc": None, "max_significance": {"significance": 1.5}, "bootstrap": {"auc": None, "z_max_asimov": 0.2}}
BINNING = pd.DataFrame({
    "space": ["score", "score", "score", "simplex"],
    "method": ["equidistant", "optimal", "optimal", "gmm"],
    "n_bins_requested": [5, 5, 10, 5],
    "n_bins": [5, 5, 9, 5],
    "significance": [3.0, 3.6, float("nan"), 3.4],
    "z_asimov": [3.0, 3.6, 0.0, 3.4],
})  # fmt: skip
NEEDED = "zvv_jets: 16x more events (10 000 -> 160 000 generated); qcd alone: not within 65536x"
INFERENCE = pd.DataFrame({
    "method": ["optimal", "optimal", "gmm"],
    "n_bins_requested": [5, 10, 5],
    "limit_median": [0.8, 0.62, float("nan")],
    "mc_limited": [False, True, False],
    "mc_events_needed": ["", NEEDED, ""],
})  # fmt: skip


def test_best_result_of_each_stage_per_classifier():
    table = headline_table({"bdt": BDT, "cuts": CUTS}, {"bdt": BINNING}, {"bdt": INFERENCE})
    assert list(table.columns) == COLUMNS and list(table["classifier"]) == ["bdt", "cuts"]
    bdt, cuts = table.iloc[0], table.iloc[1]
    assert (bdt["auc"], bdt["z_max_asimov"], bdt["z_max"]) == (0.91, 3.2, 2.5)
    assert (bdt["auc_err"], bdt["z_max_asimov_err"], bdt["z_max_err"]) == (0.012, 0.41, 0.3)
    assert math.isnan(cuts["auc"]) and math.isnan(cuts["auc_err"]) and cuts["z_max_asimov_err"] == 0.2
    # the NaN row is skipped, the best Z is the optimal binning with K = 5
    assert (bdt["z_binned"], bdt["z_binned_method"], bdt["z_binned_k"]) == (3.6, "optimal", 5)
    # the smallest finite median limit, flagged as its inference row is
    assert (bdt["limit_median"], bdt["limit_method"], bdt["limit_k"]) == (0.62, "optimal", 10)
    assert bdt["mc_limited"] and bdt["mc_events_needed"] == NEEDED and pd.isna(cuts["mc_limited"])
    assert cuts["z_max"] == cuts["z_max_asimov"] == 1.5
    assert math.isnan(cuts["z_binned"]) and math.isnan(cuts["limit_median"]) and pd.isna(cuts["z_binned_k"])


def test_a_simplex_binning_names_its_space():
    better = BINNING.assign(significance=[3.0, 3.1, 2.0, 3.4])
    row = headline_table({"mlp": BDT}, {"mlp": better}).iloc[0]
    assert (row["z_binned_method"], row["z_binned_k"]) == ("gmm (simplex)", 5)


def test_tables_of_unknown_classifiers_are_an_error():
    with pytest.raises(ValueError, match="mlp"):
        headline_table({"bdt": BDT}, {"mlp": BINNING})


def test_written_csv_and_markdown(tmp_path):
    table = headline_table({"bdt": BDT, "cuts": CUTS}, {"bdt": BINNING}, {"bdt": INFERENCE})
    write_headline(table, tmp_path / "h.csv", tmp_path / "h.md", cl=0.95)
    back = pd.read_csv(tmp_path / "h.csv")
    assert back.loc[0, "limit_median"] == 0.62 and back["z_binned"].isna().tolist() == [False, True]
    assert back.loc[0, "mc_limited"] and back.loc[0, "mc_events_needed"] == NEEDED
    text = (tmp_path / "h.md").read_text()
    lines = text.splitlines()
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines[2:4]]
    assert cells[0] == [
        "bdt",
        "0.9100 ± 0.0120",
        "3.20 ± 0.41",
        "2.50 ± 0.30",
        "2.10",
        "3.60",
        "optimal",
        "5",
        "0.62",
        "optimal",
        "10",
        f"yes: {NEEDED}",
    ]
    assert cells[1] == ["cuts", "—", "1.50 ± 0.20", "1.50", "—", "—", "—", "—", "—", "—", "—", "—"]
    assert "95 % CL" in text and "bootstrap standard errors" in text and "not a ROC curve" in text
    assert "worse than 0.8 of the same without it" in text and "do not carry the likelihood's uncertainties" in text


def test_a_best_limit_that_is_not_mc_limited_says_no():
    table = headline_table({"bdt": BDT}, None, {"bdt": INFERENCE.assign(mc_limited=False, mc_events_needed="")})
    assert table.loc[0, "mc_limited"] == False  # noqa: E712 (a nullable boolean)
    # an inference table of before the MC-limited columns leaves them empty
    old = headline_table({"bdt": BDT}, None, {"bdt": INFERENCE.drop(columns=["mc_limited", "mc_events_needed"])})
    assert old.loc[0, "limit_median"] == 0.62 and pd.isna(old.loc[0, "mc_limited"])
