"""The LHE input path: reading real MadGraph files and hand-made ones, and showering with Pythia8.

Real files (tests/data/lhe/pp_*.lhe.gz) are copies of /work/shared/data/madgraph/*; the hand-made
ones are described in tests/data/lhe/README.md. Showering costs ~30 events/s on a loaded
two-core machine, so the 1000-event pp_jj file is showered only from event 700 to its end.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pylhe
import pytest

from phenoflow.config import lhe_variation_errors
from phenoflow.detector.card import load_card
from phenoflow.detector.simulation import simulate
from phenoflow.generation import generate_chunk
from phenoflow.generation.lhe import (
    LHEHeader,
    cross_section,
    read_beams,
    read_header,
    read_scan,
    read_variations,
    write_scan,
)
from phenoflow.generation.lhe_shower import shower
from phenoflow.generation.pythia import shower_variations
from phenoflow.variations import Variation

DATA = Path(__file__).parent / "data" / "lhe"
ZZ = DATA / "pp_zz_jjvv.lhe.gz"
JJ = DATA / "pp_jj.lhe.gz"
PPBAR = DATA / "ppbar_1960_idwtup3.lhe"
NLO = DATA / "nlo_weights_lhef3.lhe.gz"
GARBAGE = DATA / "garbage.lhe"

SEED = 20240611
NLO_NOMINAL = np.array([2.0, -0.5, 1.5, 1.0, -0.25, 0.75])  # XWGTUP of the six events, pb
NEUTRINOS = (12, 14, 16)


def _lhe_nunu_masses(path: Path) -> np.ndarray:
    """m(nu nubar) of the Z -> nu nu decay of every event, straight from the file with pylhe (GeV)."""
    masses = []
    for event in pylhe.LHEFile.fromfile(path, with_attributes=False).events:
        nus = [p for p in event.particles if p.status == 1 and abs(p.id) in NEUTRINOS]
        e, px, py, pz = (sum(getattr(p, k) for p in nus) for k in ("e", "px", "py", "pz"))
        masses.append(math.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0)))
    return np.array(masses)


def _final(particles: ak.Array) -> ak.Array:
    """The final-state particles of a chunk (without the heavy quarks kept for jet flavour)."""
    return particles[particles.status > 0]


def _showered_nunu_masses(particles: ak.Array) -> ak.Array:
    """Invariant masses of every final-state nu nubar pair of the same flavour, per event (GeV).

    The showers boost the hard system (ISR recoil) but never change its invariant masses, and
    neutrinos do not radiate, so the LHE m(nu nu) survives exactly among these pairs.
    """
    nu = particles[(particles.pid > 0) & ((particles.pid == 12) | (particles.pid == 14) | (particles.pid == 16))]
    nubar = particles[(particles.pid < 0) & ((particles.pid == -12) | (particles.pid == -14) | (particles.pid == -16))]
    a, b = ak.unzip(ak.cartesian([nu, nubar], axis=1))
    same = a.pid == -b.pid
    a, b = a[same], b[same]
    e, px, py, pz = a.e + b.e, a.px + b.px, a.py + b.py, a.pz + b.pz
    return np.sqrt(np.maximum(e * e - px * px - py * py - pz * pz, 0.0))


def _matches(pair_masses: ak.Array, lhe_masses: np.ndarray) -> np.ndarray:
    """Per event: does one of the showered pair masses equal the LHE m(nu nu) (rel. 1e-6)?"""
    close = abs(pair_masses - lhe_masses[:, np.newaxis]) < 1e-6 * lhe_masses[:, np.newaxis]
    return ak.to_numpy(ak.any(close, axis=1))


@pytest.fixture(scope="module")
def zz_full():
    """All 100 events of the real MadGraph ZZ -> (jj)(vv) file, showered (n_events=None)."""
    return shower(ZZ, seed=SEED)


@pytest.fixture(scope="module")
def zz_chunks():
    """The same file in two chunks of 50 with the same seed as ``zz_full``."""
    return shower(ZZ, 50, seed=SEED), shower(ZZ, 50, seed=SEED, first_event=50)


# ----------------------------------------------------------------------------------- real files


def test_real_madgraph_headers():
    zz, jj = read_header(ZZ), read_header(JJ)
    for h in (zz, jj):
        assert isinstance(h, LHEHeader)
        assert h.beam_pdg == (2212, 2212)
        assert h.beam_energy_gev == (6500.0, 6500.0)
        assert h.sqrt_s_gev == 13000.0
        assert h.idwtup == -4
        assert h.generator_name == "MadGraph5_aMC@NLO"
        assert h.lhe_version == "3.0"
        assert len(h.processes) == 1 and h.processes[0].lprup == 1
        assert len(h.weight_ids) == 145  # scale and PDF variations in <initrwgt>
    assert zz.generator_version == "3.5.2" and jj.generator_version == "3.5.8"
    assert (zz.n_events, jj.n_events) == (100, 1000)
    # the <init> line, digit for digit
    assert zz.sigma_pb == 2.283700e-03 and zz.sigma_err_pb == 3.839514e-05
    assert jj.sigma_pb == 6.996707e08 and jj.sigma_err_pb == 4.219275e06


def test_real_madgraph_cross_sections():
    # IDWTUP -4: the mean event weight; MadGraph's unweighted events all carry the integrated
    # weight it prints in <MGGenerationInfo> (0.0022837 pb and 699670670.0 pb)
    sigma, err = cross_section(ZZ)
    assert sigma == pytest.approx(0.0022837, rel=1e-12)
    # identical weights have no spread: the error is MadGraph's integration error from <init>
    assert err == pytest.approx(3.839514e-05, rel=1e-12)
    sigma, err = cross_section(JJ)
    assert sigma == pytest.approx(6.9967067e8, rel=1e-12)
    assert sigma == pytest.approx(6.9967e8, rel=1e-5)
    assert err == pytest.approx(4.219275e06, rel=1e-12)


def test_every_zz_event_showered_in_file_order(zz_full):
    assert len(zz_full.particles) == 100
    assert zz_full.n_tried == zz_full.n_accepted == 100
    assert zz_full.info["failed_events"] == []
    assert zz_full.sigma_pb == pytest.approx(0.0022837, rel=1e-12)
    np.testing.assert_allclose(zz_full.weights, np.full(100, 0.0022837), rtol=1e-12)
    assert zz_full.info["beam_energy_gev"] == (6500.0, 6500.0)
    assert zz_full.info["generator_version"] == "3.5.2"
    assert set(ak.fields(zz_full.particles)) == {"pid", "status", "px", "py", "pz", "e", "mass"}
    # final-state particles, plus the b and c quarks of the record (negative status) for jet flavour
    quarks = zz_full.particles[zz_full.particles.status < 0]
    assert ak.all((abs(quarks.pid) == 4) | (abs(quarks.pid) == 5))
    # showered, hadronised: hundreds of final-state particles, mostly hadrons and photons
    assert ak.mean(ak.num(zz_full.particles)) > 100
    assert ak.sum(abs(zz_full.particles.pid) == 211) > 1000
    # showered event i is LHE event i: its Z -> nu nu pair mass is the file's
    lhe_m = _lhe_nunu_masses(ZZ)
    matched = _matches(_showered_nunu_masses(zz_full.particles), lhe_m)
    assert matched.all()
    assert not _matches(_showered_nunu_masses(zz_full.particles), np.roll(lhe_m, 1)).any()


def test_zz_fat_jet_mass_peaks_at_the_z(zz_full):
    card = load_card(Path(__file__).resolve().parents[1] / "config" / "cards" / "cms.yaml")
    fatjets = simulate(zz_full.particles, card, seed=1)["FatJet"]
    lead = ak.firsts(fatjets)
    mass = ak.to_numpy(ak.drop_none(lead.mass))
    assert len(mass) >= 90  # htjmin 400: nearly every event has a boosted Z -> qq fat jet
    assert 80.0 < np.median(mass) < 105.0
    counts, edges = np.histogram(mass, bins=np.arange(0.0, 210.0, 10.0))
    assert 70.0 <= edges[np.argmax(counts)] < 110.0
    assert np.mean((mass > 70) & (mass < 110)) > 0.5


def test_jj_to_end_of_file_every_event_showered():
    # n_events beyond the end is clamped: events 700..999 of the 1000, and not one more
    chunk = shower(JJ, 500, seed=SEED, first_event=700)
    assert len(chunk.particles) == 300 == len(chunk.weights)
    assert chunk.n_tried == chunk.n_accepted == 300
    assert chunk.info["n_events_file"] == 1000
    assert chunk.sigma_pb == pytest.approx(6.9967067e8, rel=1e-12)
    np.testing.assert_allclose(chunk.weights, 6.9967067e8, rtol=1e-12)
    # complete, hadronised events: all final-state particles together carry the beams' 13 TeV
    np.testing.assert_allclose(ak.to_numpy(ak.sum(_final(chunk.particles).e, axis=1)), 13000.0, rtol=1e-6)
    np.testing.assert_allclose(ak.to_numpy(ak.sum(_final(chunk.particles).px, axis=1)), 0.0, atol=1e-3)
    assert ak.all(ak.num(chunk.particles) > 20)


# ---------------------------------------------------------------------------------- chunking


def test_chunks_cover_each_event_once(zz_full, zz_chunks):
    first, second = zz_chunks
    assert len(first.particles) == 50 and len(second.particles) == 50
    assert first.n_tried + second.n_tried == read_header(ZZ).n_events
    assert (first.info["first_event"], second.info["first_event"]) == (0, 50)
    # same seed, same first events: the first chunk is exactly the first half of the full run
    assert ak.to_list(first.particles) == ak.to_list(zz_full.particles[:50])
    # the second chunk holds other events: LHE events 50..99, matched through m(nu nu)
    lhe_m = _lhe_nunu_masses(ZZ)
    assert _matches(_showered_nunu_masses(second.particles), lhe_m[50:]).all()
    assert not _matches(_showered_nunu_masses(second.particles), lhe_m[:50]).any()
    assert ak.to_list(second.particles.px[:5]) != ak.to_list(first.particles.px[:5])


def test_chunks_of_a_weighted_file_keep_order_and_sign():
    # each event has its own weight, and shower() checks Pythia's weight of every showered
    # event against the file's, so equal weights here mean the chunks showered the right events
    head = shower(NLO, 4, seed=SEED)
    tail = shower(NLO, seed=SEED, first_event=4)
    np.testing.assert_array_equal(np.concatenate([head.weights, tail.weights]), NLO_NOMINAL)
    assert (len(head.particles), len(tail.particles)) == (4, 2)
    past_end = shower(NLO, 3, seed=SEED, first_event=6)
    assert len(past_end.particles) == 0 and len(past_end.weights) == 0
    assert ak.fields(past_end.particles) == ak.fields(head.particles)
    with pytest.raises(ValueError, match="negative"):
        shower(NLO, seed=SEED, first_event=-1)


# ------------------------------------------------------------------------------- hand files


def test_ppbar_tevatron_header_and_sigma():
    h = read_header(PPBAR)
    assert h.beam_pdg == (2212, -2212)
    assert h.beam_energy_gev == (980.0, 980.0)
    assert h.sqrt_s_gev == pytest.approx(1960.0)
    assert h.idwtup == -3
    assert [(p.xsec_pb, p.xerr_pb, p.lprup) for p in h.processes] == [(250.0, 3.0, 1), (50.0, 4.0, 2)]
    assert h.n_events == 5
    assert h.generator_name is None and h.generator_version is None and h.weight_ids == ()
    # IDWTUP +-3: sum of every <init> process line, errors in quadrature (3-4-5)
    assert (h.sigma_pb, h.sigma_err_pb) == (300.0, 5.0)
    assert cross_section(PPBAR) == (300.0, 5.0)


def test_beams_from_the_init_block_alone(tmp_path):
    assert read_beams(PPBAR) == ((2212, -2212), (980.0, 980.0))
    assert read_beams(ZZ) == ((2212, 2212), (6500.0, 6500.0))
    text = PPBAR.read_text()
    cut = tmp_path / "cut.lhe"
    cut.write_text(text[: text.index("</init>") + 8])  # header and <init>, no event
    assert read_beams(cut) == read_beams(PPBAR)
    cut.write_text(text[: text.index("</init>") - 40])
    with pytest.raises(ValueError, match=f"{cut}: not a valid LHE file"):
        read_beams(cut)


def test_ppbar_showered_at_1960_gev_with_signed_unit_weights():
    chunk = shower(PPBAR, seed=SEED)
    # Pythia's message counts (from its stat() table) are in the chunk's facts
    assert chunk.info["pythia_errors_total"] == 0 and isinstance(chunk.info["pythia_messages"], dict)
    # IDWTUP -3: generator weight is the sign of XWGTUP; event 4 is negative
    np.testing.assert_array_equal(chunk.weights, [1.0, 1.0, 1.0, -1.0, 1.0])
    assert (chunk.sigma_pb, chunk.sigma_err_pb) == (300.0, 5.0)
    # Pythia took the beams from the file: every event's final state carries 1960 GeV, pz = 0
    np.testing.assert_allclose(ak.to_numpy(ak.sum(_final(chunk.particles).e, axis=1)), 1960.0, rtol=1e-6)
    np.testing.assert_allclose(ak.to_numpy(ak.sum(_final(chunk.particles).pz, axis=1)), 0.0, atol=1e-3)
    # net charge of p pbar is zero
    charge = {211: 1, 321: 1, 2212: 1, 11: -1, 13: -1, 15: -1}
    q = sum(
        ak.to_numpy(ak.sum(np.sign(chunk.particles.pid) * (abs(chunk.particles.pid) == k), axis=1)) * c
        for k, c in charge.items()
    )
    np.testing.assert_array_equal(q, 0)


def test_idwtup4_mean_rule_and_lhef3_nominal_weight():
    h = read_header(NLO)
    assert h.idwtup == -4 and h.lhe_version == "3.0"
    assert (h.generator_name, h.generator_version) == ("HandWrittenNLO", "0.1")
    assert h.weight_ids == ("1001", "1002", "2001")
    assert (h.sigma_pb, h.sigma_err_pb) == (0.8, 0.05)  # <init> facts, not the events' cross section
    # the file really is LHEF 3 with per-event <rwgt> weights that differ from the nominal one
    events = list(pylhe.LHEFile.fromfile(NLO).events)
    assert [e.weights["1001"] for e in events] == list(2 * NLO_NOMINAL)
    sigma, err = cross_section(NLO)
    # mean of the nominal XWGTUP, not the <init> 0.8 and not the first variation's 1.5
    assert sigma == pytest.approx(0.75, rel=1e-12)
    assert err == pytest.approx(np.std(NLO_NOMINAL, ddof=1) / math.sqrt(6), rel=1e-12)


def test_negative_weights_survive_the_shower():
    chunk = shower(NLO, seed=SEED)
    np.testing.assert_array_equal(chunk.weights, NLO_NOMINAL)
    assert (chunk.weights < 0).sum() == 2
    assert chunk.sigma_pb == pytest.approx(0.75)
    assert np.mean(chunk.weights) == pytest.approx(chunk.sigma_pb)
    assert chunk.info["weight_ids"] == ["1001", "1002", "2001"]


def test_same_seed_same_particles_other_seed_other_particles():
    a = shower(PPBAR, seed=11)
    b = shower(PPBAR, seed=11)
    c = shower(PPBAR, seed=12)
    assert ak.to_list(a.particles) == ak.to_list(b.particles)
    assert ak.to_list(a.particles.px) != ak.to_list(c.particles.px)


def test_path_with_spaces(tmp_path):
    # Pythia keeps only "/a" of "Beams:LHEF = /a b/c.lhe" or "/a=b/c.lhe"; shower() symlinks around it
    spaced = tmp_path / "dir with spaces" / "p pbar=1960.lhe"
    spaced.parent.mkdir()
    shutil.copy(PPBAR, spaced)
    assert read_header(spaced).beam_pdg == (2212, -2212)
    chunk = shower(spaced, seed=11)
    assert ak.to_list(chunk.particles) == ak.to_list(shower(PPBAR, seed=11).particles)
    assert chunk.info["lhe_path"] == str(spaced)


# ------------------------------------------------------------------------------------ errors


def test_garbage_is_a_value_error_naming_the_file():
    for reader in (read_header, cross_section, lambda p: shower(p, seed=1)):
        with pytest.raises(ValueError, match="garbage.lhe"):
            reader(GARBAGE)


def test_truncated_files_are_value_errors(tmp_path):
    data = ZZ.read_bytes()
    cut_gz = tmp_path / "cut.lhe.gz"
    cut_gz.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.lhe.gz"):
        read_header(cut_gz)
    # a plain file cut after a complete event: pylhe alone would just report fewer events
    text = gzip.decompress(data).decode()
    cut = tmp_path / "cut after event.lhe"
    cut.write_text(text[: text.index("</event>", len(text) // 2) + len("</event>\n")])
    with pytest.raises(ValueError, match="cut after event.lhe"):
        cross_section(cut)
    with pytest.raises(FileNotFoundError):
        read_header(tmp_path / "missing.lhe")


def test_lost_init_line_and_unsupported_idwtup(tmp_path):
    text = PPBAR.read_text()
    # pylhe drops a process line that is directly followed by </init>; NPRUP catches it
    squeezed = tmp_path / "squeezed.lhe"
    squeezed.write_text(text.replace(" 2\n</init>", " 2</init>"))
    with pytest.raises(ValueError, match="NPRUP"):
        read_header(squeezed)
    # IDWTUP 1: Pythia would unweight the events itself; not a file this path accepts
    strategy1 = tmp_path / "idwtup1.lhe"
    strategy1.write_text(text.replace("247000 247000 -3 2", "247000 247000 1 2"))
    assert read_header(strategy1).idwtup == 1
    with pytest.raises(ValueError, match="IDWTUP"):
        cross_section(strategy1)


def test_failed_pythia_event_is_reported_not_dropped(tmp_path):
    # event 2 (0-based) gets an anti-colour no other parton carries: Pythia cannot shower it
    lines = PPBAR.read_text().split("\n")
    starts = [i for i, line in enumerate(lines) if line == "<event>"]
    antiquark = starts[2] + 3
    assert " 501 " in lines[antiquark]
    lines[antiquark] = lines[antiquark].replace("    0  501 ", "    0  777 ")
    broken = tmp_path / "broken.lhe"
    broken.write_text("\n".join(lines))
    with pytest.raises(RuntimeError, match=r"failed to shower 1 LHE event.*\[2\]"):
        shower(broken, seed=SEED)
    chunk = shower(broken, seed=SEED, max_failed=1)
    assert chunk.info["failed_events"] == [2]
    assert (chunk.n_tried, chunk.n_accepted, len(chunk.particles)) == (5, 4, 4)
    np.testing.assert_array_equal(chunk.weights, [1.0, 1.0, -1.0, 1.0])  # events 0, 1, 3, 4


def test_reserved_settings_are_refused():
    for line in ("Beams:LHEF = other.lhe", "Random:seed = 3", "Beams:nSkipLHEFatInit = 2"):
        with pytest.raises(ValueError, match=line.split("=")[0].strip()):
            shower(PPBAR, seed=1, extra_settings=[line])
    with pytest.raises(ValueError, match="NoSuch:thing"):
        shower(PPBAR, seed=1, extra_settings=["NoSuch:thing = on"])


# ------------------------------------------------------------------------ one scan per file


def test_a_scan_keeps_header_sigma_and_weights_exactly(tmp_path):
    header_json, weights_npy = tmp_path / "lhe.json", tmp_path / "lhe_weights.npy"
    assert write_scan(NLO, header_json, weights_npy) == read_header(NLO)
    header, xwgtup, variations, _ = read_scan(header_json, weights_npy)
    assert variations == ()  # none asked for: the scan is what it was before variations existed
    assert header == read_header(NLO)  # every field, tuples and processes included
    np.testing.assert_array_equal(xwgtup, NLO_NOMINAL)
    assert xwgtup.dtype == np.float64
    facts = json.loads(header_json.read_text())
    assert (facts["sigma_pb"], facts["sigma_err_pb"]) == cross_section(NLO)
    # a weights file of another length is refused, naming it
    np.save(weights_npy, NLO_NOMINAL[:-1])
    with pytest.raises(ValueError, match="lhe_weights.npy"):
        read_scan(header_json, weights_npy)


def test_a_bad_file_leaves_no_scan(tmp_path):
    header_json, weights_npy = tmp_path / "lhe.json", tmp_path / "lhe_weights.npy"
    with pytest.raises(ValueError, match="garbage.lhe"):
        write_scan(GARBAGE, header_json, weights_npy)
    strategy1 = tmp_path / "idwtup1.lhe"
    strategy1.write_text(PPBAR.read_text().replace("247000 247000 -3 2", "247000 247000 1 2"))
    with pytest.raises(ValueError, match="IDWTUP"):
        write_scan(strategy1, header_json, weights_npy)
    assert list(tmp_path.iterdir()) == [strategy1]


def test_showering_with_the_scan_equals_showering_without(tmp_path):
    scan = (tmp_path / "lhe.json", tmp_path / "lhe_weights.npy")
    write_scan(NLO, *scan)
    alone = shower(NLO, 3, seed=SEED, first_event=2)
    with_scan = shower(NLO, 3, seed=SEED, first_event=2, scanned=read_scan(*scan))
    assert ak.to_list(with_scan.particles) == ak.to_list(alone.particles)
    np.testing.assert_array_equal(with_scan.weights, alone.weights)
    assert (with_scan.sigma_pb, with_scan.sigma_err_pb, with_scan.info) == (
        alone.sigma_pb,
        alone.sigma_err_pb,
        alone.info,
    )
    with pytest.raises(ValueError, match="another file"):
        shower(PPBAR, 1, seed=SEED, scanned=read_scan(*scan))


def test_too_few_events_fail_before_showering(tmp_path):
    scan = (str(tmp_path / "lhe.json"), str(tmp_path / "lhe_weights.npy"))
    write_scan(NLO, *scan)
    process = {"lhe": {"file": str(NLO)}}
    with pytest.raises(ValueError, match=r"has 6 events, fewer than the 8 this process asks for"):
        generate_chunk(process, 4, 4, SEED, 13000.0, lhe_scan=scan)


# ------------------------------------------------------------------------- theory variations

#: A MadGraph-style <initrwgt>: weight id -> (group, attributes, factor of XWGTUP in every event).
#: Ids 1..8 are the scale points but (1, 1), of which 3 and 6 are anti-correlated; 9 uses another
#: dynamical scale; 10..12 are the CT18NLO members 0, 1, 2 (member 0 the (1, 1) point) and 13 a
#: member of another set. The 7-point variation is 1, 2, 4, 10, 5, 7, 8 (in SCALE_POINTS order).
HAND_WEIGHTS = {
    **{str(i): ("scale", f'MUR="{mur}" MUF="{muf}" PDF="14000"', factor) for i, (mur, muf, factor) in enumerate(
        [(0.5, 0.5, 1.10), (0.5, 1.0, 1.20), (0.5, 2.0, 9.0), (1.0, 0.5, 1.05), (1.0, 2.0, 0.95), (2.0, 0.5, 9.0),
         (2.0, 1.0, 0.85), (2.0, 2.0, 0.80)], start=1)},
    "9": ("scale", 'MUR="0.5" MUF="0.5" DYN_SCALE="1" PDF="14000"', 9.0),
    **{str(10 + k): ("CT18NLO", f'MUR="1.0" MUF="1.0" PDF="{14000 + k}"', f) for k, f in enumerate((1.0, 1.02, 0.97))},
    "13": ("NNPDF31_nlo_as_0118", 'MUR="1.0" MUF="1.0" PDF="303400"', 9.0),
}  # fmt: skip
HAND_GROUPS = {"scale": "envelope", "CT18NLO": "hessian", "NNPDF31_nlo_as_0118": "replicas"}
HAND_SCALE = {"scale:mur=0.5,muf=0.5": "1", "scale:mur=0.5,muf=1": "2", "scale:mur=1,muf=0.5": "4",
              "scale:mur=1,muf=1": "10", "scale:mur=1,muf=2": "5", "scale:mur=2,muf=1": "7", "scale:mur=2,muf=2": "8"}  # fmt: skip
HAND_XWGTUP = {-4: np.array([2.0, 1.0, 0.5, -1.0, 4.0]), -3: np.array([2.0, 2.0, 2.0, -2.0, 2.0])}


def _weighted_lhe(path: Path, idwtup: int = -4, weights=HAND_WEIGHTS, groups=HAND_GROUPS, value=None) -> Path:
    """The five p pbar events of PPBAR as an LHEF 3 file with ``weights`` in ``<initrwgt>`` and
    per event ``<rwgt>`` (each weight its factor times XWGTUP, or ``value(id, event)`` if given),
    central PDF 14000, IDWTUP ``idwtup`` with the XWGTUP of :data:`HAND_XWGTUP`."""
    xwgtup = HAND_XWGTUP[idwtup]
    initrwgt = ["<initrwgt>"]
    for group, combine in groups.items():
        initrwgt.append(f'<weightgroup name="{group}" combine="{combine}">')
        initrwgt += [f'<weight id="{i}" {attrs} > </weight>' for i, (g, attrs, _) in weights.items() if g == group]
        initrwgt.append("</weightgroup>")
    initrwgt.append("</initrwgt>")
    text = PPBAR.read_text().replace('version="1.0"', 'version="3.0"')
    text = text.replace("</header>", "\n".join(initrwgt) + "\n</header>")
    text = text.replace("247000 247000 -3 2", f"14000 14000 {idwtup} 2")
    events = text.split("<event>\n")
    for k in range(1, len(events)):
        head, rest = events[k].split("\n", 1)
        fields = head.split()
        fields[2] = f"{xwgtup[k - 1]:+.7e}"
        wgt = [value(i, k - 1) if value else f * xwgtup[k - 1] for i, (_, _, f) in weights.items()]
        rwgt = "<rwgt>\n" + "".join(f"<wgt id='{i}'> {float(w)!r} </wgt>\n" for i, w in zip(weights, wgt)) + "</rwgt>\n"
        events[k] = " ".join(fields) + "\n" + rest.replace("</event>", rwgt + "</event>")
    path.write_text("<event>\n".join(events))
    return path


def test_the_variations_of_a_hand_written_file(tmp_path):
    path = _weighted_lhe(tmp_path / "weighted.lhe")
    scale = read_variations(path, ["scale"])
    assert {v.name: v.source for v in scale} == HAND_SCALE and [v.name for v in scale] == list(HAND_SCALE)
    assert {(v.group, v.combine) for v in scale} == {("scale", "envelope")}
    # the members of the central set 14000, Hessian by the group's combine attribute
    assert read_variations(path, ["pdf"]) == [Variation("pdf:1", "pdf", "hessian", "11"), Variation("pdf:2", "pdf", "hessian", "12")]  # fmt: skip
    assert read_variations(path, ["pdf", "scale"]) == read_variations(path, ["pdf"]) + scale
    # a scan keeps them with their <rwgt> weights: XWGTUP, then one column per variation
    header_json, weights_npy = tmp_path / "lhe.json", tmp_path / "lhe_weights.npy"
    write_scan(path, header_json, weights_npy, ["scale", "pdf"])
    scan = read_scan(header_json, weights_npy)
    assert scan.variations == tuple(read_variations(path, ["scale", "pdf"]))
    assert np.load(weights_npy).shape == (5, 1 + 9)
    factors = np.array([HAND_WEIGHTS[v.source][2] for v in scan.variations])
    np.testing.assert_allclose(scan.variation_wgts, np.outer(HAND_XWGTUP[-4], factors), rtol=1e-15)


@pytest.mark.parametrize("idwtup", [-4, -3])
def test_variation_weights_follow_the_nominal_convention(tmp_path, idwtup):
    path = _weighted_lhe(tmp_path / "weighted.lhe", idwtup)
    chunk = shower(path, seed=SEED, variations=["scale", "pdf"])
    x = HAND_XWGTUP[idwtup]
    # IDWTUP -4: nominal XWGTUP in pb and the <rwgt> weights as they are; -3: the nominal is the
    # sign of XWGTUP and each variation weight its <rwgt> weight over |XWGTUP|
    nominal = x if idwtup == -4 else np.sign(x)
    np.testing.assert_array_equal(chunk.weights, nominal)
    factors = np.array([HAND_WEIGHTS[v.source][2] for v in chunk.variations])
    np.testing.assert_allclose(chunk.variation_weights, np.outer(nominal, factors), rtol=1e-15)
    # a variation's cross section sigma * sum(w_var) / sum(w): the factor's share of sigma
    share = chunk.variation_weights.sum(axis=0) / chunk.weights.sum()
    np.testing.assert_allclose(share, factors, rtol=1e-14)
    # a chunk keeps its own events' rows
    part = shower(path, 2, seed=SEED, first_event=2, variations=["scale", "pdf"])
    np.testing.assert_array_equal(part.variation_weights, chunk.variation_weights[2:4])


def test_missing_and_broken_variations_are_refused(tmp_path):
    # asked for, not provided: the error names the file, the variation and what the file has
    only_scale = {i: w for i, w in HAND_WEIGHTS.items() if w[0] == "scale"}
    path = _weighted_lhe(tmp_path / "scale only.lhe", weights=only_scale, groups={"scale": "envelope"})
    with pytest.raises(ValueError, match=r"scale only.lhe: asks for PDF variations.*'scale' \(9 weights, ids 1..9, combine envelope\)"):  # fmt: skip
        read_variations(path, ["pdf"])
    with pytest.raises(ValueError, match=r"asks for scale variations.*it has no <initrwgt> weights"):
        read_variations(PPBAR, ["scale"])
    # a PDF group that says neither how it combines nor what family it is
    odd = _weighted_lhe(tmp_path / "odd.lhe", groups={**HAND_GROUPS, "CT18NLO": "mystery"})
    read_variations(odd, ["scale"])  # the scales are fine
    unnamed = {i: ("mine", *w[1:]) if w[0] == "CT18NLO" else w for i, w in HAND_WEIGHTS.items()}
    odd = _weighted_lhe(tmp_path / "odd.lhe", weights=unnamed, groups={**HAND_GROUPS, "mine": "mystery"})
    with pytest.raises(ValueError, match="cannot tell how the members of the PDF weight group 'mine' combine"):
        read_variations(odd, ["pdf"])
    # all zero, or not finite: refused by the scan (nothing written) and by the shower
    scan = (tmp_path / "lhe.json", tmp_path / "lhe_weights.npy")
    for name, value in (("zero", lambda i, k: 0.0 if i == "11" else 1.0), ("nan", lambda i, k: float("nan") if (i, k) == ("8", 3) else 1.0)):  # fmt: skip
        path = _weighted_lhe(tmp_path / f"{name}.lhe", value=value)
        problem = "only zero weights" if name == "zero" else "non-finite weights, first at event 3"
        variation = "pdf:1 (group pdf, 11)" if name == "zero" else "scale:mur=2,muf=2 (group scale, 8)"
        with pytest.raises(ValueError, match=rf"{name}.lhe: variation {re.escape(variation)} has {problem}"):
            write_scan(path, *scan, ["scale", "pdf"])
        assert not any(p.exists() for p in scan)
        with pytest.raises(ValueError, match=problem):
            shower(path, seed=SEED, variations=["scale", "pdf"])
    # a scan made for other variations
    path = _weighted_lhe(tmp_path / "weighted.lhe")
    write_scan(path, *scan)
    with pytest.raises(ValueError, match=r"the scan given holds the variations \[\], not the \['scale'\]"):
        shower(path, seed=SEED, scanned=read_scan(*scan), variations=["scale"])


def test_the_config_check_refuses_a_file_without_the_variations_asked_for(tmp_path):
    only_scale = {i: w for i, w in HAND_WEIGHTS.items() if w[0] == "scale"}
    path = _weighted_lhe(tmp_path / "scale_only.lhe", weights=only_scale, groups={"scale": "envelope"})
    config = {"processes": {"ok": {"lhe": {"file": str(path), "variations": ["scale"]}},
                            "bad": {"lhe": {"file": str(path), "variations": ["scale", "pdf"]}}}}  # fmt: skip
    errors = lhe_variation_errors(config)
    assert len(errors) == 1 and errors[0].startswith(f"processes.bad.lhe.variations: {path}: asks for PDF variations")


def test_the_madgraph_files_scale_and_pdf_groups(tmp_path):
    scale = read_variations(ZZ, ["scale"])
    # MadGraph 3.5: its scale group lacks (1, 1) without another dynamical scale; that point is
    # the central member (id 45) of its PDF group
    assert [(v.name, v.source) for v in scale] == [
        ("scale:mur=0.5,muf=0.5", "1"), ("scale:mur=0.5,muf=1", "6"), ("scale:mur=1,muf=0.5", "16"),
        ("scale:mur=1,muf=1", "45"), ("scale:mur=1,muf=2", "25"), ("scale:mur=2,muf=1", "35"), ("scale:mur=2,muf=2", "40")]  # fmt: skip
    pdf = read_variations(ZZ, ["pdf"])  # NNPDF23_lo_as_0130_qed, combine="replicas": members 247001..247100
    assert [(v.name, v.source, v.combine) for v in pdf] == [
        (f"pdf:{k}", str(45 + k), "replicas") for k in range(1, 101)
    ]
    header_json, weights_npy = tmp_path / "lhe.json", tmp_path / "lhe_weights.npy"
    write_scan(ZZ, header_json, weights_npy, ["scale"])
    _, xwgtup, variations, wgts = read_scan(header_json, weights_npy)
    w = dict(zip((v.name for v in variations), wgts.T))
    np.testing.assert_array_equal(w["scale:mur=1,muf=1"], xwgtup)
    # q qbar -> ZZ has no alpha_s at leading order: muR changes no weight, muF (the PDFs) does
    for muf in ("0.5", "1", "2"):
        np.testing.assert_array_equal(
            w[f"scale:mur=1,muf={muf}"], w[f"scale:mur={'2' if muf != '0.5' else '0.5'},muf={muf}"]
        )
    np.testing.assert_array_equal(w["scale:mur=0.5,muf=1"], xwgtup)
    assert not np.array_equal(w["scale:mur=1,muf=2"], xwgtup)


def test_shower_variations_of_an_lhe_file_keep_its_events_and_weights():
    isr_fsr = shower_variations(["isr", "fsr"])
    varied = shower(ZZ, 12, seed=SEED, shower_variations=isr_fsr, variations=["scale"])
    plain = shower(ZZ, 12, seed=SEED)
    # event by event the file's weights and hard processes, with or without the variations
    np.testing.assert_array_equal(varied.weights, plain.weights)
    lhe_m = _lhe_nunu_masses(ZZ)[:12]
    assert _matches(_showered_nunu_masses(varied.particles), lhe_m).all()
    assert _matches(_showered_nunu_masses(plain.particles), lhe_m).all()
    # the file's scale variations first, then the shower's, in pb like the nominal weight
    assert [v.name for v in varied.variations] == [v.name for v in read_variations(ZZ, ["scale"])] + [v.name for v in isr_fsr]  # fmt: skip
    shower_w = varied.variation_weights[:, 7:]
    assert np.all(np.isfinite(shower_w)) and np.all(shower_w >= 0)
    assert all(not np.allclose(column, varied.weights) for column in shower_w.T)
    assert 0.2 < np.median(shower_w / varied.weights[:, np.newaxis]) < 5


@pytest.mark.parametrize(
    "group, combine, expected",
    [
        ("CT18NLO", "hessian", ("hessian", False)),
        ("PDF4LHC21_40_pdfas", "symmhessian+as", ("symmhessian", True)),
        ("NNPDF31_nlo_as_0118", "replicas", ("replicas", False)),
        ("CT18NLO", None, ("hessian", False)),  # eigenvector pairs
        ("PDF4LHC15_nlo_30", None, ("symmhessian", False)),
        ("NNPDF31_nnlo_as_0118_hessian", None, ("symmhessian", False)),
        ("NNPDF31_nnlo_as_0118_mc", None, ("replicas", False)),
    ],
)
def test_how_a_pdf_group_combines_follows_lhapdf_error_types(group, combine, expected):
    from phenoflow.generation.lhe_variations import _pdf_combine

    assert _pdf_combine(group, combine, "f.lhe") == expected
