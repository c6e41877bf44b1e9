"""The discovery significance with a background uncertainty (Cowan's formula) and the bin
uncertainty it takes."""

from decimal import Decimal, getcontext

import numpy as np
import pytest

from phenoflow.significance import asimov_significance, asimov_significance_with_uncertainty, background_uncertainty


def test_hand_value():
    # s = 5, b = 10, sigma_b = 2: (s+b)(b+sb2)/(b^2+(s+b)sb2) = 15*14/160 = 21/16,
    # 1 + sb2 s/(b(b+sb2)) = 1 + 20/140 = 8/7, b^2/sb2 = 25
    # Z^2 = 2 (15 ln(21/16) - 25 ln(8/7)) = 2 (4.0790057 - 3.3382848) = 1.4814418
    z = asimov_significance_with_uncertainty(5.0, 10.0, 2.0)
    assert z == pytest.approx(np.sqrt(2 * (15 * np.log(21 / 16) - 25 * np.log(8 / 7))), rel=1e-13)
    assert z == pytest.approx(1.217145, abs=1e-6)
    assert z < asimov_significance(5.0, 10.0)  # 1.471: an uncertain background weakens the claim


def _cowan_decimal(s: float, b: float, sigma: float) -> float:
    """Cowan's formula in 50-digit decimal arithmetic."""
    getcontext().prec = 50
    s, b, v = Decimal(s), Decimal(b), Decimal(sigma) ** 2
    first = (s + b) * ((s + b) * (b + v) / (b * b + (s + b) * v)).ln()
    second = b * b / v * (1 + v * s / (b * (b + v))).ln()
    return float((2 * (first - second)).sqrt())


@pytest.mark.parametrize(
    "s, b, sigma", [(1.0, 1e4, 30.0), (0.3, 2.0, 0.05), (50.0, 20.0, 15.0), (1e-3, 5.0, 1.0), (2.0, 1e6, 1e4)]
)
def test_equals_a_high_precision_evaluation(s, b, sigma):
    assert asimov_significance_with_uncertainty(s, b, sigma) == pytest.approx(_cowan_decimal(s, b, sigma), rel=1e-9)


def test_small_signal_limit_is_s_over_sqrt_of_b_plus_variance():
    # s << b: Z -> s / sqrt(b + sigma_b^2)
    assert asimov_significance_with_uncertainty(1.0, 1e6, 2e3) == pytest.approx(1.0 / np.sqrt(1e6 + 4e6), rel=1e-5)


def test_reduces_to_asimov_as_the_uncertainty_vanishes():
    s, b = np.array([0.5, 5.0, 40.0, 1.0]), np.array([0.2, 10.0, 100.0, 1e7])
    exact = asimov_significance(s, b)
    for sigma in (1e-3, 1e-5, 1e-7, 1e-9, 1e-12, 1e-200, 0.0):
        z = asimov_significance_with_uncertainty(s, b, sigma)
        assert np.all(np.isfinite(z)), sigma
        np.testing.assert_allclose(z, exact, rtol=1e-5 if sigma == 1e-3 else 1e-9)
    # continuous across the switch to the plain formula at sigma_b^2 / b = 1e-12
    below, above = (asimov_significance_with_uncertainty(5.0, 10.0, np.sqrt(f * 1e-11)) for f in (0.99, 1.01))
    assert below == pytest.approx(above, rel=1e-12)


def test_a_large_uncertainty_leaves_no_significance():
    assert asimov_significance_with_uncertainty(5.0, 10.0, 1e4) < 1e-3


def test_broadcasts_and_edge_cases():
    z = asimov_significance_with_uncertainty(np.array([[0.0], [5.0]]), np.array([10.0, 0.0, -1.0]), 2.0)
    assert z.shape == (2, 3)
    assert np.all(z[0, [0]] == 0) and np.all(np.isnan(z[:, 1:]))
    assert asimov_significance_with_uncertainty(5.0, 10.0, -2.0) == asimov_significance_with_uncertainty(5.0, 10.0, 2.0)
    assert isinstance(asimov_significance_with_uncertainty(5.0, 10.0, 2.0), float)


def test_background_uncertainty_adds_systematic_and_mc_error_in_quadrature():
    # 10 % of b = 20 is 2; sqrt(sum w^2) = 1.5: sigma_b = 2.5
    assert background_uncertainty(20.0, 0.1, 2.25) == pytest.approx(2.5)
    np.testing.assert_allclose(background_uncertainty(np.array([20.0, 40.0]), 0.1), [2.0, 4.0])
    np.testing.assert_allclose(background_uncertainty(np.array([20.0, 40.0]), sumw2=np.array([9.0, 16.0])), [3.0, 4.0])
    with pytest.raises(ValueError, match="relative background uncertainty"):
        background_uncertainty(1.0, -0.1)
    with pytest.raises(ValueError, match="squared weights"):
        background_uncertainty(1.0, 0.1, -1.0)
