"""The fast detector simulation against hand-computed values and the card's formulas."""

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from phenoflow.detector.card import load_card
from phenoflow.detector.simulation import calorimeter_position, lognormal, simulate, tower_geometry, tower_index

CARD = load_card(Path(__file__).resolve().parents[1] / "config" / "cards" / "cms.yaml")


def particles(events: list[list[tuple]]) -> ak.Array:
    """Events of (pid, status, pt, eta, phi, mass) tuples as generator records (GeV)."""
    counts = [len(e) for e in events]
    rows = np.array([p for e in events for p in e], dtype=np.float64).reshape(-1, 6)
    pid, status, pt, eta, phi, mass = rows.T
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    fields = {
        "pid": pid.astype(np.int32),
        "status": status.astype(np.int32),
        "px": px,
        "py": py,
        "pz": pz,
        "e": e,
        "mass": mass,
    }
    return ak.unflatten(ak.zip(fields), counts)


def repeat(event: list[tuple], n: int) -> ak.Array:
    return particles([event] * n)


def test_propagation_hand_values():
    prop = CARD.propagator
    pt = np.array([100.0, 100.0, 100.0, 0.5, 100.0])
    eta = np.array([0.0, 0.0, 0.0, 1.0, 3.0])
    phi = np.full(5, 1.0)
    q = np.array([0.0, 1.0, -1.0, 1.0, 1.0])
    eta_hit, phi_hit = calorimeter_position(pt, eta, phi, q, prop)
    r = 100.0 / (0.299792458 * 3.8)  # helix radius of a 100 GeV track, m
    half_turn = np.arcsin(1.29 / (2 * r))
    np.testing.assert_allclose(phi_hit[:3], [1.0, 1.0 - half_turn, 1.0 + half_turn])  # + charge turns clockwise
    np.testing.assert_allclose(eta_hit[:3], 0.0, atol=1e-12)
    # 0.5 GeV at eta = 1 loops inside the barrel (2r = 0.88 m < 1.29 m) and hits the endcap at z = 3 m
    r_low = 0.5 / (0.299792458 * 3.8)
    alpha = 3.0 / (r_low * np.sinh(1.0))
    assert eta_hit[3] == pytest.approx(np.arcsinh(3.0 / (2 * r_low * abs(np.sin(alpha / 2)))))
    assert phi_hit[3] == pytest.approx((1.0 - alpha / 2 + np.pi) % (2 * np.pi) - np.pi)
    # a stiff forward track reaches the endcap close to its own direction
    assert eta_hit[4] == pytest.approx(3.0, abs=2e-4)


def test_towers_cover_the_calorimeter_and_wrap_in_phi():
    grid = CARD.ecal.towers
    eta = np.array([0.01, 0.01, 0.01, 4.8, -4.99, 5.2])
    phi = np.array([np.pi, -np.pi, 0.3, 0.3, 0.3, 0.3])
    tower = tower_index(grid, eta, phi)
    assert tower[0] == tower[1]  # phi = pi is phi = -pi
    assert tower[-1] == -1  # outside |eta| < 5
    centre_eta, centre_phi, d_eta, d_phi = tower_geometry(grid, tower[:5])
    assert np.all(np.abs(centre_eta - eta[:5]) <= d_eta / 2)
    assert np.all(np.abs(centre_phi[2:] - phi[2:5]) <= d_phi[2:] / 2)
    assert d_phi[2] == pytest.approx(2 * np.pi / 360) and d_phi[3] == pytest.approx(2 * np.pi / 36)
    assert d_eta[2] == pytest.approx(0.0174)


def test_lognormal_has_the_requested_mean_and_width():
    rng = np.random.default_rng(1)
    draws = lognormal(rng, np.full(200_000, 50.0), np.full(200_000, 5.0))
    assert draws.mean() == pytest.approx(50.0, rel=2e-3)
    assert draws.std() == pytest.approx(5.0, rel=1e-2)
    assert np.all(lognormal(rng, np.zeros(3), np.ones(3)) == 0)


def test_ecal_resolution_follows_the_card():
    n, energy, eta = 4000, 50.0, 0.3
    out = simulate(repeat([(22, 1, energy / np.cosh(eta), eta, 0.5, 0.0)], n), CARD, seed=3)
    measured = ak.to_numpy(ak.flatten(out["EFlowPhoton"].E))
    assert len(measured) == n  # one tower, always above threshold
    sigma = CARD.ecal.resolution(energy=energy, eta=eta, pt=0.0, phi=0.0)
    assert measured.mean() == pytest.approx(energy, rel=3 * sigma / energy / np.sqrt(n))
    assert measured.std() == pytest.approx(sigma, rel=0.05)
    found = ak.num(out["Photon"]).to_numpy().mean()  # isolated and 95 % efficient in the barrel
    assert found == pytest.approx(0.95, abs=3 * np.sqrt(0.95 * 0.05 / n))


def test_hcal_resolution_and_untracked_charged_hadrons():
    n, energy, eta = 4000, 100.0, 2.7  # beyond the tracker: a pi+ is seen by the HCAL only
    for pid in (2112, 211):
        out = simulate(repeat([(pid, 1, energy / np.cosh(eta), eta, -2.0, 0.0)], n), CARD, seed=4)
        assert ak.sum(ak.num(out["EFlowTrack"])) == 0
        measured = ak.to_numpy(ak.flatten(out["EFlowNeutralHadron"].E))
        sigma = CARD.hcal.resolution(energy=energy, eta=eta, pt=0.0, phi=0.0)
        assert len(measured) == n
        assert measured.std() == pytest.approx(sigma, rel=0.05)


def test_tracks_are_smeared_with_the_card_resolution():
    n, pt = 5000, 20.0
    out = simulate(repeat([(211, 1, pt, 0.2, 0.0, 0.13957)], n), CARD, seed=5)
    tracks = ak.to_numpy(ak.flatten(out["EFlowTrack"].pt))
    assert len(tracks) / n == pytest.approx(0.95, abs=3 * np.sqrt(0.95 * 0.05 / n))  # efficiency
    resolution = CARD.tracking_resolution["charged_hadron"](pt=pt, eta=0.2, phi=0.0, energy=pt)
    assert tracks.std() / pt == pytest.approx(resolution, rel=0.05)
    assert tracks.mean() == pytest.approx(pt, rel=3 * resolution / np.sqrt(len(tracks)))


def test_isolated_electron_is_found_and_not_a_jet():
    n = 3000
    out = simulate(repeat([(11, 1, 50.0, 0.5, 1.0, 0.000511)], n), CARD, seed=6)
    found = ak.num(out["Electron"]).to_numpy()
    tracked = ak.num(out["EFlowTrack"]).to_numpy() == 1
    assert tracked.mean() == pytest.approx(0.95, abs=3 * np.sqrt(0.95 * 0.05 / n))  # tracking efficiency
    # a track measured low leaves an ECAL excess: an EFlow photon in the isolation cone (a few %)
    clean = tracked & (ak.num(out["EFlowPhoton"]).to_numpy() == 0)
    assert clean.sum() > 0.9 * tracked.sum()
    assert found[clean].mean() == pytest.approx(0.95, abs=3 * np.sqrt(0.95 * 0.05 / clean.sum()))  # identification
    assert np.all(out["Electron"].charge[found > 0][:, 0] == -1)
    assert np.all(ak.num(out["Jet"])[found > 0] == 0)  # UniqueObjectFinder removed the electron's jet
    assert ak.all(ak.num(out["Jet"])[found == 0] <= 1)
    ht = out["ScalarHT"][found > 0]
    np.testing.assert_allclose(ht, ak.to_numpy(out["Electron"].pt[found > 0][:, 0]), rtol=1e-12)


def test_electron_with_a_close_hadron_is_not_isolated():
    # a 20 GeV pi+ at delta R = 0.2 carries 40 % of the electron's pT (limit 12 %)
    out = simulate(repeat([(11, 1, 50.0, 0.5, 1.0, 0.0), (211, 1, 20.0, 0.5, 1.2, 0.13957)], 500), CARD, seed=7)
    assert ak.sum(ak.num(out["Electron"])) == 0
    # but a pi+ far away does not spoil it
    out = simulate(repeat([(11, 1, 50.0, 0.5, 1.0, 0.0), (211, 1, 20.0, -1.0, -2.0, 0.13957)], 500), CARD, seed=7)
    assert ak.mean(ak.num(out["Electron"])) > 0.85


def test_missing_et_balances_the_visible_system():
    n = 2000
    event = [(12, 1, 100.0, 0.3, 0.0, 0.0), (22, 1, 100.0, -0.4, np.pi, 0.0)]
    out = simulate(repeat(event, n), CARD, seed=8)
    gen = out["GenMissingET"]
    np.testing.assert_allclose(gen.rho, 100.0, rtol=1e-9)
    np.testing.assert_allclose(gen.phi, 0.0, atol=1e-9)
    met = ak.to_numpy(out["MissingET"].rho)
    sigma = CARD.ecal.resolution(energy=100 * np.cosh(0.4), eta=0.4, pt=0.0, phi=0.0) / np.cosh(0.4)
    assert np.median(met) == pytest.approx(100.0, abs=3 * sigma / np.sqrt(n) * 1.25 + 0.2)
    assert np.std(met) == pytest.approx(sigma, rel=0.1)


def test_b_jets_get_flavour_5_and_the_b_tag_efficiency():
    n = 3000
    jet = [(211, 1, 20.0, 0.1, 0.3 + d, 0.13957) for d in (-0.05, 0.0, 0.05)]
    b_event = [*jet, (5, -71, 40.0, 0.1, 0.3, 4.8)]
    light_event = [*jet, (5, -71, 40.0, 0.1, -2.0, 4.8)]  # the b quark is far away
    for event, flavour, formula in (
        (b_event, 5, CARD.btagging.efficiency[5]),
        (light_event, 0, CARD.btagging.efficiency[0]),
    ):
        jets = simulate(repeat(event, n), CARD, seed=9)["Jet"]
        jets = ak.flatten(jets[ak.num(jets) > 0][:, :1])
        assert ak.all(jets.flavor == flavour)
        expected = formula(pt=ak.to_numpy(jets.pt), eta=ak.to_numpy(jets.eta), phi=0.0, energy=0.0).mean()
        rate = ak.mean(jets.btag)
        assert rate == pytest.approx(expected, abs=3 * np.sqrt(expected * (1 - expected) / len(jets)) + 1e-3)


def test_same_seed_same_objects_and_empty_events():
    event = [(211, 1, 30.0, 0.1, 0.3, 0.13957), (22, 1, 40.0, -1.0, 2.0, 0.0), (2112, 1, 25.0, 1.5, -1.0, 0.94)]
    parts = particles([event, [], event])
    a, b, c = (simulate(parts, CARD, seed=s) for s in (11, 11, 12))
    for name in ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron", "Jet", "MissingET"):
        assert ak.to_list(a[name]) == ak.to_list(b[name])
    assert ak.to_list(a["EFlowPhoton"]) != ak.to_list(c["EFlowPhoton"])
    assert ak.num(a["EFlowTrack"])[1] == 0 and a["MissingET"].rho[1] == 0 and a["ScalarHT"][1] == 0
    none = simulate(particles([[], []]), CARD, seed=1)
    assert len(none["Jet"]) == 2 and ak.sum(ak.num(none["Jet"])) == 0
