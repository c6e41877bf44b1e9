"""Small helpers for jagged (awkward) arrays: membership tests and four-momentum views."""

from __future__ import annotations

from collections.abc import Iterable

import awkward as ak
import numpy as np
import vector

vector.register_awkward()


def isin(values: ak.Array, allowed: Iterable[int]) -> ak.Array:
    """Elementwise membership test for a jagged array (events × var); same shape, booleans."""
    flat = ak.to_numpy(ak.flatten(values, axis=None))
    return ak.unflatten(np.isin(flat, list(allowed)), ak.num(values, axis=1))


def momenta(particles: ak.Array) -> ak.Array:
    """Momentum4D view (px, py, pz, E in GeV) of records with fields px, py, pz, e."""
    return ak.zip(
        {"px": particles.px, "py": particles.py, "pz": particles.pz, "E": particles.e},
        with_name="Momentum4D",
    )
