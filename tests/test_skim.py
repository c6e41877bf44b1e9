from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from phenoflow.crosssection import merge_chunks
from phenoflow.card import load_card
from phenoflow.detector import simulate
from phenoflow.ntuple import delphes_branches, read_events, write_ntuple
from phenoflow.skim import EmptySelectionError, physical_weights, skim


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


def _toy_particles(n: int, seed: int) -> ak.Array:
    """n events of 20 massless visible pions and one neutrino each, px/py/pz/e in GeV."""
    rng = np.random.default_rng(seed)
    pt = rng.exponential(30.0, size=(n, 21)) + 1
    eta = rng.uniform(-2, 2, size=(n, 21))
    phi = rng.uniform(-np.pi, np.pi, size=(n, 21))
    pid = np.tile(np.r_[np.full(20, 211), 12], (n, 1))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2)
    counts = np.full(n, 21)
    f = lambda a: ak.unflatten(a.ravel(), counts)  # noqa: E731
    status = np.ones_like(pid)
    return ak.zip({"pid": f(pid), "status": f(status), "px": f(px), "py": f(py), "pz": f(pz), "e": f(e), "mass": f(np.zeros_like(e))})


CARD = Path(__file__).resolve().parents[1] / "config" / "cards" / "cms.yaml"


@pytest.fixture
def ntuples(tmp_path):
    paths = []
    for i in range(2):
        objects = simulate(_toy_particles(50, i), load_card(CARD), seed=i)
        path = tmp_path / f"chunk{i}.root"
        write_ntuple(path, delphes_branches(objects, np.ones(50), 2.0, 0.1))
        paths.append(path)
    return paths


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
    assert "EFlowTrack_size" in keys and ak.all(abs(uproot.open(ntuples[0])["Delphes"]["EFlowTrack.PID"].array()) == 211)


def test_skim_weights_sum_to_sigma_lumi_and_cutflow(ntuples):
    events, cutflow = skim(ntuples, ["jet0.pt > 30", "met > 0"], sigma_pb=2.0, sum_gen_weights=100.0, luminosity_fb=3.0, process="toy")
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
