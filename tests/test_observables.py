import numpy as np
import pytest

from phenoflow.observables import delta_phi, observable


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


@pytest.mark.parametrize("name", ["jet0.foo", "muon0.pt", "jet0", "jet0,met.mass", "jet0,jet1,jet2.delta_r"])
def test_bad_names_raise(events, name):
    with pytest.raises(KeyError, match="observable"):
        observable(events, name)
