"""Jet substructure: N-subjettiness and soft-drop mass against hand values and plain-Python references.

Jets are built from massless (pt, y, phi) constituents, for which rapidity y = eta. Hand values:

- two prongs, 100 GeV at (0, 0) and 50 GeV at (0, 0.4): the E-scheme kT axis of both lies at y = 0,
  phi_a = atan2(50 sin 0.4, 100 + 50 cos 0.4) = 0.13253, so with beta = 1, R0 = 0.8
  tau_1 = (100 phi_a + 50 (0.4 - phi_a)) / (150 · 0.8) = 0.22189 and tau_2 = 0;
- three prongs A = 100 GeV at (0, 0), B = 50 GeV at (0, 0.4), C = 30 GeV at (0.5, 0): the kT
  distances min(pT²) ΔR² are AB 400, AC 225, BC 369, so the two exclusive kT subjets are A + C and
  B; A + C has phi = 0 and y_AC = ½ ln((E + pz) / (E - pz)) = 0.11735 with E = 100 + 30 cosh 0.5,
  pz = 30 sinh 0.5, hence tau_2 = (100 y_AC + 30 (0.5 - y_AC)) / (180 · 0.8) = 0.16121, tau_3 = 0;
- soft drop, massless pair: m² = 2 pT1 pT2 (cosh Δy - cos Δφ).
"""

import math

import awkward as ak
import fastjet
import numpy as np
import pytest

from phenoflow.events.substructure import cartesian, nsubjettiness, ratios, softdrop_mass


def jets(rows: list[list[tuple[float, float, float]]]) -> ak.Array:
    """events × var px, py, pz, E records from massless (pt, y, phi) tuples per event."""
    fields = {k: ak.Array([[float(c[i]) for c in row] for row in rows]) for i, k in enumerate(("pt", "eta", "phi"))}
    return cartesian(ak.zip(fields))


def pair_mass(pt1: float, y1: float, phi1: float, pt2: float, y2: float, phi2: float) -> float:
    """Invariant mass (GeV) of two massless particles."""
    return math.sqrt(2 * pt1 * pt2 * (math.cosh(y1 - y2) - math.cos(phi1 - phi2)))


def random_jets(n_jets: int, max_constituents: int, seed: int) -> list[list[tuple[float, float, float]]]:
    """Massless (pt, y, phi) jets, 1..max_constituents each, some straddling phi = ±pi."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_jets):
        n = int(rng.integers(1, max_constituents + 1))
        axis_y, axis_phi = rng.uniform(-2, 2), rng.choice([rng.uniform(-np.pi, np.pi), np.pi - 0.1])
        pt = rng.exponential(20.0, n) + 0.5
        y = axis_y + rng.normal(0, 0.35, n)
        phi = (axis_phi + rng.normal(0, 0.35, n) + np.pi) % (2 * np.pi) - np.pi
        rows.append(list(zip(pt, y, phi)))
    return rows


# --- plain-Python reference soft drop: C/A on a handful of particles, then declustering -----------


def _rapidity(p):
    return 0.5 * math.log((p[3] + p[2]) / (p[3] - p[2]))


def _dr2(p, q):
    dphi = (math.atan2(p[1], p[0]) - math.atan2(q[1], q[0]) + math.pi) % (2 * math.pi) - math.pi
    return (_rapidity(p) - _rapidity(q)) ** 2 + dphi**2


def reference_softdrop_mass(particles, z_cut, beta, r0):
    """Groomed mass (GeV) of one jet of (px, py, pz, E) tuples: C/A tree, follow the harder branch."""
    nodes = [(tuple(p), None) for p in particles]  # (four-momentum, (child, child) or None)
    while len(nodes) > 1:
        pairs = ((i, j) for i in range(len(nodes)) for j in range(i))
        i, j = min(pairs, key=lambda ij: _dr2(nodes[ij[0]][0], nodes[ij[1]][0]))
        merged = (tuple(a + b for a, b in zip(nodes[i][0], nodes[j][0])), (nodes[i], nodes[j]))
        nodes = [node for k, node in enumerate(nodes) if k not in (i, j)] + [merged]
    node = nodes[0]
    while node[1] is not None:
        a, b = node[1]
        pt_a, pt_b = math.hypot(a[0][0], a[0][1]), math.hypot(b[0][0], b[0][1])
        if min(pt_a, pt_b) / (pt_a + pt_b) > z_cut * (math.sqrt(_dr2(a[0], b[0])) / r0) ** beta:
            break
        node = a if pt_a > pt_b else b
    px, py, pz, e = node[0]
    return math.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0))


# --- N-subjettiness -------------------------------------------------------------------------------


def test_one_prong_jet_has_zero_taus():
    collinear = [(pt, 0.7, 1.2) for pt in (40.0, 25.0, 10.0, 5.0)]
    taus = nsubjettiness(jets([collinear]))
    assert taus.shape == (1, 3)
    np.testing.assert_allclose(taus, 0.0, atol=1e-7)


def test_two_prong_jet_hand_values():
    taus = nsubjettiness(jets([[(100.0, 0.0, 0.0), (50.0, 0.0, 0.4)]]), n_max=3, beta=1.0, radius=0.8)
    phi_a = math.atan2(50 * math.sin(0.4), 100 + 50 * math.cos(0.4))
    tau1 = (100 * phi_a + 50 * (0.4 - phi_a)) / (150 * 0.8)
    np.testing.assert_allclose(taus[0], [tau1, 0.0, 0.0], rtol=1e-9, atol=1e-12)
    assert tau1 == pytest.approx(0.22189, abs=1e-5)
    r = ratios(taus)
    assert r["tau21"][0] == 0.0 and np.isnan(r["tau32"][0])  # tau3 / tau2 = 0 / 0 → fill (NaN)


def test_two_prong_jet_beta_two():
    taus = nsubjettiness(jets([[(100.0, 0.0, 0.0), (50.0, 0.0, 0.4)]]), n_max=2, beta=2.0, radius=1.0)
    phi_a = math.atan2(50 * math.sin(0.4), 100 + 50 * math.cos(0.4))
    np.testing.assert_allclose(taus[0], [(100 * phi_a**2 + 50 * (0.4 - phi_a) ** 2) / 150, 0.0], rtol=1e-9, atol=1e-12)


def test_three_prong_jet_hand_values():
    taus = nsubjettiness(jets([[(100.0, 0.0, 0.0), (50.0, 0.0, 0.4), (30.0, 0.5, 0.0)]]))
    energy, pz = 100 + 30 * math.cosh(0.5), 30 * math.sinh(0.5)
    y_ac = 0.5 * math.log((energy + pz) / (energy - pz))
    tau2 = (100 * y_ac + 30 * (0.5 - y_ac)) / (180 * 0.8)
    assert tau2 == pytest.approx(0.16121, abs=1e-5)
    np.testing.assert_allclose(taus[0, 1:], [tau2, 0.0], rtol=1e-9, atol=1e-12)
    assert taus[0, 0] > taus[0, 1] > 0


def test_prongs_made_of_several_particles():
    # each prong of the two-prong jet split into three collinear particles: same taus
    split = [(100.0 * f, 0.0, 0.0) for f in (0.5, 0.3, 0.2)] + [(50.0 * f, 0.0, 0.4) for f in (0.6, 0.4)]
    np.testing.assert_allclose(
        nsubjettiness(jets([split])), nsubjettiness(jets([[(100.0, 0.0, 0.0), (50.0, 0.0, 0.4)]])), rtol=1e-9, atol=1e-9
    )


def test_too_few_constituents_give_zero():
    taus = nsubjettiness(jets([[(10.0, 0.1, 0.2)], [(10.0, 0.1, 0.2), (5.0, -0.3, 0.5)]]), n_max=4)
    np.testing.assert_array_equal(taus[0], 0.0)
    assert taus[1, 0] > 0
    np.testing.assert_array_equal(taus[1, 1:], 0.0)


def test_taus_invariant_under_phi_rotation():
    # a rotation by pi moves jets near phi = 0 onto the ±pi boundary and back
    rows = random_jets(30, 25, seed=11)
    rotated = [[(pt, y, (phi + 2 * np.pi) % (2 * np.pi) - np.pi) for pt, y, phi in row] for row in rows]
    np.testing.assert_allclose(nsubjettiness(jets(rotated)), nsubjettiness(jets(rows)), rtol=1e-9, atol=1e-12)


def test_jet_straddling_pi_equals_jet_at_zero():
    offsets = [(60.0, 0.1, 0.15), (30.0, -0.2, -0.25), (12.0, 0.35, 0.3), (5.0, -0.4, 0.05), (3.0, 0.0, -0.5)]
    at_zero = [(pt, 1.0 + dy, dphi) for pt, dy, dphi in offsets]
    at_pi = [(pt, 1.0 + dy, (np.pi + dphi + np.pi) % (2 * np.pi) - np.pi) for pt, dy, dphi in offsets]
    assert min(p[2] for p in at_pi) < -2.8 and max(p[2] for p in at_pi) > 2.8  # really straddles ±pi
    taus = nsubjettiness(jets([at_zero, at_pi]))
    np.testing.assert_allclose(taus[1], taus[0], rtol=1e-9)
    assert taus[0, 0] > taus[0, 1] > taus[0, 2] > 0
    masses = softdrop_mass(jets([at_zero, at_pi]), z_cut=0.1, beta=1.0)
    np.testing.assert_allclose(masses[1], masses[0], rtol=1e-9)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_matches_fastjet_contrib_nsubjettiness(beta):
    constituents = jets(random_jets(60, 30, seed=5))
    taus = nsubjettiness(constituents, n_max=4, beta=beta, radius=0.8)
    sequence = fastjet.ClusterSequence(constituents, fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0))
    reference = sequence.njettiness(
        measure_definition="NormalizedMeasure", axes_definition="KT_Axes", njets=[1, 2, 3, 4], beta=beta, R0=0.8
    ).to_numpy()
    np.testing.assert_allclose(taus, reference, rtol=1e-9, atol=1e-12)


def test_ratios_safe_division():
    taus = np.array([[0.5, 0.25, 0.1], [0.0, 0.0, 0.0], [np.nan, np.nan, np.nan], [0.4, 0.0, 0.0]])
    r = ratios(taus, fill=-1.0)
    assert set(r) == {"tau21", "tau32"}
    np.testing.assert_allclose(r["tau21"], [0.5, -1.0, np.nan, 0.0])
    np.testing.assert_allclose(r["tau32"], [0.4, -1.0, np.nan, -1.0])


# --- soft drop ------------------------------------------------------------------------------------


def test_softdrop_keeps_two_prongs():
    masses = softdrop_mass(jets([[(70.0, 0.0, 0.0), (30.0, 0.3, 0.2)]]), z_cut=0.1, beta=0.0)
    assert masses[0] == pytest.approx(pair_mass(70, 0, 0, 30, 0.3, 0.2), rel=1e-9)
    assert masses[0] == pytest.approx(16.5572, abs=1e-4)


def test_softdrop_drops_soft_wide_angle_particle():
    # C/A: the prongs (ΔR 0.36) merge first, the 5 GeV particle (ΔR 0.78 and 1.14) last; its
    # z = 5 / (|pT of the pair| + 5) ≈ 0.048 < 0.1, so it is dropped and the pair (z = 0.3) kept
    prongs = [(70.0, 0.0, 0.0), (30.0, 0.3, 0.2)]
    constituents = jets([prongs + [(5.0, -0.6, -0.5)]])
    groomed = softdrop_mass(constituents, z_cut=0.1, beta=0.0)[0]
    assert groomed == pytest.approx(pair_mass(70, 0, 0, 30, 0.3, 0.2), rel=1e-9)
    # without grooming (z_cut = 0) the soft particle stays and the mass is the full jet mass
    total = [float(ak.sum(constituents[f], axis=1)[0]) for f in ("px", "py", "pz", "E")]
    full = math.sqrt(total[3] ** 2 - total[0] ** 2 - total[1] ** 2 - total[2] ** 2)
    assert softdrop_mass(constituents, z_cut=0.0)[0] == pytest.approx(full, rel=1e-9)
    assert full > groomed + 9  # 26.3 against 16.6 GeV


def test_softdrop_angular_exponent():
    # z = 8 / 100 at ΔR = 0.4: dropped for beta = 0 (0.08 < 0.1), kept for beta = 1
    # (0.08 > 0.1 · 0.4 / 0.8 = 0.05); when dropped, only the massless 92 GeV particle is left
    constituents = jets([[(92.0, 0.0, 0.0), (8.0, 0.0, 0.4)]])
    assert softdrop_mass(constituents, z_cut=0.1, beta=0.0)[0] == 0.0
    kept = softdrop_mass(constituents, z_cut=0.1, beta=1.0, radius=0.8)[0]
    assert kept == pytest.approx(pair_mass(92, 0, 0, 8, 0, 0.4), rel=1e-9)


@pytest.mark.parametrize("z_cut, beta", [(0.1, 0.0), (0.2, 1.0), (0.05, 2.0)])
def test_softdrop_matches_python_reference(z_cut, beta):
    rows = random_jets(50, 12, seed=23)
    constituents = jets(rows)
    masses = softdrop_mass(constituents, z_cut=z_cut, beta=beta, radius=0.8)
    particles = [[(p["px"], p["py"], p["pz"], p["E"]) for p in jet] for jet in constituents.to_list()]
    reference = [reference_softdrop_mass(jet, z_cut, beta, 0.8) for jet in particles]
    np.testing.assert_allclose(masses, reference, rtol=1e-6, atol=1e-5)
    assert np.count_nonzero(np.array(reference) > 1.0) > 25  # most jets keep more than one constituent


@pytest.mark.parametrize("z_cut, beta", [(0.1, 0.0), (0.2, 1.0)])
def test_softdrop_matches_fastjet_softdrop(z_cut, beta):
    # fastjet's own (slow, O(n²) per jet) SoftDrop on the same C/A trees
    constituents = jets(random_jets(80, 40, seed=31))
    sequence = fastjet.ClusterSequence(constituents, fastjet.JetDefinition(fastjet.cambridge_algorithm, 1000.0))
    groomed = sequence.exclusive_jets_softdrop_grooming(njets=1, beta=beta, symmetry_cut=z_cut, R0=0.8)
    reference = np.maximum(groomed.msoftdrop.to_numpy(), 0.0)
    np.testing.assert_allclose(softdrop_mass(constituents, z_cut=z_cut, beta=beta), reference, rtol=1e-9, atol=1e-5)


def test_softdrop_single_constituent_and_zero_pt():
    single = jets([[(100.0, 1.3, 0.3)]])
    assert softdrop_mass(single)[0] == 0.0  # FastJet itself gives -1.3e-6 GeV here (m² < 0 by rounding)
    along_beam = ak.Array([[{"px": 0.0, "py": 0.0, "pz": 5.0, "E": 5.0}]])  # pT = 0, rapidity undefined
    beam = ak.concatenate([jets([[(10.0, 0.0, 0.0)]]), along_beam], axis=1)
    with_beam = ak.concatenate([beam, jets([[(100.0, 0.0, 0.0), (50.0, 0.0, 0.4)]])])
    masses = softdrop_mass(with_beam, z_cut=0.0)
    assert np.isnan(masses[0]) and masses[1] == pytest.approx(pair_mass(100, 0, 0, 50, 0, 0.4), rel=1e-9)


# --- empty jets, input forms ----------------------------------------------------------------------


def test_empty_and_missing_jets_give_fill():
    constituents = jets([[], [(100.0, 0.0, 0.0), (50.0, 0.0, 0.4)], []])
    with_none = ak.concatenate([constituents, ak.Array([None])])
    taus = nsubjettiness(with_none)
    assert taus.shape == (4, 3)
    assert np.isnan(taus[[0, 2, 3]]).all() and np.isfinite(taus[1]).all()
    masses = softdrop_mass(with_none)
    assert np.isnan(masses[[0, 2, 3]]).all() and masses[1] > 0
    np.testing.assert_array_equal(nsubjettiness(constituents, fill=-1.0)[[0, 2]], -1.0)
    np.testing.assert_array_equal(softdrop_mass(constituents, fill=-1.0)[[0, 2]], -1.0)


def test_all_empty_and_no_events():
    assert np.isnan(nsubjettiness(jets([[], []]))).all() and np.isnan(softdrop_mass(jets([[], []]))).all()
    assert nsubjettiness(jets([[], []])[:0]).shape == (0, 3) and softdrop_mass(jets([[]])[:0]).shape == (0,)


def test_sliced_input_matches():
    constituents = jets(random_jets(12, 10, seed=2))
    np.testing.assert_array_equal(nsubjettiness(constituents[3:9]), nsubjettiness(constituents)[3:9])
    np.testing.assert_array_equal(softdrop_mass(constituents[[7, 1, 4]]), softdrop_mass(constituents)[[7, 1, 4]])


def test_cartesian_from_pt_eta_phi():
    base = ak.Array([[{"pt": 10.0, "eta": 0.5, "phi": -2.0}], []])
    c = cartesian(base)
    assert ak.fields(c) == ["px", "py", "pz", "E"] and ak.num(c).tolist() == [1, 0]
    np.testing.assert_allclose(
        [c.px[0, 0], c.py[0, 0], c.pz[0, 0], c.E[0, 0]],
        [10 * math.cos(-2.0), 10 * math.sin(-2.0), 10 * math.sinh(0.5), 10 * math.cosh(0.5)],
    )
    massive = cartesian(ak.Array([[{"pt": 10.0, "eta": 0.5, "phi": -2.0, "mass": 3.0}]]))
    assert massive.E[0, 0] == pytest.approx(math.sqrt((10 * math.cosh(0.5)) ** 2 + 9))
    given = cartesian(ak.Array([[{"pt": 10.0, "eta": 0.5, "phi": -2.0, "E": 20.0}]]))
    assert given.E[0, 0] == 20.0


def test_wrong_fields_and_parameters_raise():
    with pytest.raises(ValueError, match="cartesian"):
        nsubjettiness(ak.Array([[{"pt": 10.0, "eta": 0.5, "phi": -2.0}]]))
    with pytest.raises(ValueError):
        nsubjettiness(jets([[(1.0, 0.0, 0.0)]]), n_max=0)
    with pytest.raises(ValueError):
        softdrop_mass(jets([[(1.0, 0.0, 0.0)]]), beta=-1.0)
