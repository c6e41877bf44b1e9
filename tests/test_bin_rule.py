"""The rule every binning method is judged by: significances by hand, yields with MC errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phenoflow.binning.rule import combine_significances, signal_significances, yields_with_errors
from phenoflow.binning.methods import combined_significance


def test_signal_significances_and_combinations_by_hand():
    s = np.array([[4.0, 1.0], [1.0, 3.0]])  # two signals, two bins
    b = np.array([10.0, 5.0])

    def za(si, bi):
        return math.sqrt(2 * ((si + bi) * math.log(1 + si / bi) - si))

    z1 = math.sqrt(za(4, 11) ** 2 + za(1, 8) ** 2)  # signal 1 sees b + signal 2
    z2 = math.sqrt(za(1, 14) ** 2 + za(3, 6) ** 2)
    z = signal_significances(s, b)
    assert z == pytest.approx([z1, z2], rel=1e-12)
    assert combine_significances(z, "quadrature") == pytest.approx(math.hypot(z1, z2), rel=1e-12)
    assert combine_significances(z, "geometric_mean") == pytest.approx(math.sqrt(z1 * z2), rel=1e-12)
    assert combine_significances(z, "minimum") == pytest.approx(min(z1, z2), rel=1e-12)
    # one signal: the usual combined Asimov significance
    assert combine_significances(signal_significances(s[:1], b)) == pytest.approx(
        math.hypot(za(4, 10), za(1, 5)), rel=1e-12
    )
    assert signal_significances(s[:1], b)[0] == pytest.approx(combined_significance(s[0], b), rel=1e-12)


def test_yields_with_hist_match_numpy():
    rng = np.random.default_rng(9)
    bins = rng.integers(-1, 5, 500)
    weights = rng.normal(1.0, 0.5, 500)
    labels = rng.integers(0, 3, 500)
    got = yields_with_errors(bins, weights, labels, 5)
    assert sorted(got) == [0, 1, 2]
    for label, (values, errors) in got.items():
        sel = (labels == label) & (bins >= 0)
        assert np.allclose(values, np.bincount(bins[sel], weights=weights[sel], minlength=5))
        assert np.allclose(errors, np.sqrt(np.bincount(bins[sel], weights=weights[sel] ** 2, minlength=5)))
