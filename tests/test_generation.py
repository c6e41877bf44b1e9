import awkward as ak
import numpy as np
import pytest

from phenoflow.arrays import isin
from phenoflow.generation.pythia import DecayFilter, generate, pythia_settings
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
