import awkward as ak
import numpy as np
import pandas as pd
import pytest

from phenoflow.detector.ntuple import read_events
from phenoflow.events.skim import EmptySelectionError, physical_weights, skim
from phenoflow.generation.crosssection import merge_chunks
from phenoflow.parquet import read_awkward


def test_physical_weights_hand_value():
    # 2 pb, 10 fb^-1 = 10 000 pb^-1 -> 20 000 events over sum of weights 4
    np.testing.assert_allclose(physical_weights(np.array([1.0, 1.0, 1.0, 1.0]), 2.0, 4.0, 10.0), [5000.0] * 4)
    # signed weights keep their sign and the total is still sigma * L
    w = physical_weights(np.array([2.0, -1.0, 1.0]), 3.0, 2.0, 1.0)
    np.testing.assert_allclose(w, [3000.0, -1500.0, 1500.0])
    assert w.sum() == pytest.approx(3000.0)


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
        ntuples, ["jet0.pt > 30", "met > 0"], sigma_pb=2.0, sum_gen_weights=100.0, luminosity_fb=3.0, process="toy"
    )
    assert cutflow["yield"][0] == pytest.approx(2.0 * 3.0 * 1000)
    assert cutflow["events"][0] == 100
    assert list(cutflow["step"]) == ["all events", "jet0.pt > 30", "met > 0"]
    assert np.all(np.diff(cutflow["events"]) <= 0)
    assert len(events) == cutflow["events"].iloc[-1]
    assert ak.sum(events.weight_phys) == pytest.approx(cutflow["yield"].iloc[-1])


def test_skim_empty_selection_is_an_error_naming_the_cut(ntuples):
    with pytest.raises(EmptySelectionError, match=r"process 'toy'.*selection\.cuts\[1\] 'met > 1e9'"):
        skim(ntuples, ["met >= 0", "met > 1e9"], 1.0, 100.0, 1.0, process="toy")
    events, cutflow = skim(ntuples, ["met > 1e9"], 1.0, 100.0, 1.0, process="toy", allow_empty=True)
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


def test_skim_written_as_it_goes_holds_its_events_in_row_groups(ntuples, tmp_path):
    """Written row group by row group: the arrays and cutflow of the skim held in memory; one row
    group (at most row_group_events kept events) gives the bytes of ak.to_parquet of them."""
    import pyarrow.parquet as pq

    from phenoflow.events.skim import ROW_GROUP_EVENTS

    cuts, norm = ["met > 20", "fatjet0.pt > 0"], dict(sigma_pb=2.0, sum_gen_weights=100.0, luminosity_fb=3.0)
    events, cutflow = skim(ntuples, cuts, **norm, process="toy", constituents=True)
    assert 14 < len(events) < ROW_GROUP_EVENTS  # several small row groups below, one at the default
    ak.to_parquet(events, tmp_path / "one_shot.parquet")
    for size, groups in ((ROW_GROUP_EVENTS, 1), (7, -(-len(events) // 7)), (len(events), 1)):
        path = tmp_path / f"streamed{size}.parquet"
        none, streamed = skim(ntuples, cuts, **norm, process="toy", constituents=True, write_to=path, row_group_events=size)  # fmt: skip
        assert none is None and pq.read_metadata(path).num_row_groups == groups
        pd.testing.assert_frame_equal(streamed, cutflow, check_exact=True)
        assert ak.array_equal(ak.from_parquet(path), events)
        assert str(ak.from_parquet(path).type) == str(events.type)
        if groups == 1:
            assert path.read_bytes() == (tmp_path / "one_shot.parquet").read_bytes()
    assert [len(group) for group in read_awkward(tmp_path / "streamed7.parquet")][:2] == [7, 7]


def test_skim_written_as_it_goes_of_an_empty_selection(ntuples, tmp_path):
    path, args = tmp_path / "e.parquet", (["met > 1e9"], 1.0, 100.0, 1.0)
    with pytest.raises(EmptySelectionError, match=r"selection\.cuts\[0\] 'met > 1e9'"):
        skim(ntuples, *args, process="toy", write_to=path)
    skim(ntuples, *args, process="toy", allow_empty=True, write_to=path)
    ak.to_parquet(skim(ntuples, *args, process="toy", allow_empty=True)[0], tmp_path / "one_shot.parquet")
    assert path.read_bytes() == (tmp_path / "one_shot.parquet").read_bytes()
    assert [len(group) for group in read_awkward(path)] == [0]
    with pytest.raises(EmptySelectionError, match="no input events"):
        skim([], ["met > 0"], 1.0, 100.0, 1.0, process="toy", write_to=tmp_path / "none.parquet")
