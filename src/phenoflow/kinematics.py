"""Azimuthal angles: the one place phi is wrapped, for the detector simulation, observables,
substructure and jet images. Radians throughout."""

from __future__ import annotations

import awkward as ak
import numpy as np

_TWO_PI = 2 * np.pi


def wrap_phi(phi: np.ndarray | ak.Array) -> np.ndarray | ak.Array:
    """Angles wrapped to [-pi, pi). Any shape, numpy or awkward; NaN stays NaN."""
    return (phi + np.pi) % _TWO_PI - np.pi


def delta_phi(phi1: np.ndarray | ak.Array, phi2: np.ndarray | ak.Array) -> np.ndarray | ak.Array:
    """Azimuthal difference phi1 - phi2 wrapped to [-pi, pi). Any broadcastable shapes; radians."""
    return wrap_phi(phi1 - phi2)


def wrap_phi_in_place(delta: np.ndarray) -> np.ndarray:
    """Wrap a float numpy array of angles to [-pi, pi) in place and return it (hot loops).

    ``delta - 2 pi floor(delta / 2 pi + 1/2)``: four arithmetic passes, four times faster than
    shifting by 2 pi times a boolean (numpy's bool-to-float casts are slow). Values within an ulp
    of +-pi may land an ulp below -pi; NaN stays NaN.
    """
    turns = delta * (1 / _TWO_PI)
    turns += 0.5
    np.floor(turns, out=turns)
    turns *= _TWO_PI
    delta -= turns
    return delta
