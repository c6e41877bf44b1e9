import re

import numpy as np
import pytest

from phenoflow.events.observables import observable
from phenoflow.kinematics import delta_phi


def test_delta_phi_wraps_to_half_open_interval():
    assert delta_phi(3.1, -3.1) == pytest.approx(6.2 - 2 * np.pi)
    assert delta_phi(-3.1, 3.1) == pytest.approx(2 * np.pi - 6.2)
    assert delta_phi(np.pi, 0.0) == pytest.approx(-np.pi)  # [-pi, pi): +pi maps to -pi
    assert delta_phi(0.5, 0.25) == pytest.approx(0.25)


def test_single_object_quantities(events):
    np.testing.assert_allclose(observable(events, "fatjet0.mass", fill=-1), [91.0, -1, -1], rtol=1e-6)
    np.testing.assert_allclose(observable(events, "jet0.pt", fill=-1), [100.0, 50.0, -1])
    np.testing.assert_allclose(observable(events, "n_jets"), [2, 1, 0])
    np.testing.assert_allclose(observable(events, "met"), [200.0, 10.0, 0.0])


def test_missing_object_gives_fill(events):
    values = observable(events, "jet1.pt", fill=-999.0)
    np.testing.assert_allclose(values, [100.0, -999.0, -999.0])
    assert np.isnan(observable(events, "jet1.eta")[1])


def test_back_to_back_jets_across_pi(events):
    # jets at phi = 3.1 and -3.1: delta phi = 6.2 - 2 pi, delta R = |that|
    dphi = observable(events, "jet0,jet1.delta_phi")[0]
    assert dphi == pytest.approx(6.2 - 2 * np.pi, abs=1e-6)
    assert observable(events, "jet0,jet1.delta_r")[0] == pytest.approx(2 * np.pi - 6.2, abs=1e-6)
    # two massless 100 GeV jets at eta 0, 0.0832 rad apart: m = 2 * 100 * sin(dphi / 2)
    assert observable(events, "jet0,jet1.mass")[0] == pytest.approx(200 * np.sin((2 * np.pi - 6.2) / 2), rel=1e-4)


def test_delta_phi_with_met(events):
    assert observable(events, "fatjet0,met.delta_phi")[0] == pytest.approx(3.0, abs=1e-6)  # 1.0 - (-2.0)


@pytest.mark.parametrize(
    "name", ["jet0.foo", "tau0.pt", "fatjet0.charge", "jet0", "jet0,met.mass", "jet0,jet1,jet2.delta_r"]
)
def test_bad_names_raise(events, name):
    with pytest.raises(KeyError, match="observable"):
        observable(events, name)


def test_leptons_and_multiplicities():
    from conftest import make_events

    events = make_events(
        jets=[[(60.0, 0.0, 0.0, 0.0)], []],
        fatjets=[[], []],
        met=[(0.0, 0.0), (0.0, 0.0)],
        electrons=[[(40.0, 0.5, 0.3, -1), (20.0, -1.0, 2.0, 1)], []],
        muons=[[], [(30.0, 0.1, -3.0, 1)]],
    )
    np.testing.assert_array_equal(observable(events, "n_leptons"), [2, 1])
    np.testing.assert_array_equal(observable(events, "n_electrons"), [2, 0])
    np.testing.assert_array_equal(observable(events, "electron0.charge", fill=0), [-1, 0])
    np.testing.assert_array_equal(observable(events, "n_bjets"), [0, 0])
    # two massless electrons: m^2 = 2 pT1 pT2 (cosh(d_eta) - cos(d_phi))
    expected = np.sqrt(2 * 40 * 20 * (np.cosh(1.5) - np.cos(1.7)))
    assert observable(events, "electron0,electron1.mass")[0] == pytest.approx(expected, rel=1e-6)
    assert observable(events, "jet0,electron0.delta_r")[0] == pytest.approx(np.hypot(0.5, 0.3))


def test_fat_jet_substructure_from_eflow_constituents():
    """A two-prong fat jet at phi = pi (its prongs straddle +-pi), EFlow objects elsewhere."""
    import awkward as ak

    from phenoflow.events.observables import Substructure, constituents

    prongs = [(100.0, 0.0, np.pi - 0.2), (50.0, 0.0, -np.pi + 0.2)]  # delta R = 0.4 across phi = pi
    far = [(30.0, 1.5, 0.0)]
    eflow = ak.zip(
        {
            "pt": [[p[0] for p in prongs + far], [], [p[0] for p in far]],
            "eta": [[p[1] for p in prongs + far], [], [p[1] for p in far]],
            "phi": [[p[2] for p in prongs + far], [], [p[2] for p in far]],
            "mass": [[0.0, 0.0, 0.0], [], [0.0]],
        },
        with_name="Momentum4D",
    )
    from conftest import make_events

    events = make_events(jets=[[], [], []], fatjets=[[(150.0, 0.0, np.pi - 0.07, 20.0)], [], []], met=[(0, 0)] * 3)
    events = ak.with_field(events, eflow, "eflow")
    jet = ak.pad_none(events.fatjet, 1)[:, 0]
    assert ak.to_list(ak.num(constituents(events, jet, 0.8))) == [2, 0, 0]
    # tau_1 about the kT axis (the E-scheme sum of the prongs); tau_2 = 0 for two prongs
    taus = observable(events, "fatjet0.tau21", fill=-1.0)
    assert taus[0] == pytest.approx(0.0, abs=1e-12) and list(taus[1:]) == [-1.0, -1.0]
    assert observable(events, "fatjet0.tau1")[0] > 0
    # both prongs survive soft drop (z = 1/3 > 0.1): the groomed mass is the pair's mass
    pair = np.sqrt(2 * 100 * 50 * (1 - np.cos(0.4)))
    assert observable(events, "fatjet0.msoftdrop")[0] == pytest.approx(pair, rel=1e-6)
    # with z_cut 0.4 the 50 GeV prong is groomed away: a single massless constituent remains
    hard = Substructure(z_cut=0.4)
    assert observable(events, "fatjet0.msoftdrop", settings=hard)[0] == pytest.approx(0.0, abs=1e-6)


def test_substructure_names():
    from phenoflow.events.observables import check, needs_constituents

    assert needs_constituents(["met > 100", "fatjet0.tau21 < 0.5"]) and not needs_constituents(["fatjet0.mass"])
    check("fatjet1.msoftdrop")
    with pytest.raises(KeyError, match="fat jets only"):
        check("jet0.tau21")


def test_object_quantities_agree_on_any_layout(events):
    """Indexed objects are read from the list offsets where the layout has them, else through awkward:
    both agree with padding and indexing in awkward, also for sliced, strided and option-type events."""
    import awkward as ak

    def reference(sample, collection, index, quantity, fill):
        obj = ak.pad_none(sample[collection], index + 1, axis=1)[:, index]
        values = getattr(obj, "E" if quantity == "e" else quantity)
        return np.asarray(ak.to_numpy(ak.fill_none(values, fill)), dtype=np.float64)

    padded = ak.with_field(events, ak.pad_none(events.jet, 2), "jet")  # None inside the lists
    for sample in (events, events[1:], events[::2], padded):
        for collection, index in (("jet", 0), ("jet", 1), ("fatjet", 0)):
            for quantity in ("pt", "eta", "phi", "mass", "e", "px", "pz"):
                values = observable(sample, f"{collection}{index}.{quantity}", fill=-1.0)
                np.testing.assert_array_equal(values, reference(sample, collection, index, quantity, -1.0))
        np.testing.assert_array_equal(observable(sample, "n_jets"), ak.to_numpy(ak.num(sample.jet, axis=1)))


@pytest.fixture
def anti_qcd_events():
    """MET against jets: a jet across phi = +-pi from MET, five jets (the fifth nearest MET), one
    jet, no jet; fat jets in the first two events only."""
    from conftest import make_events

    return make_events(
        jets=[
            [(100.0, 0.0, 3.1, 0.0), (80.0, 0.0, 0.0, 0.0)],
            [(200.0, 0.0, 0.0, 0.0), (150.0, 0.0, 1.0, 0.0), (100.0, 0.0, -1.0, 0.0), (60.0, 0.0, 2.0, 0.0)]
            + [(30.0, 0.0, -2.5, 0.0)],
            [(50.0, 1.0, 0.5, 0.0)],
            [],
        ],
        fatjets=[[(300.0, 0.0, 1.0, 90.0)], [(400.0, 0.0, -2.0, 90.0), (250.0, 0.0, 0.9, 90.0)], [], []],
        met=[(250.0, -3.1), (300.0, -2.4), (220.0, -0.5), (210.0, 1.0)],
    )


def test_min_delta_phi_over_leading_jets(anti_qcd_events):
    fill = -999.0
    # event 0: |3.1 - (-3.1)| = 6.2 wraps to 2 pi - 6.2 = 0.0832 (the other jet is 3.1 away)
    # event 1: |dphi| to the five jets 2.4, 2 pi - 3.4, 1.4, 2 pi - 4.4, 0.1: the leading four give
    #          1.4, the fifth (30 GeV, nearest the MET) enters only with jet[:]
    # event 2: one jet, 1.0 away: fewer jets than four take the minimum over those present
    # event 3: no jet: the fill value
    four = observable(anti_qcd_events, "jet[:4],met.min_delta_phi", fill=fill)
    np.testing.assert_allclose(four, [2 * np.pi - 6.2, 1.4, 1.0, fill], rtol=1e-12)
    every = observable(anti_qcd_events, "jet[:],met.min_delta_phi", fill=fill)
    np.testing.assert_allclose(every, [2 * np.pi - 6.2, 0.1, 1.0, fill], rtol=1e-12)
    leading = observable(anti_qcd_events, "jet[:1],met.min_delta_phi", fill=fill)
    np.testing.assert_allclose(leading, [2 * np.pi - 6.2, 2.4, 1.0, fill], rtol=1e-12)
    assert np.isnan(observable(anti_qcd_events, "jet[:4],met.min_delta_phi")[3])  # default fill NaN


def test_min_delta_phi_over_fat_jets(anti_qcd_events):
    # event 0: |1.0 + 3.1| = 4.1 -> 2 pi - 4.1; event 1: |-2.0 + 2.4| = 0.4 and |0.9 + 2.4| = 3.3 -> 2 pi - 3.3
    values = observable(anti_qcd_events, "fatjet[:2],met.min_delta_phi", fill=-1.0)
    np.testing.assert_allclose(values, [2 * np.pi - 4.1, 0.4, -1.0, -1.0], rtol=1e-12)
    # over one object it is |delta_phi| of the pair observable
    one = observable(anti_qcd_events, "fatjet[:1],met.min_delta_phi", fill=-1.0)
    pair = observable(anti_qcd_events, "fatjet0,met.delta_phi", fill=-1.0)
    np.testing.assert_allclose(one, np.where(pair == -1.0, -1.0, np.abs(pair)), rtol=1e-12)


def test_min_delta_phi_syntax_check():
    from phenoflow.events.observables import check

    for name in ("jet[:4],met.min_delta_phi", "fatjet[:2],met.min_delta_phi", "photon[:],met.min_delta_phi"):
        check(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "jet[1:4],met.min_delta_phi",
            r"'jet\[1:4\]': .* the first N as <collection>\[:N\] or all as <collection>\[:\]",
        ),
        ("jet0,met.min_delta_phi", r"'jet0': min_delta_phi takes the leading objects .* jet\[:4\],met"),
        ("tau[:4],met.min_delta_phi", r"'tau\[:4\]': min_delta_phi takes the leading objects"),
        ("jet[:0],met.min_delta_phi", r"'jet\[:0\]' holds no object"),
        ("jet[:4],fatjet0.min_delta_phi", r"min_delta_phi is taken between leading objects and met"),
        ("jet[:4].min_delta_phi", r"min_delta_phi is taken between leading objects and met"),
        ("jet[:4].pt", r"'jet\[:4\]': leading objects enter only min_delta_phi with met"),
        ("jet[:4],met.delta_phi", r"'jet\[:4\]': leading objects enter only min_delta_phi with met"),
        ("jet0,jet1.min_dphi", r"unknown pair quantity 'min_dphi' .* or min_delta_phi"),
    ],
)
def test_min_delta_phi_bad_forms_are_refused(name, message):
    from phenoflow.events.observables import check

    with pytest.raises(KeyError, match=rf"observable '{re.escape(name)}': {message}"):
        check(name)
