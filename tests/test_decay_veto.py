"""The decay filter as a veto before the shower: same decisions as filtering the full events
afterwards, and the same filtered cross section and yields."""

import math

import awkward as ak
import numpy as np
import pytest
import pythia8mc
from test_generation import QQ_VV, ZZ  # the default signal: ZZ -> (qq)(vv), pT-hat > 200 GeV

from phenoflow.arrays import isin
from phenoflow.generation.pythia import DecayFilter, bias_settings, generate, pythia_settings
from phenoflow.generation.veto import DecayVeto

QUARKS, NEUTRINOS = {1, 2, 3, 4, 5}, {12, 14, 16}
# showers (whose recoil copies the Z's into the event record) but no MPI or hadronisation: fast
ZZ_SHOWERED = [*ZZ, "PartonLevel:MPI = off", "HadronLevel:all = off"]
BIAS = {"power": 4.0, "reference_pt": 200.0}
# hadronic and invisible Z widths (PDG: 69.91 % and 20.00 %): of the ZZ events decaying into the
# allowed modes, one Z to quarks and one to neutrinos is 2 BR_q BR_v / (BR_q + BR_v)^2
EFFICIENCY = 2 * 0.6991 * 0.2000 / (0.6991 + 0.2000) ** 2


def hard_record(products: list[tuple[int, int, int]], status: int = 23) -> list[tuple[int, int, int]]:
    """(id, status, mother1) rows of a hard process q qbar -> resonances: ``products`` are
    (resonance id, daughter id, daughter id), each resonance decaying into its two daughters."""
    rows = [(90, -11, 0), (2212, -12, 0), (2212, -12, 0), (2, -21, 1), (-2, -21, 2)]
    rows += [(mother, -22, 3) for mother, _, _ in products]
    for i, (_, a, b) in enumerate(products):
        rows += [(a, status, 5 + i), (b, status, 5 + i)]
    return rows


CASES = {
    "u ubar + nu_e nu_e bar": (hard_record([(23, 2, -2), (23, 12, -12)]), True),
    "nu_mu pair + b bbar, other order": (hard_record([(23, 14, -14), (23, 5, -5)]), True),
    "after the shower (status -23)": (hard_record([(23, 1, -1), (23, 16, -16)], status=-23), True),
    "an extra parton of the hard process": (hard_record([(23, 2, -2), (23, 12, -12)]) + [(21, 23, 3)], True),
    "two Z to quarks": (hard_record([(23, 2, -2), (23, 1, -1)]), False),
    "two Z to neutrinos": (hard_record([(23, 12, -12), (23, 14, -14)]), False),
    "Z to electrons": (hard_record([(23, 2, -2), (23, 11, -11)]), False),
    "one Z": (hard_record([(23, 12, -12)]), False),
    "three Z": (hard_record([(23, 2, -2), (23, 12, -12), (23, 3, -3)]), False),
    "W instead of Z": (hard_record([(24, 2, -1), (23, 12, -12)]), False),
}


def pythia_event(rows: list[tuple[int, int, int]]) -> pythia8mc.Event:
    event = pythia8mc.Event()
    for pid, status, mother in rows:
        event.append(pid, status, mother, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return event


def batch_record(events: list[list[tuple[int, int, int]]]) -> ak.Array:
    """The same rows in the layout of a ``nextBatch`` record (fields id, status, mother1)."""
    fields = ("id", "status", "mother1")
    return ak.zip({f: ak.Array([[row[i] for row in rows] for rows in events]) for i, f in enumerate(fields)})


def test_veto_and_filter_after_decide_alike_on_hand_made_records():
    names = list(CASES)
    expected = [CASES[n][1] for n in names]
    assert [QQ_VV.accepts(pythia_event(CASES[n][0])) for n in names] == expected
    assert QQ_VV.passes(batch_record([CASES[n][0] for n in names])).tolist() == expected
    # |PDG id| of the mother: a W- decays like a W+; W+ W- -> (u dbar)(e- nu_e bar) has one of each
    ww = hard_record([(24, 2, -1), (-24, 11, -12)])
    lepton_hadron = DecayFilter(24, ((1, 2, 3, 4, 5), (11, 12, 13, 14)))
    assert lepton_hadron.accepts(pythia_event(ww)) and lepton_hadron.passes(batch_record([ww]))[0]
    # the hook vetoes what the filter refuses, and tallies those events' weights only
    weights = iter([0.5, 2.0, 3.0])
    hook = DecayVeto(QQ_VV, weight=lambda: next(weights))
    refused = ("two Z to quarks", "one Z", "W instead of Z")
    assert all(hook.doVetoProcessLevel(pythia_event(CASES[n][0])) for n in refused)
    assert (hook.n_vetoed, hook.sum_w, hook.sum_w2) == (3, 5.5, 13.25)
    assert not hook.doVetoProcessLevel(pythia_event(CASES["u ubar + nu_e nu_e bar"][0]))  # reads no weight
    assert hook.n_vetoed == 3
    assert hook.canVetoProcessLevel() and not hook.canVetoResonanceDecays()


def test_filter_after_and_the_hook_agree_event_by_event_on_full_events():
    # full events (MPI, hadronisation): the filter on the event record after the shower and the
    # hook's test of the same event's hard-process record
    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings(ZZ, 13000.0, 31):
        pythia.readString(line)
    assert pythia.init()
    after, before = [], []
    for _ in range(60):
        batch = pythia.nextBatch(1)
        after.append(bool(QQ_VV.passes(batch.prt)[0]))
        before.append(QQ_VV.accepts(pythia.process))
    assert after == before
    assert 5 < sum(after) < 55


@pytest.fixture(scope="module")
def hard_processes():
    """Hard processes only (no parton level): the veto's kept events and the hook's tally."""
    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings([*ZZ, "PartonLevel:all = off", *bias_settings(BIAS)], 13000.0, 7):
        pythia.readString(line)
    vetoed = []

    class Recording(DecayVeto):
        def doVetoProcessLevel(self, process):
            veto = super().doVetoProcessLevel(process)
            if veto:  # the weight the hook tallied and this hard process's pT-hat (the Z's pT)
                vetoed.append((pythia.infoPython().weight(), process[5].pT()))
            return veto

    hook = Recording(QQ_VV, weight=lambda: pythia.infoPython().weight())
    pythia.setUserHooksPtr(hook)
    assert pythia.init()
    returned, daughters = [], []
    for _ in range(400):
        returned.append(pythia.next())
        record = pythia.process
        daughters.append([sorted(abs(record[d].id()) for d in record[i].daughterList()) for i in (5, 6)])
    return pythia, hook, returned, daughters, np.array(vetoed)


def test_the_veto_keeps_exactly_the_configured_channels(hard_processes):
    _, hook, _, daughters, _ = hard_processes
    flavours = [set(), set()]
    for pair in daughters:
        assert [len(d) for d in pair] == [2, 2]
        channels = sorted("q" if set(d) <= QUARKS else "v" if set(d) <= NEUTRINOS else "other" for d in pair)
        assert channels == ["q", "v"], pair
        for d in pair:
            flavours[set(d) <= NEUTRINOS] |= set(d)
    # every allowed flavour is kept, the quark and the neutrino Z each in either slot
    assert flavours == [QUARKS, NEUTRINOS]
    assert {tuple(set(d) <= QUARKS for d in pair) for pair in daughters} == {(True, False), (False, True)}
    assert hook.n_vetoed > len(daughters)


def test_a_veto_is_not_a_failed_event(hard_processes):
    pythia, hook, returned, _, _ = hard_processes
    info = pythia.infoPython()
    # next() never returned False, yet hundreds of hard processes were vetoed: Pythia counted
    # each as selected and not accepted, and started a new one
    assert all(returned) and hook.n_vetoed > 400
    assert info.nSelected() - info.nAccepted() == hook.n_vetoed
    assert info.nAccepted() == len(returned) == 400


def test_the_hook_tallies_each_vetoed_event_with_its_own_bias_weight(hard_processes):
    _, hook, _, _, vetoed = hard_processes
    w, pt_hat = vetoed.T
    np.testing.assert_allclose(w, (BIAS["reference_pt"] / pt_hat) ** BIAS["power"], rtol=1e-6)
    assert np.ptp(w) > 0.5 * w.max()
    assert hook.sum_w == pytest.approx(math.fsum(w)) and hook.sum_w2 == pytest.approx(math.fsum(w**2))


@pytest.fixture(scope="module")
def vetoed_and_filtered():
    n = 2000
    vetoed = generate(pythia_settings(ZZ_SHOWERED, 13000.0, 11), n, QQ_VV)
    after = generate(pythia_settings(ZZ_SHOWERED, 13000.0, 12), n, QQ_VV, veto=False)
    biased = generate(pythia_settings([*ZZ_SHOWERED, *bias_settings(BIAS)], 13000.0, 13), n, QQ_VV)
    return vetoed, after, biased


def _invisible_yield(chunk, cut: float = 300.0) -> tuple[float, float]:
    """Cross section (pb) with the neutrinos' summed pT above ``cut`` (GeV), and its error."""
    nu = chunk.particles[isin(abs(chunk.particles.pid), NEUTRINOS)]
    met = np.hypot(ak.to_numpy(ak.sum(nu.px, axis=1)), ak.to_numpy(ak.sum(nu.py, axis=1)))
    w, above = chunk.weights, met > cut
    fraction = w[above].sum() / w.sum()
    fraction_err = math.sqrt(np.sum((w[above] * (1 - fraction)) ** 2) + np.sum((w[~above] * fraction) ** 2)) / w.sum()
    sigma = chunk.sigma_pb * fraction
    return sigma, math.hypot(chunk.sigma_err_pb * fraction, chunk.sigma_pb * fraction_err)


def test_veto_and_filter_after_agree_on_sigma_eff_and_yield(vetoed_and_filtered):
    vetoed, after, biased = vetoed_and_filtered
    for chunk in (vetoed, after, biased):
        assert chunk.n_accepted == len(chunk.weights) == 2000
        assert chunk.info["pythia_errors_total"] == 0
        eff_err = math.sqrt(EFFICIENCY * (1 - EFFICIENCY) / chunk.info["n_generated"])
        assert abs(chunk.filter_efficiency - EFFICIENCY) < 4 * eff_err
    assert vetoed.info["n_vetoed"] == vetoed.info["n_generated"] - 2000 and after.info["n_vetoed"] == 0
    for other in (after, biased):
        assert abs(vetoed.sigma_pb - other.sigma_pb) < 3 * math.hypot(vetoed.sigma_err_pb, other.sigma_err_pb)
        (s_v, e_v), (s_o, e_o) = _invisible_yield(vetoed), _invisible_yield(other)
        assert abs(s_v - s_o) < 3 * math.hypot(e_v, e_o)
    # errors of a few per cent: agreement within them means something; a veto whose cross
    # section did not drop (sigmaGen of the unfiltered process) would be ~3 times too high
    assert vetoed.sigma_err_pb < 0.04 * vetoed.sigma_pb and after.sigma_err_pb < 0.04 * after.sigma_pb
    assert vetoed.info["sigma_gen_pb"] > 2.5 * vetoed.sigma_pb
    assert _invisible_yield(vetoed)[0] > 0.1 * vetoed.sigma_pb


def test_the_biased_vetoed_run_weights_its_efficiency(vetoed_and_filtered):
    _, _, biased = vetoed_and_filtered
    # the bias makes the weights vary; the efficiency is the kept fraction of sum w_gen over
    # the kept and the vetoed events, not the count's
    assert np.ptp(biased.weights) > 0.5 * biased.weights.max()
    assert biased.filter_efficiency == pytest.approx(
        math.fsum(biased.weights) / biased.info["sum_weights_generated"], rel=1e-12
    )
    count_fraction = 2000 / biased.info["n_generated"]
    assert biased.filter_efficiency != pytest.approx(count_fraction, rel=1e-6)


# gamma*/Z over 20-200 GeV, showered: only its Z part decays into neutrinos, so the filter's
# acceptance falls steeply with the mass below the Z peak
GAMMA_Z = [
    "WeakSingleBoson:ffbar2gmZ = on",
    "WeakZ0:gmZmode = 0",
    "23:mMin = 20.",
    "23:mMax = 200.",
    "PartonLevel:MPI = off",
    "HadronLevel:all = off",
]


def _neutrino_mass(chunk) -> np.ndarray:
    """Invariant mass (GeV) of each event's final-state neutrinos."""
    nu = chunk.particles[isin(abs(chunk.particles.pid), NEUTRINOS)]
    e, px, py, pz = (ak.to_numpy(ak.sum(nu[f], axis=1)) for f in ("e", "px", "py", "pz"))
    return np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))


def test_the_veto_keeps_the_productions_the_filter_keeps():
    # the veto drops the whole hard process, so the kept masses and the cross section are those
    # of filtering afterwards; redoing only the decays of the same production until they pass
    # (a resonance-decay veto) would keep the produced masses: about 14 % of the events below
    # 60 GeV instead of under 2 %, and a tenth of the cross section
    invisible = DecayFilter(23, ((12, 14, 16),))
    vetoed = generate(pythia_settings(GAMMA_Z, 13000.0, 21), 1000, invisible)
    after = generate(pythia_settings(GAMMA_Z, 13000.0, 22), 1000, invisible, veto=False)
    assert abs(vetoed.sigma_pb - after.sigma_pb) < 3 * math.hypot(vetoed.sigma_err_pb, after.sigma_err_pb)
    assert vetoed.sigma_err_pb < 0.05 * vetoed.sigma_pb
    low_v, low_a = (np.mean(_neutrino_mass(c) < 60.0) for c in (vetoed, after))
    assert low_v < 0.04 and low_a < 0.04
    # the acceptance averaged over the masses: the Z's invisible share near its peak, less below
    assert 0.1 < vetoed.filter_efficiency < 0.2
