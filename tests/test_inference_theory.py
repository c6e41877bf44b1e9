"""Theory systematics in the HistFactory workspace: a group's up and down yields, its histosys and
normsys, the table with and without them, the figure."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pyhf
import pytest

from phenoflow.inference import plots
from phenoflow.inference.fits import expected_results
from phenoflow.inference.likelihood import BinnedSample, MCStatistics, binned_samples, workspace_spec
from phenoflow.inference.study import (
    COLUMNS,
    THEORY_COLUMNS,
    InferenceSettings,
    run_inference,
    uncertainty_note,
    write_table,
)
from phenoflow.inference.theory import (
    TheoryShift,
    TheorySystematics,
    group_shift,
    modifier_name,
    theory_modifiers,
    theory_shifts,
)
from phenoflow.plotstyle import Collision
from phenoflow.significance import Significance
from phenoflow.variations import Variation


@pytest.mark.parametrize(
    "combine, members, up, down",
    [
        # bin-wise max / min over the members: (12, 19) and (9, 23)
        ("envelope", [[12.0, 19.0], [9.0, 23.0]], [12.0, 23.0], [9.0, 19.0]),
        # both members above the nominal in bin 0, below it in bin 1: the nominal bounds the envelope
        ("envelope", [[11.0, 18.0], [12.0, 19.0]], [12.0, 20.0], [10.0, 18.0]),
        # replicas 11, 9, 10 (mean 10, s = sqrt(2 / 2) = 1) and 18, 22, 20 (s = sqrt(8 / 2) = 2)
        ("replicas", [[11.0, 18.0], [9.0, 22.0], [10.0, 20.0]], [11.0, 22.0], [9.0, 18.0]),
        # the standard deviation is about the replicas' mean (12), added to the nominal: s = 1 and 2
        ("replicas", [[13.0, 18.0], [11.0, 22.0], [12.0, 20.0]], [11.0, 22.0], [9.0, 18.0]),
        # shifts (3, 4) and (0, 1) from the nominal: sqrt(9 + 16) = 5, sqrt(0 + 1) = 1
        ("symmhessian", [[13.0, 20.0], [14.0, 21.0]], [15.0, 21.0], [5.0, 19.0]),
        # pairs per eigenvector: (13, 20)/(8, 21) and (11, 17)/(10, 22) about (10, 20): up sqrt(3^2 + 1^2),
        # sqrt(1^2 + 2^2); down sqrt(2^2 + 0), sqrt(0 + 3^2)
        ("hessian", [[13.0, 20.0], [8.0, 21.0], [11.0, 17.0], [10.0, 22.0]], [10 + 10**0.5, 20 + 5**0.5], [8.0, 17.0]),
        # a shift of 30 in bin 0 is larger than the nominal: down floored at 0
        ("symmhessian", [[40.0, 20.0]], [40.0, 20.0], [0.0, 20.0]),
    ],
)
def test_a_groups_up_and_down_yields_by_hand(combine, members, up, down):
    """Nominal yields (10, 20)."""
    got_up, got_down = group_shift(np.array([10.0, 20.0]), np.array(members), combine)
    np.testing.assert_allclose(got_up, up, rtol=1e-12)
    np.testing.assert_allclose(got_down, down, rtol=1e-12)


def test_group_shift_refuses_what_it_cannot_combine():
    with pytest.raises(ValueError, match="at least 2"):
        group_shift(np.array([1.0, 2.0]), np.array([[1.5, 2.5]]), "replicas")
    with pytest.raises(ValueError, match="do not match"):
        group_shift(np.array([1.0, 2.0]), np.array([[1.0, 2.0, 3.0]]), "envelope")
    with pytest.raises(ValueError, match="combine must be one of"):
        group_shift(np.array([1.0]), np.array([[2.0]]), "sum")


#: Z+jets events: bin 0 of nominal weights 4 and 6 (10 events), bin 1 of 5 and 15 (20 events), and
#: each variation's weights on the same events, so that its yields are the comment's.
ZJETS_WEIGHTS = {
    "weight": [4.0, 6.0, 5.0, 15.0],
    "weight:scale:1": [5.0, 7.0, 5.0, 14.0],  # (12, 19)
    "weight:scale:2": [4.0, 5.0, 8.0, 15.0],  # (9, 23)
    "weight:pdf:1": [5.0, 6.0, 3.0, 15.0],  # (11, 18)
    "weight:pdf:2": [4.0, 5.0, 7.0, 15.0],  # (9, 22)
    "weight:pdf:3": [4.0, 6.0, 5.0, 15.0],  # (10, 20)
    "weight:ct:1": [6.0, 7.0, 5.0, 15.0],  # (13, 20)
    "weight:ct:2": [7.0, 7.0, 6.0, 15.0],  # (14, 21)
}
VARIATIONS = {
    "envelope": [Variation("scale:1", "scale", "envelope"), Variation("scale:2", "scale", "envelope")],
    "replicas": [Variation(f"pdf:{i}", "pdf", "replicas") for i in (1, 2, 3)],
    "symmhessian": [Variation(f"ct:{i}", "ct", "symmhessian") for i in (1, 2)],
}


def two_bin_table() -> pd.DataFrame:
    """The Z+jets events of :data:`ZJETS_WEIGHTS` (bins 0, 0, 1, 1), a signal of 1 and 3 events
    and QCD of 50 and 5 events, one event per bin each; the other processes' variation columns
    are NaN (they have none)."""
    zjets = pd.DataFrame({**ZJETS_WEIGHTS, "bin": [0, 0, 1, 1], "process": "zjets", "label": 0})
    others = pd.DataFrame(
        {"weight": [1.0, 3.0, 50.0, 5.0], "bin": [0, 1, 0, 1], "process": ["sig", "sig", "qcd", "qcd"]}
    )
    others["label"] = (others["process"] == "sig").astype(int)
    return pd.concat([zjets, others], ignore_index=True)


def binned(table: pd.DataFrame, variations: dict) -> tuple[list[BinnedSample], list[str]]:
    columns = {c: table[c].to_numpy() for c in table.columns if c.startswith("weight:")}
    return binned_samples(
        table["bin"].to_numpy(), 2, table["weight"].to_numpy(), table["process"].to_numpy(), table["label"].to_numpy(),
        variations=variations, variation_weights=columns,
    )  # fmt: skip


def modifiers_of(spec: dict, sample: str) -> list[dict]:
    return next(s["modifiers"] for s in spec["channels"][0]["samples"] if s["name"] == sample)


@pytest.mark.parametrize(
    "combine, mode, expected",
    [
        # envelope: up (12, 23), total 35; down (9, 19), total 28; nominal (10, 20), total 30
        ("envelope", "shape", [("histosys", {"hi_data": [12.0, 23.0], "lo_data": [9.0, 19.0]})]),
        ("envelope", "norm", [("normsys", {"hi": 35 / 30, "lo": 28 / 30})]),
        (
            "envelope",
            "both",  # shapes scaled to 30: up x 30 / 35, down x 30 / 28
            [
                ("normsys", {"hi": 35 / 30, "lo": 28 / 30}),
                ("histosys", {"hi_data": [72 / 7, 138 / 7], "lo_data": [135 / 14, 285 / 14]}),
            ],
        ),
        # replicas: up (11, 22), total 33; down (9, 18), total 27: a pure normalisation of +-10 %
        ("replicas", "shape", [("histosys", {"hi_data": [11.0, 22.0], "lo_data": [9.0, 18.0]})]),
        ("replicas", "norm", [("normsys", {"hi": 1.1, "lo": 0.9})]),
        (
            "replicas",
            "both",
            [("normsys", {"hi": 1.1, "lo": 0.9}), ("histosys", {"hi_data": [10.0, 20.0], "lo_data": [10.0, 20.0]})],
        ),
        # symmetric Hessian: up (15, 21), total 36; down (5, 19), total 24
        ("symmhessian", "shape", [("histosys", {"hi_data": [15.0, 21.0], "lo_data": [5.0, 19.0]})]),
        ("symmhessian", "norm", [("normsys", {"hi": 1.2, "lo": 0.8})]),
        (
            "symmhessian",
            "both",  # up / 1.2, down / 0.8
            [
                ("normsys", {"hi": 1.2, "lo": 0.8}),
                ("histosys", {"hi_data": [12.5, 17.5], "lo_data": [6.25, 23.75]}),
            ],
        ),
    ],
)
def test_two_bin_workspace_theory_modifiers_by_hand(combine, mode, expected):
    """The Z+jets sample's modifiers for each combination rule and mode, written by hand; the
    other samples have none; pyhf builds the model, and at +-1 sigma of the parameter the
    Z+jets yields are the up and down yields (the totals' ratio times the nominal in ``norm``)."""
    samples, notes = binned(two_bin_table(), {"zjets": VARIATIONS[combine]})
    assert notes == []
    options = TheorySystematics(mode=mode)
    spec = workspace_spec(samples, mc_statistics=False, theory=options)
    name = {"envelope": "scale_zjets", "replicas": "pdf_zjets", "symmhessian": "ct_zjets"}[combine]
    got = modifiers_of(spec, "zjets")
    assert [(m["name"], m["type"]) for m in got] == [(name, kind) for kind, _ in expected]
    for modifier, (_, data) in zip(got, expected):
        assert modifier["data"].keys() == data.keys()
        for key, value in data.items():
            np.testing.assert_allclose(modifier["data"][key], value, rtol=1e-12)
    assert [m["type"] for m in modifiers_of(spec, "sig")] == ["normfactor"] and modifiers_of(spec, "qcd") == []
    pyhf.schema.validate(json.loads(json.dumps(spec)), "workspace.json")
    model = pyhf.Workspace(spec).model()
    assert set(model.config.par_order) == {name, "mu"} and model.config.npars == 2
    up, down = samples[2].theory[0].up, samples[2].theory[0].down
    if mode == "norm":
        up, down = 10 * np.array([1, 2]) * up.sum() / 30, 10 * np.array([1, 2]) * down.sum() / 30
    for alpha, target in ((1.0, up), (-1.0, down), (0.0, [10.0, 20.0])):
        pars = np.zeros(2)
        pars[model.config.par_slice(name)] = alpha
        pars[model.config.poi_index] = 0.0
        np.testing.assert_allclose(model.expected_actualdata(pars), np.asarray(target) + [50.0, 5.0], rtol=1e-12)


def test_groups_are_named_per_process_unless_correlated():
    """Scale per process (scale_zjets, scale_qcd); isr one parameter for both; three groups on
    one sample in the order they come."""
    shift = TheoryShift("x", "envelope", 2, np.array([11.0]), np.array([9.0]))
    options = TheorySystematics()
    assert modifier_name("scale", "zjets", options) == "scale_zjets"
    assert modifier_name("isr", "zjets", options) == modifier_name("isr", "qcd", options) == "isr"
    assert modifier_name("Central scale variation", "qcd", options) == "Central_scale_variation_qcd"
    assert modifier_name("scale", "qcd", TheorySystematics(correlated=("scale",))) == "scale"
    with pytest.raises(ValueError, match="'lumi' is taken by the likelihood"):
        modifier_name("lumi", "zjets", TheorySystematics(correlated=("lumi",)))
    with pytest.raises(ValueError, match="'norm_zjets' is taken"):
        modifier_name("norm", "zjets", options)
    shifts = [TheoryShift(g, "envelope", 2, np.array([11.0]), np.array([9.0])) for g in ("scale", "isr", "fsr")]
    names = [m["name"] for m in theory_modifiers("qcd", np.array([10.0]), shifts, TheorySystematics(mode="norm"))]
    assert names == ["scale_qcd", "isr", "fsr"]
    assert theory_modifiers("qcd", np.array([10.0]), [shift], TheorySystematics(enabled=False)) == []
    clash = [TheoryShift(g, "envelope", 2, np.array([11.0]), np.array([9.0])) for g in ("a b", "a_b")]
    with pytest.raises(ValueError, match="two theory groups share the modifier name 'a_b_qcd'"):
        theory_modifiers("qcd", np.array([10.0]), clash, options)
    empty_down = TheoryShift("scale", "symmhessian", 1, np.array([25.0]), np.array([0.0]))
    with pytest.raises(ValueError, match=r"qcd, theory group 'scale': .* positive .* \(got 10, 25, 0\)"):
        theory_modifiers("qcd", np.array([10.0]), [empty_down], options)
    assert theory_modifiers("qcd", np.array([10.0]), [empty_down], TheorySystematics(mode="shape"))[0]["data"] == {
        "hi_data": [25.0],
        "lo_data": [0.0],
    }


def test_a_correlated_group_is_one_parameter_across_processes():
    """isr on Z+jets (+20 %, -10 %) and QCD (+10 %, -5 %): one parameter, each sample's own factors."""
    samples = [
        BinnedSample("sig", True, np.array([5.0]), np.zeros(1)),
        BinnedSample("qcd", False, np.array([40.0]), np.zeros(1), (TheoryShift("isr", "envelope", 2, np.array([44.0]), np.array([38.0])),)),
        BinnedSample("zjets", False, np.array([100.0]), np.zeros(1), (TheoryShift("isr", "envelope", 2, np.array([120.0]), np.array([90.0])),)),
    ]  # fmt: skip
    spec = workspace_spec(samples, mc_statistics=False, theory=TheorySystematics(mode="norm"))
    assert modifiers_of(spec, "qcd") == [{"name": "isr", "type": "normsys", "data": {"hi": 1.1, "lo": 0.95}}]
    assert modifiers_of(spec, "zjets") == [{"name": "isr", "type": "normsys", "data": {"hi": 1.2, "lo": 0.9}}]
    model = pyhf.Workspace(spec).model()
    assert model.config.npars == 2
    pars = np.array([0.0, 1.0]) if model.config.poi_index == 0 else np.array([1.0, 0.0])
    assert model.expected_actualdata(pars) == pytest.approx([44.0 + 120.0])


def shapesys(sample: str, data: list[float]) -> dict:
    return {"name": f"shapesys_score_{sample}", "type": "shapesys", "data": data}


def test_no_variations_give_todays_workspace_byte_for_byte():
    """The same events without variation columns, with columns but no variations listed, with
    variations listed but no columns (a note), or with theory disabled: one workspace, equal to
    the one written before theory systematics existed (the samples' modifiers by hand)."""
    table = two_bin_table()
    bare = table[["weight", "bin", "process", "label"]]
    listed = {"zjets": VARIATIONS["envelope"]}
    variants = [binned(bare, {}), binned(table, {}), binned(bare, listed)]
    texts = {json.dumps(workspace_spec(s, luminosity_uncertainty=0.02)) for s, _ in variants}
    with_theory, _ = binned(table, listed)
    texts.add(json.dumps(workspace_spec(with_theory, luminosity_uncertainty=0.02, theory=False)))
    assert len(texts) == 1
    assert variants[2][1] == ["zjets: none of its 2 theory variations has weights in the scores: no theory systematics"]
    spec = json.loads(texts.pop())
    lumi = {"name": "lumi", "type": "lumi", "data": None}
    # N_eff = 60^2 / 2552 and 25^2 / 275, both below 10: a Poisson term per background sample
    assert spec["channels"][0]["samples"] == [
        {"name": "qcd", "data": [50.0, 5.0], "modifiers": [lumi, shapesys("qcd", [50.0, 5.0])]},
        {"name": "sig", "data": [1.0, 3.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}, lumi]},
        {
            "name": "zjets",
            "data": [10.0, 20.0],
            "modifiers": [lumi, shapesys("zjets", [np.sqrt(52.0), np.sqrt(250.0)])],
        },
    ]
    assert json.dumps(workspace_spec(with_theory, luminosity_uncertainty=0.02)) not in texts


def test_variation_weights_are_checked_and_floored_like_the_nominal():
    table = two_bin_table()
    with pytest.raises(ValueError, match=r"process zjets: no weights for its variations \['weight:scale:3'\]"):
        binned(table, {"zjets": [*VARIATIONS["envelope"], Variation("scale:3", "scale", "envelope")]})
    table.loc[3, "weight:scale:2"] = np.nan
    with pytest.raises(ValueError, match="process zjets: column weight:scale:2 has non-finite weights"):
        binned(table, {"zjets": VARIATIONS["envelope"]})
    table.loc[3, "weight:scale:2"] = -20.0  # bin 1: 5 - 20 = -15, floored at 0
    samples, notes = binned(table, {"zjets": VARIATIONS["envelope"]})
    assert notes == ["zjets: negative variation yields floored at 0 (weight:scale:2 in bins [1])"]
    np.testing.assert_allclose(samples[2].theory[0].down, [9.0, 0.0])
    np.testing.assert_allclose(samples[2].theory[0].up, [12.0, 20.0])


def test_theory_shifts_group_their_members():
    nominal = np.array([10.0, 20.0])
    variations = [*VARIATIONS["envelope"], *VARIATIONS["symmhessian"]]
    yields = np.array([[12.0, 19.0], [13.0, 20.0], [9.0, 23.0], [14.0, 21.0]])
    shifts = theory_shifts(nominal, [variations[i] for i in (0, 2, 1, 3)], yields)
    assert [(s.group, s.combine, s.n_members) for s in shifts] == [("scale", "envelope", 2), ("ct", "symmhessian", 2)]
    np.testing.assert_allclose(shifts[0].up, [12.0, 23.0])
    np.testing.assert_allclose(shifts[1].up, [15.0, 21.0])


def test_theory_systematics_weaken_the_expected_result():
    """Signal (5, 10) over background (100, 20) with a scale envelope of +20 % / -10 % in the
    background's first bin and +-10 % in its second: in each mode Z falls and the median limit
    rises against the same likelihood without it."""
    shift = TheoryShift("scale", "envelope", 7, np.array([120.0, 22.0]), np.array([90.0, 18.0]))
    samples = [
        BinnedSample("sig", True, np.array([5.0, 10.0]), np.zeros(2)),
        BinnedSample("bkg", False, np.array([100.0, 20.0]), np.zeros(2), (shift,)),
    ]
    bare = expected_results(workspace_spec(samples, mc_statistics=False, theory=False), bands=(0,))
    for mode in ("both", "shape", "norm"):
        full = expected_results(
            workspace_spec(samples, mc_statistics=False, theory=TheorySystematics(mode=mode)), bands=(0,)
        )
        assert full.significance < bare.significance and full.limits[2] > bare.limits[2], mode


def test_the_inference_table_compares_with_and_without_theory(tmp_path):
    """run_inference on the two-bin table with the scale envelope on Z+jets: the workspace has
    its normsys and histosys, the table the theory columns (ratios below 1) and a note with the
    shift's totals (+16.7 % / -6.67 %); without variations the table has today's columns."""
    table = two_bin_table().assign(score=lambda t: 0.25 + 0.5 * t["bin"])
    rows = [{"method": "optimal", "n_bins_requested": 2, "edges": [0.0, 0.5, 1.0]}]
    settings = InferenceSettings(luminosity_uncertainty=0.0, normalisation={}, mc_statistics=MCStatistics(enabled=False),
                                 cl=0.95, significance=Significance())  # fmt: skip
    variations = {"zjets": VARIATIONS["envelope"]}
    result = run_inference(table, rows, lambda m, k: tmp_path / "ws.json", settings, variations=variations)
    assert list(result.columns) == [*COLUMNS[:-1], *THEORY_COLUMNS, "notes"]
    types = [m["type"] for m in modifiers_of(json.loads((tmp_path / "ws.json").read_text()), "zjets")]
    assert types == ["normsys", "histosys"]
    row = result.iloc[0]
    assert row["z_discovery_no_theory"] > row["z_discovery"] and row["limit_median_no_theory"] < row["limit_median"]
    assert 0 < row["z_ratio_theory"] < 1 and 0 < row["limit_ratio_theory"] < 1
    assert row["z_ratio_theory"] == pytest.approx(row["z_discovery"] / row["z_discovery_no_theory"])
    assert "theory systematics: zjets: scale_zjets (envelope of 2) +16.7 % / -6.67 %" in row["notes"]
    write_table(result, tmp_path / "t.csv", tmp_path / "t.md", cl=0.95, n_skipped=0)
    assert "Z, no theory syst." in (tmp_path / "t.md").read_text()
    note = uncertainty_note(settings, variations)
    assert "scale_zjets (envelope of 2 variations; zjets)" in note and '"no theory syst."' in note
    plain = uncertainty_note(settings)
    assert "theory" not in plain
    off = run_inference(table, rows, lambda m, k: tmp_path / "off.json",
                        replace(settings, theory=TheorySystematics(enabled=False)), variations=variations)  # fmt: skip
    assert list(off.columns) == COLUMNS
    assert off.loc[0, "z_discovery"] == pytest.approx(row["z_discovery_no_theory"], rel=1e-6)
    assert "theory" not in (tmp_path / "off.json").read_text()


@pytest.mark.parametrize(
    "value, message",
    [
        ({"modes": "both"}, r"inference\.theory: unknown keys \['modes'\]"),
        ({"mode": "ratio"}, r"inference\.theory\.mode: must be one of shape, norm, both, got 'ratio'"),
        ({"enabled": "yes"}, r"inference\.theory\.enabled: must be true or false"),
        ({"correlated": "isr"}, r"inference\.theory\.correlated: must be a list of group names"),
        (True, r"inference\.theory: must be a mapping"),
    ],
)
def test_theory_from_config_names_the_key(value, message):
    with pytest.raises(ValueError, match=message):
        TheorySystematics.from_config(value)


def test_theory_from_config():
    assert TheorySystematics.from_config({}) == TheorySystematics()
    got = TheorySystematics.from_config({"mode": "shape", "correlated": ["isr", "fsr", "pdf"]})
    assert got == TheorySystematics(True, "shape", ("isr", "fsr", "pdf"))


def test_the_figure_of_the_processes_variations(tmp_path):
    samples, _ = binned(two_bin_table(), {"zjets": [*VARIATIONS["envelope"], *VARIATIONS["symmhessian"]]})
    lhc = Collision(13000.0, 139.0)
    plots.theory_variations(samples, tmp_path / "zjets.png", collision=lhc, edges=[0.0, 0.5, 1.0], binning="gmm, K = 2")
    assert (tmp_path / "zjets.png").stat().st_size > 0 and (tmp_path / "zjets.pdf").stat().st_size > 0
    # without any process that has variations the figure says so
    plots.theory_variations(samples[:2], tmp_path / "none.png", collision=lhc)
    assert (tmp_path / "none.png").stat().st_size > 0
    with pytest.raises(ValueError, match=r"2 edges for the bins of process zjets \(2 bins\)"):
        plots.theory_variations(samples, tmp_path / "x.png", collision=lhc, edges=[0.0, 1.0])
