"""Small helpers for jagged (awkward) arrays that numpy functions do not cover."""

from __future__ import annotations

from typing import Iterable

import awkward as ak
import numpy as np


def isin(values: ak.Array, allowed: Iterable[int]) -> ak.Array:
    """Elementwise membership test for a jagged array (events × var); same shape, booleans."""
    flat = ak.to_numpy(ak.flatten(values, axis=None))
    return ak.unflatten(np.isin(flat, list(allowed)), ak.num(values, axis=1))
