import awkward as ak
import numpy as np
import pytest

from phenoflow.kinematics import delta_phi, wrap_phi, wrap_phi_in_place


def test_wrap_phi_hand_values():
    angles = np.array([0.0, np.pi, -np.pi, 3 * np.pi / 2, -3 * np.pi / 2, 7.0, -7.0])
    expected = [0.0, -np.pi, -np.pi, -np.pi / 2, np.pi / 2, 7.0 - 2 * np.pi, -7.0 + 2 * np.pi]
    np.testing.assert_allclose(wrap_phi(angles), expected, atol=1e-12)


def test_wrap_phi_on_jagged_arrays():
    phi = ak.Array([[4.0, -4.0], [], [0.5]])
    wrapped, difference = wrap_phi(phi), delta_phi(phi, 1.0)
    assert ak.to_list(ak.num(wrapped)) == [2, 0, 1]
    assert ak.to_list(ak.flatten(wrapped)) == pytest.approx([4.0 - 2 * np.pi, -4.0 + 2 * np.pi, 0.5])
    assert ak.to_list(ak.flatten(difference)) == pytest.approx([3.0, -5.0 + 2 * np.pi, -0.5])


def test_in_place_wrap_agrees_with_wrap_phi():
    rng = np.random.default_rng(1)
    angles = rng.uniform(-20, 20, 10_000)
    wrapped = wrap_phi_in_place(angles.copy())
    np.testing.assert_allclose(wrapped, wrap_phi(angles), atol=1e-12)
    assert wrapped.min() >= -np.pi - 1e-12 and wrapped.max() < np.pi
    nan = np.array([np.nan])
    assert np.isnan(wrap_phi_in_place(nan))[0]
