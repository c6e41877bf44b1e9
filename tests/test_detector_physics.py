"""Physics validation of the fast simulation on the tiny workflow's Pythia8 events.

The hadronic Z of the signal gives a fat-jet mass peak at the Z mass; reconstructed jets
measure the generator-level jets' pT without bias and with a resolution better than the HCAL
alone (particle flow); MissingET follows the neutrinos' pT (GenMissingET, which is their vector
sum: tests/test_detector.py checks that exactly).
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import vector

from phenoflow.detector.card import load_card

vector.register_awkward()
Z_MASS = 91.19  # GeV


def _read(workdir: Path, process: str, branches: list[str]) -> ak.Array:
    files = sorted((workdir / "results" / "generate" / process).glob("chunk*.root"))
    assert files, f"no ntuples of {process}"
    return uproot.concatenate([f"{f}:Delphes" for f in files], filter_name=branches)


def _p4(arrays: ak.Array, name: str) -> ak.Array:
    return ak.zip({k.lower(): arrays[f"{name}.{k}"] for k in ("PT", "Eta", "Phi", "Mass")}, with_name="Momentum4D")


@pytest.mark.parametrize("process", ["zz_qqvv", "zz_madgraph"])
def test_signal_fat_jet_mass_peaks_at_the_z(tiny, process):
    arrays = _read(tiny, process, ["FatJet.Mass"])
    mass = ak.to_numpy(ak.firsts(arrays["FatJet.Mass"])[ak.num(arrays["FatJet.Mass"]) > 0])
    counts, edges = np.histogram(mass, bins=np.arange(40.0, 150.0, 10.0))
    mode = edges[np.argmax(counts)] + 5.0
    peak = mass[np.abs(mass - mode) < 15.0].mean()  # mean around the most populated bin
    assert peak == pytest.approx(Z_MASS, rel=0.10)
    assert np.mean(np.abs(mass - Z_MASS) < 20.0) > 0.3


def _matched_jets(workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(reco pT / GenJet pT, GenJet pT) for GenJets with |eta| < 2.5 matched within delta R 0.2."""
    branches = [f"{c}.{k}" for c in ("Jet", "GenJet") for k in ("PT", "Eta", "Phi", "Mass")]
    response, truth_pt = [], []
    for process in ("zz_qqvv", "zvv_jets", "qcd"):
        arrays = _read(workdir, process, branches)
        gen, reco = _p4(arrays, "GenJet"), _p4(arrays, "Jet")
        gen = gen[abs(gen.eta) < 2.5]
        g, r = ak.unzip(ak.cartesian([gen, reco], axis=1, nested=True))
        distance = g.deltaR(r)
        best = ak.argmin(distance, axis=2, keepdims=True)
        close = ak.fill_none(ak.flatten(distance[best], axis=2) < 0.2, False)
        matched = ak.flatten(r[best], axis=2)
        response.append(ak.to_numpy(ak.flatten((matched.pt / gen.pt)[close])))
        truth_pt.append(ak.to_numpy(ak.flatten(gen.pt[close])))
    return np.concatenate(response), np.concatenate(truth_pt)


def test_jet_response_and_resolution(tiny):
    response, truth_pt = _matched_jets(tiny)
    hcal = load_card(tiny / "config" / "cards" / "cms.yaml").hcal.resolution
    widths = []
    for low, high in ((30, 50), (50, 100), (100, 200), (200, 500)):
        r = response[(truth_pt > low) & (truth_pt < high)]
        assert len(r) > 200, (low, high)
        assert np.median(r) == pytest.approx(1.0, abs=0.03), (low, high)  # no bias in the bulk
        width = (np.percentile(r, 75) - np.percentile(r, 25)) / 1.349  # Gaussian-equivalent
        centre = np.sqrt(low * high)
        # particle flow: better than the HCAL alone would measure the jet energy
        assert width < hcal(energy=centre, eta=0.0, pt=centre, phi=0.0) / centre, (low, high)
        widths.append(width)
    assert np.all(np.diff(widths) < 0)  # relative resolution improves with pT
    # and it has the calorimeter's shape: sigma/pT = sqrt(a^2 / pT + c^2)
    centres = np.sqrt(np.array([30 * 50, 50 * 100, 100 * 200, 200 * 500]))
    (a2, c2), *_ = np.linalg.lstsq(np.c_[1 / centres, np.ones(4)], np.square(widths), rcond=None)
    assert a2 > 0 and c2 >= -1e-4
    np.testing.assert_allclose(np.sqrt(a2 / centres + max(c2, 0)), widths, rtol=0.15)


def test_missing_et_tracks_the_neutrinos(tiny):
    arrays = _read(tiny, "zz_qqvv", ["MissingET.MET", "MissingET.Phi", "GenMissingET.MET", "GenMissingET.Phi"])
    met, phi = ak.to_numpy(arrays["MissingET.MET"][:, 0]), ak.to_numpy(arrays["MissingET.Phi"][:, 0])
    true, true_phi = ak.to_numpy(arrays["GenMissingET.MET"][:, 0]), ak.to_numpy(arrays["GenMissingET.Phi"][:, 0])
    boosted = true > 150.0  # Z -> nu nu recoiling against the hadronic Z
    assert boosted.sum() > 200
    assert np.median(met[boosted] / true[boosted]) == pytest.approx(1.0, abs=0.05)
    assert np.corrcoef(met[boosted], true[boosted])[0, 1] > 0.9
    d_phi = (phi - true_phi + np.pi) % (2 * np.pi) - np.pi
    assert np.median(np.abs(d_phi[boosted])) < 0.1


def test_substructure_tells_the_two_prong_z_from_qcd(tiny):
    import pandas as pd

    table = pd.read_parquet(tiny / "results" / "features" / "features.parquet")
    signal, qcd = (table[table["process"] == p] for p in ("zz_qqvv", "qcd"))
    assert np.median(signal["fatjet0.tau21"]) < np.median(qcd["fatjet0.tau21"]) - 0.2
    groomed = signal["fatjet0.msoftdrop"].to_numpy()
    counts, edges = np.histogram(groomed, bins=np.arange(40.0, 150.0, 10.0))
    mode = edges[np.argmax(counts)] + 5.0
    assert groomed[np.abs(groomed - mode) < 15.0].mean() == pytest.approx(Z_MASS, rel=0.10)
    # grooming removes soft wide-angle radiation: QCD jets lose much more mass than the Z
    ratio = lambda t: np.median(t["fatjet0.msoftdrop"] / t["fatjet0.mass"])  # noqa: E731
    assert ratio(signal) > ratio(qcd) + 0.2
