import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from phenoflow.arrays import isin
from phenoflow.detector.card import load_card
from phenoflow.detector.ntuple import delphes_branches, write_ntuple
from phenoflow.detector.simulation import simulate
from phenoflow.events.skim import WeightNorm, skim
from phenoflow.generation import generate_chunk
from phenoflow.generation.crosssection import merge_chunks
from phenoflow.generation.pythia import (
    DecayFilter,
    SettingsCheck,
    bias_settings,
    generate,
    hand_set_bias,
    pythia_settings,
    reserved_reason,
    shower_variation_settings,
    shower_variations,
)
from phenoflow.logs import redirect_native_output, to_log_file
from phenoflow.seeds import MAX_PYTHIA_SEED, derive_seed
from phenoflow.variations import Variation

ZZ = [
    "WeakDoubleBoson:ffbar2gmZgmZ = on",
    "WeakZ0:gmZmode = 2",
    "23:onMode = off",
    "23:onIfAny = 1 2 3 4 5 12 14 16",
    "PhaseSpace:pTHatMin = 200.",
]
QQ_VV = DecayFilter(23, ((1, 2, 3, 4, 5), (12, 14, 16)))


def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(1, "qcd", 0) == derive_seed(1, "qcd", 0)
    seeds = {derive_seed(1, p, c) for p in ("qcd", "zz") for c in range(50)}
    assert len(seeds) == 100
    assert all(1 <= s <= MAX_PYTHIA_SEED for s in seeds)
    assert derive_seed(1, "qcd", 0) != derive_seed(2, "qcd", 0)


def test_reserved_settings_are_refused():
    with pytest.raises(ValueError, match="Random:seed"):
        pythia_settings(["Random:seed = 3"], 13000.0, 1)
    # whole namespaces, in any case (Pythia's names are case-insensitive), saying why
    for line in ("beams:ECM = 14000", "Beams:idB = -2212", "RANDOM:setSeed = off", "Main:numberOfEvents = 5"):
        assert reserved_reason(line), line
    assert "collider" in reserved_reason("Beams:frameType = 4") and "seed" in reserved_reason("Random:seed = 1")
    for line in ("HardQCD:all = on", "BeamRemnants:primordialKT = off", "23:onMode = off"):
        assert reserved_reason(line) is None, line


def test_settings_check_finds_what_pythia_does_not_know():
    check = SettingsCheck()
    lines = [
        "HardQCD:all = on",
        "HardQDC:all = on",
        "PhaseSpace:pTHatMin = lots",
        "9999999:onMode = off",
        "23:onMode = off",
        "Random:seed = 4",
    ]
    errors = check.errors("processes.qcd.pythia", lines)
    assert [e.split(":")[0] for e in errors] == [f"processes.qcd.pythia[{i}]" for i in (1, 2, 3, 5)]
    assert "no setting or particle property 'HardQDC:all'" in errors[0]
    assert "cannot read this value of PhaseSpace:pTHatMin" in errors[1]
    assert "'Random:seed = 4' is reserved" in errors[3]
    # lines for MadGraph's Pythia interface: its own namespaces pass, Pythia's are still checked
    mg = check.errors(
        "k", ["SysCalc:qCutList = 20", "JetMatching:qCut = x", "Beams:LHEF = a"], pythia_namespaces_only=True
    )
    assert [e.split(":")[0] for e in mg] == ["k[1]", "k[2]"]


def test_beams_are_set_from_the_collider():
    settings = pythia_settings(["HardQCD:all = on"], 1960.0, 3, beams=(2212, -2212))
    assert settings[:3] == ["Beams:idA = 2212", "Beams:idB = -2212", "Beams:eCM = 1960.0"]
    assert pythia_settings([], 13000.0, 3)[:2] == ["Beams:idA = 2212", "Beams:idB = 2212"]


def test_statistics_reach_the_log_and_message_counts_the_chunk(tmp_path):
    log = tmp_path / "chunk.log"
    settings = pythia_settings(["HardQCD:all = on", "PhaseSpace:pTHatMin = 250."], 13000.0, 5)
    with to_log_file(log), redirect_native_output(log):  # as in scripts/generate_chunk.py
        first = generate(settings, 20)
    text = log.read_text()
    # Pythia's own tables: initialisation, its messages, and stat()'s cross sections and counts
    assert "PYTHIA Process Initialization" in text and "Settings (changes only)" in text
    assert "PYTHIA Event and Cross Section Statistics" in text
    assert "PYTHIA Error and Warning Messages Statistics" in text
    # in order: Pythia's initialisation, phenoflow's progress, then the statistics it logs
    init, progress, stat = (text.index(s) for s in ("Process Initialization", "generated 20 / 20", "Pythia statistics"))
    assert init < progress < stat < text.index("PYTHIA Event and Cross Section Statistics")
    assert "PYTHIA Event Listing" not in text and "Welcome to PYTHIA" not in text  # no listings, no banner
    messages = first.info["pythia_messages"]
    assert messages == {"Warning in MultipartonInteractions::init: maximum increased": 1}
    assert (first.info["pythia_warnings_total"], first.info["pythia_errors_total"]) == (1, 0)
    assert generate(settings, 20).info == first.info  # deterministic for a seed


def test_a_failed_initialisation_says_why():
    with pytest.raises(RuntimeError, match="initialisation failed: .*vanishing cross sections"):
        generate(pythia_settings(["HardQCD:all = on", "PhaseSpace:pTHatMin = 7000."], 13000.0, 1), 1)


def test_bad_setting_is_a_clear_error():
    with pytest.raises(ValueError, match="NoSuch:thing"):
        generate(pythia_settings(["NoSuch:thing = on"], 13000.0, 1), 1)


@pytest.fixture(scope="module")
def zz_chunk():
    return generate(pythia_settings(ZZ, 13000.0, 12345), 30, QQ_VV)


def test_decay_filter_keeps_only_qq_vv(zz_chunk):
    assert zz_chunk.n_accepted == 30 and len(zz_chunk.particles) == 30
    # every event has final-state neutrinos from the invisible Z: their summed pT is large
    nu = zz_chunk.particles[isin(abs(zz_chunk.particles.pid), (12, 14, 16))]
    nu_pt = np.hypot(ak.to_numpy(ak.sum(nu.px, axis=1)), ak.to_numpy(ak.sum(nu.py, axis=1)))
    assert np.median(nu_pt) > 150
    # the efficiency of one Z -> qq and one Z -> vv is 2 BR_q BR_v / (BR_q + BR_v)^2 ~ 0.35
    assert 0.15 < zz_chunk.filter_efficiency < 0.6
    assert zz_chunk.sigma_pb == pytest.approx(zz_chunk.info["sigma_gen_pb"] * zz_chunk.filter_efficiency)


def test_cross_section_is_in_pb(zz_chunk):
    # sigma(ZZ, pT > 200 GeV) x BR is tens of fb, i.e. of order 0.01-0.1 pb (not mb)
    assert 0.005 < zz_chunk.sigma_pb < 0.5
    assert 0 < zz_chunk.sigma_err_pb < zz_chunk.sigma_pb


def test_same_seed_same_events_other_seed_other_events():
    settings = ["HardQCD:all = on", "PhaseSpace:pTHatMin = 100."]
    a = generate(pythia_settings(settings, 13000.0, 7), 5)
    b = generate(pythia_settings(settings, 13000.0, 7), 5)
    c = generate(pythia_settings(settings, 13000.0, 8), 5)
    assert ak.to_list(a.particles) == ak.to_list(b.particles)
    assert ak.to_list(a.particles.px) != ak.to_list(c.particles.px)
    np.testing.assert_array_equal(a.weights, np.ones(5))


def test_decay_filter_tally_stops_at_the_last_kept_event(zz_chunk):
    # vetoed before the shower: the kept events and the vetoed ones before the last kept
    n = zz_chunk.info["n_generated"]
    assert n == 30 + zz_chunk.info["n_vetoed"] and zz_chunk.filter_efficiency == pytest.approx(30 / n)
    # filtered afterwards, the same seed without the filter replays the same events: the last of
    # the first n_generated is the last kept one, so the efficiency's denominator counts no later event
    after = generate(pythia_settings(ZZ, 13000.0, 12345), 30, QQ_VV, veto=False)
    n = after.info["n_generated"]
    assert after.filter_efficiency == pytest.approx(30 / n) and after.info["n_vetoed"] == 0
    replay = generate(pythia_settings(ZZ, 13000.0, 12345), n)
    assert ak.to_list(replay.particles[-1].px) == ak.to_list(after.particles[-1].px)


# parton level without showers, MPI or primordial kT (fast): the two outgoing partons of the
# 2 -> 2 process carry pT-hat, the beam remnants none
PARTON_QCD = [
    "HardQCD:all = on",
    "PhaseSpace:pTHatMin = 100.",
    "PartonLevel:ISR = off",
    "PartonLevel:FSR = off",
    "PartonLevel:MPI = off",
    "BeamRemnants:primordialKT = off",
    "HadronLevel:all = off",
]
BIAS = {"power": 4.0, "reference_pt": 100.0}


def _pt_hat(chunk) -> np.ndarray:
    """pT-hat (GeV) of parton-level events: the pT of the outgoing partons."""
    pt_hat = ak.to_numpy(ak.max(np.hypot(chunk.particles.px, chunk.particles.py), axis=1))
    assert not np.ma.is_masked(pt_hat) and pt_hat.min() >= 100.0
    return np.asarray(pt_hat)


def _sigma_above(chunk, cut: float) -> tuple[float, float, int]:
    """Cross section (pb) of pT-hat > cut with its statistical error, and the MC events there."""
    above = _pt_hat(chunk) > cut
    w = chunk.weights
    fraction = w[above].sum() / w.sum()
    fraction_err = math.sqrt(np.sum(w[above] ** 2)) / w.sum()
    sigma = chunk.sigma_pb * fraction
    return sigma, math.hypot(chunk.sigma_err_pb * fraction, chunk.sigma_pb * fraction_err), int(above.sum())


@pytest.fixture(scope="module")
def qcd_unbiased_biased():
    unbiased = generate(pythia_settings(PARTON_QCD, 13000.0, 101), 4000)
    biased = generate(pythia_settings([*PARTON_QCD, *bias_settings(BIAS)], 13000.0, 202), 4000)
    return unbiased, biased


def test_biased_event_weight_is_the_inverse_bias_factor(qcd_unbiased_biased):
    _, biased = qcd_unbiased_biased
    # Pythia's info.weight() of each event reaches the chunk: (reference / pT-hat)^power
    # (up to the outgoing heavy quarks' masses)
    np.testing.assert_allclose(biased.weights, (100.0 / _pt_hat(biased)) ** 4, rtol=5e-3)


@pytest.mark.parametrize("cut", [150.0, 300.0])
def test_biased_and_unbiased_agree_above_a_cut(qcd_unbiased_biased, cut):
    unbiased, biased = qcd_unbiased_biased
    # sigmaGen is the unbiased cross section in both runs
    assert biased.sigma_pb == pytest.approx(unbiased.sigma_pb, rel=5 * math.hypot(
        unbiased.sigma_err_pb / unbiased.sigma_pb, biased.sigma_err_pb / biased.sigma_pb))  # fmt: skip
    s_u, e_u, n_u = _sigma_above(unbiased, cut)
    s_b, e_b, n_b = _sigma_above(biased, cut)
    assert n_u >= 10  # the unbiased estimate means something
    assert abs(s_b - s_u) < 3 * math.hypot(e_u, e_b)
    # the biased sample populates the tail: more MC events and a smaller error there; deep in
    # the tail (0.9 % of the cross section above 300 GeV) tens of times more events
    assert n_b > 2 * n_u and e_b < e_u
    if cut == 300.0:
        assert n_b > 20 * n_u and e_b < e_u / 4


def test_bias_key_sets_the_pythia_settings_and_refuses_hand_set_ones():
    process = {"pythia": PARTON_QCD, "bias": BIAS}
    chunk, settings = generate_chunk(process, 20, 0, 5, 13000.0)
    assert settings[-3:] == bias_settings(BIAS) == [
        "PhaseSpace:bias2Selection = on", "PhaseSpace:bias2SelectionPow = 4.0", "PhaseSpace:bias2SelectionRef = 100.0"]  # fmt: skip
    assert not np.allclose(chunk.weights, 1.0)
    assert hand_set_bias(["HardQCD:all = on", " phasespace:BIAS2SelectionPow = 3"]) == [1]
    with pytest.raises(ValueError, match="bias2Selection"):
        generate_chunk({"pythia": [*PARTON_QCD, "PhaseSpace:bias2Selection = on"], "bias": BIAS}, 5, 0, 5, 13000.0)


CARD = Path(__file__).resolve().parents[1] / "config" / "cards" / "cms.yaml"


def test_biased_weights_survive_chunk_merging_and_the_skim(tmp_path):
    process = {"pythia": ["HardQCD:all = on", "PhaseSpace:pTHatMin = 100."], "bias": BIAS}
    paths, summaries, gen_weights = [], [], []
    for i in range(2):
        chunk, _ = generate_chunk(process, 25, 25 * i, derive_seed(3, "qcd", i), 13000.0)
        objects = simulate(chunk.particles, load_card(CARD), seed=i)
        paths.append(tmp_path / f"chunk{i}.root")
        write_ntuple(paths[-1], delphes_branches(objects, chunk.weights, chunk.sigma_pb, chunk.sigma_err_pb))
        summaries.append({"sigma_pb": chunk.sigma_pb, "sigma_err_pb": chunk.sigma_err_pb, "n_tried": chunk.n_tried,
                          "n_events": chunk.n_accepted, "sum_weights": math.fsum(chunk.weights)})  # fmt: skip
        gen_weights.append(chunk.weights)
    merged = merge_chunks(summaries)
    events, cutflow = skim(paths, [], WeightNorm(merged["sigma_pb"], merged["sum_weights"], 139.0), "qcd")
    w = np.concatenate(gen_weights)
    assert np.ptp(w) > 0.5 * w.max()  # truly weighted events
    # every event keeps its own generator weight, and the weights of the process sum to sigma * L
    np.testing.assert_allclose(ak.to_numpy(events.weight), w, rtol=0)
    np.testing.assert_allclose(ak.to_numpy(events.weight_phys), merged["sigma_pb"] * 139.0e3 * w / w.sum(), rtol=1e-12)
    assert ak.sum(events.weight_phys) == pytest.approx(merged["sigma_pb"] * 139.0e3, rel=1e-12)
    assert cutflow["yield"].iloc[0] == pytest.approx(merged["sigma_pb"] * 139.0e3, rel=1e-12)


# ------------------------------------------------------------------------- shower variations

Z_JETS = [
    "WeakBosonAndParton:qqbar2gmZg = on",
    "WeakBosonAndParton:qg2gmZq = on",
    "WeakZ0:gmZmode = 2",
    "23:onMode = off",
    "23:onIfAny = 12 14 16",
    "PhaseSpace:pTHatMin = 200.",
]


def test_shower_variations_are_the_factor_two_set_and_reserved():
    variations = shower_variations(["isr", "fsr"])
    assert [(v.name, v.group, v.combine, v.source) for v in variations] == [
        ("isr:murfac=0.5", "isr", "envelope", "isr_murfac_0.5"), ("isr:murfac=2", "isr", "envelope", "isr_murfac_2"),
        ("fsr:murfac=0.5", "fsr", "envelope", "fsr_murfac_0.5"), ("fsr:murfac=2", "fsr", "envelope", "fsr_murfac_2")]  # fmt: skip
    assert shower_variation_settings(variations[2:]) == [
        "UncertaintyBands:doVariations = on",
        "UncertaintyBands:List = {fsr_murfac_0.5 fsr:muRfac=0.5, fsr_murfac_2 fsr:muRfac=2}",
    ]
    assert shower_variation_settings([]) == []
    with pytest.raises(ValueError, match="unknown shower variations"):
        shower_variations(["mpi"])
    # phenoflow sets them: by hand they are refused (also by the config check), other knobs are not
    for line in (
        "UncertaintyBands:doVariations = on",
        "uncertaintybands:LIST = {a isr:muRfac=2}",
        "Weights:prefix = x",
    ):
        assert "shower_variations" in reserved_reason(line), line
        with pytest.raises(ValueError, match="reserved"):
            generate_chunk({"pythia": [*Z_JETS, line], "shower_variations": ["isr"]}, 1, 0, 5, 13000.0)
    assert reserved_reason("UncertaintyBands:overSampleFSR = 4") is None


def test_a_chunk_with_shower_variations():
    process = {"pythia": Z_JETS, "shower_variations": ["isr", "fsr"]}
    chunk, settings = generate_chunk(process, 20, 0, 11, 13000.0)
    plain, plain_settings = generate_chunk({"pythia": Z_JETS}, 20, 0, 11, 13000.0)
    assert settings == [*plain_settings, *shower_variation_settings(shower_variations(["isr", "fsr"]))]
    assert chunk.variations == shower_variations(["isr", "fsr"]) and chunk.variation_weights.shape == (20, 4)
    # the nominal weights are the generator's, as without variations (here all 1); the events are
    # not the same-seed run's: with variations Pythia decides each trial emission after building
    # it and oversamples the trials, which draws other random numbers from the first shower on
    np.testing.assert_array_equal(chunk.weights, plain.weights)
    np.testing.assert_array_equal(chunk.weights, np.ones(20))
    w = chunk.variation_weights
    assert np.all(np.isfinite(w)) and np.all(w >= 0)
    assert all(not np.allclose(column, 1.0) for column in w.T)  # every variation moves some event
    assert plain.variations == [] and plain.variation_weights.shape == (20, 0)


#: The identity variation (muR factor 1): its weights must be the nominal ones, whatever they are.
IDENTITY = Variation("isr:murfac=1", "isr", "envelope", "isr_murfac_1")


@pytest.mark.parametrize("veto", [True, False])
def test_variation_weights_carry_the_bias_weight_once_through_the_decay_filter(veto):
    settings = pythia_settings([*ZZ, *bias_settings({"power": 2.0, "reference_pt": 200.0})], 13000.0, 21)
    chunk = generate([*settings, *shower_variation_settings([IDENTITY])], 8, QQ_VV, veto=veto, variations=[IDENTITY])
    assert chunk.variation_weights.shape == (8, 1) and np.ptp(chunk.weights) > 0.05  # biased: weights (200 / pT-hat)^2
    # row by row the kept events' own nominal weight: the bias weight once, not squared or dropped
    np.testing.assert_allclose(chunk.variation_weights[:, 0], chunk.weights, rtol=1e-12)
    if veto:
        assert chunk.info["n_vetoed"] > 0
    else:
        assert chunk.info["n_generated"] > 8


def test_pythia_without_the_variation_it_is_asked_for_says_so():
    with pytest.raises(RuntimeError, match=r"Pythia has 0 weights named 'isr_murfac_1' for the shower variation isr:murfac=1"):  # fmt: skip
        generate(pythia_settings(PARTON_QCD, 13000.0, 3), 2, variations=[IDENTITY])
