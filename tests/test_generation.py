import awkward as ak
import numpy as np
import pytest

from phenoflow.arrays import isin
from phenoflow.generation.pythia import DecayFilter, SettingsCheck, generate, pythia_settings, reserved_reason
from phenoflow.logs import redirect_native_output, to_log_file
from phenoflow.seeds import MAX_PYTHIA_SEED, derive_seed

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
    lines = ["HardQCD:all = on", "HardQDC:all = on", "PhaseSpace:pTHatMin = lots", "9999999:onMode = off",
             "23:onMode = off", "Random:seed = 4"]
    errors = check.errors("processes.qcd.pythia", lines)
    assert [e.split(":")[0] for e in errors] == [f"processes.qcd.pythia[{i}]" for i in (1, 2, 3, 5)]
    assert "no setting or particle property 'HardQDC:all'" in errors[0]
    assert "cannot read this value of PhaseSpace:pTHatMin" in errors[1]
    assert "'Random:seed = 4' is reserved" in errors[3]
    # lines for MadGraph's Pythia interface: its own namespaces pass, Pythia's are still checked
    mg = check.errors("k", ["SysCalc:qCutList = 20", "JetMatching:qCut = x", "Beams:LHEF = a"], pythia_namespaces_only=True)
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
