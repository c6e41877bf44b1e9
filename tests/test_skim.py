from dataclasses import astuple

import awkward as ak
import numpy as np
import pandas as pd
import pytest
from conftest import CARD, _toy_particles

from phenoflow.detector.card import load_card
from phenoflow.detector.ntuple import delphes_branches, read_events, read_variation_weights, write_ntuple
from phenoflow.detector.simulation import simulate
from phenoflow.events.skim import EmptySelectionError, WeightNorm, physical_weights, skim
from phenoflow.generation.crosssection import merge_chunks, variation_summary
from phenoflow.parquet import read_awkward
from phenoflow.variations import Variation, to_records


def test_physical_weights_hand_value():
    # 2 pb, 10 fb^-1 = 10 000 pb^-1 -> 20 000 events over sum of weights 4
    np.testing.assert_allclose(physical_weights(np.array([1.0, 1.0, 1.0, 1.0]), 2.0, 4.0, 10.0), [5000.0] * 4)
    # signed weights keep their sign and the total is still sigma * L
    w = physical_weights(np.array([2.0, -1.0, 1.0]), 3.0, 2.0, 1.0)
    np.testing.assert_allclose(w, [3000.0, -1500.0, 1500.0])
    assert w.sum() == pytest.approx(3000.0)
    # the same normalisation grouped: 2 pb x 10 000 pb^-1 / 4
    np.testing.assert_allclose(WeightNorm(2.0, 4.0, 10.0).weights(np.array([1.0, -2.0])), [5000.0, -10000.0])


def test_merge_chunks_trial_weighted():
    chunks = [
        {"sigma_pb": 1.0, "sigma_err_pb": 0.1, "n_tried": 100, "n_events": 50, "sum_weights": 50.0},
        {"sigma_pb": 2.0, "sigma_err_pb": 0.2, "n_tried": 300, "n_events": 150, "sum_weights": 150.0},
    ]
    out = merge_chunks(chunks)
    assert out["sigma_pb"] == pytest.approx((100 * 1 + 300 * 2) / 400)
    assert out["sigma_err_pb"] == pytest.approx(np.hypot(100 * 0.1, 300 * 0.2) / 400)
    assert out["n_events"] == 200 and out["sum_weights"] == 200.0 and out["sigma_source"] == "generator"
    over = merge_chunks(chunks, {"value_pb": 5.0, "error_pb": 0.5, "k_factor": 1.2})
    assert over["sigma_pb"] == pytest.approx(6.0) and over["sigma_err_pb"] == pytest.approx(0.6)
    assert over["sigma_source"] == "config" and over["generator_sigma_pb"] == pytest.approx(1.75)


def test_ntuple_roundtrip_and_delphes_names(ntuples):
    import uproot

    keys = uproot.open(ntuples[0])["Delphes"].keys()
    for name in ("Event.Weight", "Event.CrossSection", "Jet.PT", "Jet.BTag", "Jet.Flavor", "Jet_size", "FatJet.Mass",
                 "GenJet.PT", "Electron.Charge", "Muon.IsolationVar", "Photon.E", "EFlowTrack.PID", "EFlowPhoton.ET",
                 "EFlowNeutralHadron.Eta", "MissingET.MET", "GenMissingET.MET", "ScalarHT.HT"):  # fmt: skip
        assert name in keys
    events = read_events(ntuples)
    assert len(events) == 100
    assert ak.all(events.jet.pt[:, :-1] >= events.jet.pt[:, 1:])  # pT ordered
    assert "EFlowTrack_size" in keys and ak.all(
        abs(uproot.open(ntuples[0])["Delphes"]["EFlowTrack.PID"].array()) == 211
    )


def test_skim_weights_sum_to_sigma_lumi_and_cutflow(ntuples):
    events, cutflow = skim(
        ntuples, ["jet0.pt > 30", "met > 0"], WeightNorm(sigma_pb=2.0, sum_gen_weights=100.0, luminosity_fb=3.0), "toy"
    )
    assert cutflow["yield"][0] == pytest.approx(2.0 * 3.0 * 1000)
    assert cutflow["events"][0] == 100
    assert list(cutflow["step"]) == ["all events", "jet0.pt > 30", "met > 0"]
    assert np.all(np.diff(cutflow["events"]) <= 0)
    assert len(events) == cutflow["events"].iloc[-1]
    assert ak.sum(events.weight_phys) == pytest.approx(cutflow["yield"].iloc[-1])


def test_skim_empty_selection_is_an_error_naming_the_cut(ntuples):
    with pytest.raises(EmptySelectionError, match=r"process 'toy'.*selection\.cuts\[1\] 'met > 1e9'"):
        skim(ntuples, ["met >= 0", "met > 1e9"], WeightNorm(1.0, 100.0, 1.0), process="toy")
    events, cutflow = skim(ntuples, ["met > 1e9"], WeightNorm(1.0, 100.0, 1.0), process="toy", allow_empty=True)
    assert len(events) == 0 and cutflow["events"].iloc[-1] == 0


def test_unreadable_file_names_it(tmp_path):
    bad = tmp_path / "truncated.root"
    bad.write_bytes(b"root\x00" * 10)
    with pytest.raises(ValueError, match="truncated.root"):
        read_events([bad])


def test_records_from_buffers_equal_ak_zip_of_the_branches(ntuples):
    """The reader assembles the records from uproot's buffers: the same as ak.zip of the raw branches."""
    import uproot

    from phenoflow.detector.ntuple import EFLOW, EFLOW_BRANCHES, READ_BRANCHES, READ_FIELDS, TREE

    arrays = uproot.open(f"{ntuples[0]}:{TREE}").arrays([*READ_BRANCHES, *EFLOW_BRANCHES])

    def zipped(name):
        fields = {field: arrays[f"{name}.{branch}"] for branch, field in READ_FIELDS[name].items()}
        fields.setdefault("mass", ak.zeros_like(fields["pt"]))
        return ak.zip(fields, with_name="Momentum4D")

    def joined(field):
        branches = [f"{name}.{pt if field == 'pt' else field.capitalize()}" for name, pt in EFLOW.items()]
        return ak.concatenate([arrays[branch] for branch in branches], axis=1)

    eflow = {field: joined(field) for field in ("pt", "eta", "phi")}
    expected = ak.zip(
        {
            "weight": ak.values_astype(arrays["Event.Weight"][:, 0], np.float64),
            **{name.lower(): zipped(name) for name in READ_FIELDS},
            "met": ak.zip(
                {"pt": arrays["MissingET.MET"][:, 0], "phi": arrays["MissingET.Phi"][:, 0]}, with_name="Momentum2D"
            ),  # fmt: skip
            "ht": arrays["ScalarHT.HT"][:, 0],
            "eflow": ak.zip({**eflow, "mass": ak.zeros_like(eflow["pt"])}, with_name="Momentum4D"),
        },
        depth_limit=1,
    )
    events = read_events(ntuples[:1], constituents=True)
    assert str(events.type) == str(expected.type)
    assert events.to_list() == expected.to_list()
    assert ak.all(ak.num(events.eflow) == sum(ak.num(arrays[f"{name}.Eta"]) for name in EFLOW))
    np.testing.assert_array_equal(ak.flatten(events.jet.px), ak.flatten(expected.jet.px))  # vector behaviours


def test_kept_events_equal_packed_masked_events(ntuples):
    from phenoflow.events.skim import _kept_events

    events = read_events(ntuples, constituents=True)
    keep = np.arange(len(events)) % 3 != 1
    # as read; list offsets not starting at 0; strided (awkward's general path); option types inside
    padded = ak.with_field(events, ak.pad_none(events.jet, 3), "jet")
    for sample in (events, events[7:], events[::2], padded):
        mask = keep[: len(sample)]
        kept, expected = _kept_events(sample, mask), ak.to_packed(sample[mask])
        assert kept.layout.form == expected.layout.form
        assert kept.to_list() == expected.to_list()


# ------------------------------------------------------------------------- theory variations


def test_variation_weights_ride_in_the_delphes_weight_collection(tmp_path):
    import uproot

    objects = simulate(_toy_particles(30, 7), load_card(CARD), seed=7)
    nominal = np.linspace(0.5, 2.0, 30)
    varied = nominal[:, np.newaxis] * np.array([0.9, 1.1, 1.05])  # hand factors, e.g. scale down/up, a PDF member
    plain = delphes_branches(objects, nominal, 2.0, 0.1)
    assert "Weight" not in plain  # a chunk without variations writes what it wrote before
    assert "Weight" not in delphes_branches(objects, nominal, 2.0, 0.1, variation_weights=np.zeros((30, 0)))
    path = tmp_path / "varied.root"
    write_ntuple(path, delphes_branches(objects, nominal, 2.0, 0.1, variation_weights=varied))
    tree = uproot.open(path)["Delphes"]
    assert {"Weight.Weight", "Weight.ID", "Weight_size"} <= set(tree.keys())
    assert tree["Weight.ID"].array().to_list() == [[0, 1, 2]] * 30
    assert tree["Weight.Weight"].array().type.content.content.primitive == "float64"  # exact sums, as Event.Weight
    np.testing.assert_array_equal(read_variation_weights(path), varied)
    np.testing.assert_array_equal(ak.to_numpy(read_events([path]).weight), nominal)
    write_ntuple(tmp_path / "plain.root", plain)
    assert read_variation_weights(tmp_path / "plain.root").shape == (30, 0)
    with pytest.raises(ValueError, match=r"variation weights of shape \(29, 3\) for 30 events"):
        delphes_branches(objects, nominal, 2.0, 0.1, variation_weights=varied[:-1])


def test_the_skim_reads_ntuples_with_variations_as_without(tmp_path, ntuples):
    objects = simulate(_toy_particles(50, 0), load_card(CARD), seed=0)  # chunk0 of the fixture
    varied = tmp_path / "varied.root"
    write_ntuple(varied, delphes_branches(objects, np.ones(50), 2.0, 0.1, variation_weights=np.full((50, 2), 0.5)))
    cuts = ["jet0.pt > 30", "met > 0"]
    events, cutflow = skim([varied, ntuples[1]], cuts, WeightNorm(2.0, 100.0, 3.0), process="toy")
    expected, expected_cutflow = skim(ntuples, cuts, WeightNorm(2.0, 100.0, 3.0), process="toy")
    assert events.to_list() == expected.to_list()
    assert cutflow.equals(expected_cutflow)


def _chunk(sigma, n_tried, weights, variation_weights, variations):
    return {"sigma_pb": sigma, "sigma_err_pb": 0.1, "n_tried": n_tried, "n_events": len(weights),
            "sum_weights": float(np.sum(weights)), **variation_summary(variations, variation_weights)}  # fmt: skip


def test_merge_chunks_sums_each_variation_and_refuses_differing_lists():
    scale = [Variation("scale:mur=0.5,muf=0.5", "scale", "envelope", "1"), Variation("scale:mur=2,muf=2", "scale", "envelope", "9")]  # fmt: skip
    a = _chunk(1.0, 100, np.ones(4), np.array([[1.2, 0.8]] * 4), scale)
    b = _chunk(2.0, 300, np.full(2, 3.0), np.array([[3.0, 3.0], [4.5, 1.5]]), scale)
    assert a["variations"] == to_records(scale) and a["variation_sum_weights"] == {scale[0].name: 4.8, scale[1].name: 3.2}  # fmt: skip
    merged = merge_chunks([a, b])
    # sigma = (100 * 1 + 300 * 2) / 400 = 1.75 pb over sum w = 10: down 4.8 + 7.5 = 12.3, up 3.2 + 4.5 = 7.7
    assert merged["variations"] == to_records(scale)
    assert merged["variation_sum_weights"] == pytest.approx({scale[0].name: 12.3, scale[1].name: 7.7})
    assert merged["variation_sigma_pb"] == pytest.approx({scale[0].name: 1.75 * 1.23, scale[1].name: 1.75 * 0.77})
    # a k-factor or a configured cross section scales the variations alike
    k = merge_chunks([a, b], {"k_factor": 2.0})["variation_sigma_pb"]
    assert k == pytest.approx({scale[0].name: 3.5 * 1.23, scale[1].name: 3.5 * 0.77})
    # chunks without variations merge as before; mixed or different lists are refused
    plain = [
        {key: c[key] for key in ("sigma_pb", "sigma_err_pb", "n_tried", "n_events", "sum_weights")} for c in (a, b)
    ]
    assert "variations" not in merge_chunks(plain)
    for other in (plain[1], _chunk(2.0, 300, np.ones(2), np.ones((2, 1)), scale[:1])):
        with pytest.raises(ValueError, match="the chunks of a process must carry the same ones"):
            merge_chunks([a, {**other, "chunk": 1}])


def test_skim_written_as_it_goes_holds_its_events_in_row_groups(ntuples, tmp_path):
    """Written row group by row group: the arrays and cutflow of the skim held in memory; one row
    group (at most row_group_events kept events) gives the bytes of ak.to_parquet of them."""
    import pyarrow.parquet as pq

    from phenoflow.events.skim import ROW_GROUP_EVENTS

    cuts, norm = ["met > 20", "fatjet0.pt > 0"], WeightNorm(sigma_pb=2.0, sum_gen_weights=100.0, luminosity_fb=3.0)
    events, cutflow = skim(ntuples, cuts, norm, process="toy", constituents=True)
    assert 14 < len(events) < ROW_GROUP_EVENTS  # several small row groups below, one at the default
    ak.to_parquet(events, tmp_path / "one_shot.parquet")
    for size, groups in ((ROW_GROUP_EVENTS, 1), (7, -(-len(events) // 7)), (len(events), 1)):
        path = tmp_path / f"streamed{size}.parquet"
        none, streamed = skim(ntuples, cuts, norm, process="toy", constituents=True, write_to=path, row_group_events=size)  # fmt: skip
        assert none is None and pq.read_metadata(path).num_row_groups == groups
        pd.testing.assert_frame_equal(streamed, cutflow, check_exact=True)
        assert ak.array_equal(ak.from_parquet(path), events)
        assert str(ak.from_parquet(path).type) == str(events.type)
        if groups == 1:
            assert path.read_bytes() == (tmp_path / "one_shot.parquet").read_bytes()
    assert [len(group) for group in read_awkward(tmp_path / "streamed7.parquet")][:2] == [7, 7]


def test_skim_written_as_it_goes_of_an_empty_selection(ntuples, tmp_path):
    path, args = tmp_path / "e.parquet", (["met > 1e9"], WeightNorm(1.0, 100.0, 1.0))
    with pytest.raises(EmptySelectionError, match=r"selection\.cuts\[0\] 'met > 1e9'"):
        skim(ntuples, *args, process="toy", write_to=path)
    skim(ntuples, *args, process="toy", allow_empty=True, write_to=path)
    ak.to_parquet(skim(ntuples, *args, process="toy", allow_empty=True)[0], tmp_path / "one_shot.parquet")
    assert path.read_bytes() == (tmp_path / "one_shot.parquet").read_bytes()
    assert [len(group) for group in read_awkward(path)] == [0]
    with pytest.raises(EmptySelectionError, match="no input events"):
        skim([], ["met > 0"], WeightNorm(1.0, 100.0, 1.0), process="toy", write_to=tmp_path / "none.parquet")


def _varied_chunks(tmp_path, factors: np.ndarray) -> list:
    """The fixture's two toy chunks (50 events each, generator weight 1) written with variation
    weights: chunk i's events all weigh ``factors[i]`` (one per variation) in its Weight collection."""
    paths = []
    for i, row in enumerate(factors):
        objects = simulate(_toy_particles(50, i), load_card(CARD), seed=i)
        path = tmp_path / f"varied{i}.root"
        write_ntuple(path, delphes_branches(objects, np.ones(50), 2.0, 0.1, variation_weights=np.tile(row, (50, 1))))
        paths.append(path)
    return paths


def test_skimmed_variation_weights_sum_to_their_own_sigma_times_lumi(tmp_path):
    """Each variation's weights get the nominal's factor sigma L / sum w: over all generated events
    they sum to the variation's cross section of the process summary times L."""
    variations = [Variation("scale:mur=0.5", "scale", "envelope", "2"), Variation("scale:mur=2", "scale", "envelope", "3")]  # fmt: skip
    factors = np.array([[0.8, 1.5], [1.0, 1.1]])  # chunk 0: 40 and 75; chunk 1: 50 and 55
    paths = _varied_chunks(tmp_path, factors)
    summary = merge_chunks([_chunk(2.0, 100, np.ones(50), np.tile(row, (50, 1)), variations) for row in factors])
    # sum w = 100; sigma_var = 2 pb x 90 / 100 = 1.8 pb and 2 pb x 130 / 100 = 2.6 pb
    assert summary["variation_sigma_pb"] == pytest.approx({"scale:mur=0.5": 1.8, "scale:mur=2": 2.6})
    names = tuple(r["name"] for r in summary["variations"])
    norm = WeightNorm(summary["sigma_pb"], summary["sum_weights"], 3.0, names)
    events, cutflow = skim(paths, [], norm, "toy")
    # 1.8 pb x 3 fb^-1 x 1000 = 5400 and 2.6 x 3000 = 7800 events; the nominal 2 x 3000 = 6000
    assert ak.sum(events["weight_phys:scale:mur=0.5"]) == pytest.approx(5400.0)
    assert ak.sum(events["weight_phys:scale:mur=2"]) == pytest.approx(7800.0)
    for name, sigma in summary["variation_sigma_pb"].items():
        assert ak.sum(events[f"weight_phys:{name}"]) == pytest.approx(sigma * 3.0 * 1000)
    assert cutflow["yield"].iloc[0] == pytest.approx(6000.0)  # the cutflow stays nominal
    # per event: 2 pb x 3000 pb^-1 / 100 = 60 x the generator weight, 0.8 -> 48 in chunk 0
    np.testing.assert_allclose(events["weight_phys:scale:mur=0.5"][:50], 48.0)
    np.testing.assert_allclose(events["weight:scale:mur=2"][50:], 1.1)
    # after a cut the kept events keep their own ratios, and the nominal field is as without variations
    kept, _ = skim(paths, ["met > 20"], norm, "toy")
    plain, plain_cutflow = skim(paths, ["met > 20"], WeightNorm(*astuple(norm)[:3]), "toy")
    ratio = ak.to_numpy(kept["weight_phys:scale:mur=0.5"] / kept["weight_phys"])
    assert set(np.round(ratio, 12)) <= {0.8, 1.0}
    assert kept[plain.fields].to_list() == plain.to_list()


def test_skim_refuses_a_weight_collection_that_is_not_the_summarys(tmp_path, ntuples):
    paths = _varied_chunks(tmp_path, np.array([[0.8, 1.5], [1.0, 1.1]]))
    three = WeightNorm(2.0, 100.0, 3.0, ("a", "b", "c"))
    with pytest.raises(ValueError, match=r"varied0\.root.*holds 2 variations per event, the process's summary lists 3 \(a, b, c\)"):  # fmt: skip
        skim(paths, [], three, "toy")
    with pytest.raises(ValueError, match=r"chunk0\.root.*no Weight collection, but the process's variations are \['a'\]"):  # fmt: skip
        skim(ntuples, [], WeightNorm(2.0, 100.0, 3.0, ("a",)), "toy", write_to=tmp_path / "x.parquet")


def test_skimmed_variation_weights_stream_into_row_groups(tmp_path):
    paths = _varied_chunks(tmp_path, np.array([[0.8, 1.5], [1.0, 1.1]]))
    norm = WeightNorm(2.0, 100.0, 3.0, ("down", "up"))
    events, _ = skim(paths, ["met > 0"], norm, "toy", constituents=True)
    path = tmp_path / "streamed.parquet"
    skim(paths, ["met > 0"], norm, "toy", constituents=True, write_to=path, row_group_events=7)
    read = ak.from_parquet(path)
    assert ak.array_equal(read, events)
    assert [f for f in read.fields if "down" in f or "up" in f] == ["weight:down", "weight:up", "weight_phys:down", "weight_phys:up"]  # fmt: skip
