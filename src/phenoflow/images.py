"""Jet images: the pT of a jet's constituents summed on a fixed (eta, phi) pixel grid.

The image of each event is built in the jet's own frame, in this order:

1. coordinates relative to the jet axis, ``delta_eta`` and ``delta_phi`` (wrapped to [-pi, pi));
2. centring on the axis, the pT-weighted centroid of the constituents or the leading kT subjet;
3. optional rotation of the continuous coordinates so that the second kT subjet (else the principal
   axis of the pT distribution) points straight down, towards negative phi;
4. pixelisation: pT summed per pixel on the window [-half_width, half_width) of each axis;
   constituents outside the window are dropped;
5. optional reflection in eta so that the half with the larger pT sum lies at positive eta;
6. normalisation: none, by the maximum pixel, log(1 + x), or by the total (L1).

Everything is vectorised over events: the jagged constituents are flattened once, per-event
quantities are broadcast with the event index of each constituent and pixels are accumulated with
``np.bincount`` over the flat (event, eta pixel, phi pixel) index (one call per block of 128 events,
to keep its buffer in cache). Subjets come from a single multi-event fastjet call. There is no
Python loop over jets or particles.

Images are float32 arrays of shape (n_events, n_eta, n_phi): axis 1 is eta and axis 2 is phi, both
increasing with the index. Momenta in GeV, angles in radians.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import awkward as ak
import fastjet
import numpy as np
import vector

from phenoflow.observables import delta_phi

vector.register_awkward()

Centre = Literal["axis", "centroid", "leading_subjet"]
Normalisation = Literal["none", "max", "log", "l1"]
CENTRES: tuple[str, ...] = ("axis", "centroid", "leading_subjet")
NORMALISATIONS: tuple[str, ...] = ("none", "max", "log", "l1")

#: Below this (rad or rad^2) a direction is undefined and the image is left unrotated.
_DEGENERATE = 1e-12
#: Events per np.bincount call when filling pixels (bounds the float64 buffer to ~1 MB).
_BLOCK_EVENTS = 128


@dataclass(frozen=True)
class ImageSpec:
    """Pixel grid and preprocessing of a jet image.

    ``n_eta`` × ``n_phi`` pixels cover [-half_width_eta, half_width_eta) × [-half_width_phi,
    half_width_phi) (rad) around the centre. ``centre`` is ``"axis"``, ``"centroid"`` or
    ``"leading_subjet"``; ``rotate`` turns the second subjet (else the principal axis) to negative
    phi; ``flip`` puts the harder eta half at positive eta; ``normalise`` is ``"none"``, ``"max"``,
    ``"log"`` (log(1 + x)) or ``"l1"``. Subjets are kT subjets of radius ``subjet_radius``.
    """

    n_eta: int = 33
    n_phi: int = 33
    half_width_eta: float = 1.6
    half_width_phi: float = 1.6
    centre: Centre = "axis"
    rotate: bool = False
    flip: bool = False
    normalise: Normalisation = "none"
    subjet_radius: float = 0.3

    def __post_init__(self) -> None:
        if self.n_eta < 1 or self.n_phi < 1:
            raise ValueError(f"image needs at least one pixel per axis, got {self.n_eta} x {self.n_phi}")
        if not (self.half_width_eta > 0 and self.half_width_phi > 0):
            raise ValueError("half widths must be positive")
        if self.half_width_phi > np.pi:
            raise ValueError(f"half_width_phi = {self.half_width_phi} exceeds pi")
        if self.centre not in CENTRES:
            raise ValueError(f"unknown centre '{self.centre}' (expected one of {', '.join(CENTRES)})")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"unknown normalisation '{self.normalise}' (expected one of {', '.join(NORMALISATIONS)})")
        if not self.subjet_radius > 0:
            raise ValueError("subjet_radius must be positive")

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (n_eta, n_phi)."""
        return (self.n_eta, self.n_phi)

    @property
    def pixel_size(self) -> tuple[float, float]:
        """Pixel width in eta and in phi (rad)."""
        return (2 * self.half_width_eta / self.n_eta, 2 * self.half_width_phi / self.n_phi)

    @property
    def eta_edges(self) -> np.ndarray:
        """Pixel edges in eta relative to the centre, shape (n_eta + 1,)."""
        return np.linspace(-self.half_width_eta, self.half_width_eta, self.n_eta + 1)

    @property
    def phi_edges(self) -> np.ndarray:
        """Pixel edges in phi relative to the centre (rad), shape (n_phi + 1,)."""
        return np.linspace(-self.half_width_phi, self.half_width_phi, self.n_phi + 1)


def kt_subjets(constituents: ak.Array, radius: float = 0.3, n: int = 2) -> ak.Array:
    """The ``n`` hardest kT subjets of each event, by decreasing pT; events × (≤ n) Momentum4D (GeV).

    ``constituents``: events × var records with pt (GeV), eta and phi (rad), taken as massless.
    The constituents are reclustered with the inclusive kT algorithm of radius ``radius`` in one
    multi-event fastjet call; an event without constituents has no subjets.
    """
    massless = ak.zip(
        {
            "pt": ak.values_astype(constituents.pt, np.float64),
            "eta": ak.values_astype(constituents.eta, np.float64),
            "phi": ak.values_astype(constituents.phi, np.float64),
            "mass": ak.zeros_like(constituents.pt, dtype=np.float64),
        },
        with_name="Momentum4D",
    )
    inputs = ak.zip({"px": massless.px, "py": massless.py, "pz": massless.pz, "E": massless.E}, with_name="Momentum4D")
    sequence = fastjet.ClusterSequence(inputs, fastjet.JetDefinition(fastjet.kt_algorithm, radius))
    jets = sequence.inclusive_jets()
    jets = ak.zip({"px": jets.px, "py": jets.py, "pz": jets.pz, "E": jets.E}, with_name="Momentum4D")
    return jets[ak.argsort(jets.pt, axis=1, ascending=False)][:, :n]


def pixelise(deta: ak.Array, dphi: ak.Array, pt: ak.Array, spec: ImageSpec = ImageSpec()) -> np.ndarray:
    """Sum of pT (GeV) per pixel: float32 array (n_events, n_eta, n_phi), no preprocessing.

    ``deta``, ``dphi`` (rad, relative to the image centre, phi already wrapped) and ``pt`` (GeV) are
    events × var arrays of the same structure. Pixel (i, j) covers ``eta_edges[i] <= deta <
    eta_edges[i + 1]`` and likewise in phi; anything outside the window, or NaN, is dropped.
    """
    event, (x, y, weights) = _flatten(pt, deta, dphi, pt)
    return _accumulate(event, x, y, weights, len(pt), spec)


def flip_eta(images: np.ndarray) -> np.ndarray:
    """Reflect images in eta where the negative-eta half has the larger pT sum; same shape.

    ``images``: (n_events, n_eta, n_phi). The halves are the first and last ``n_eta // 2`` rows;
    the central row of an odd-sized image is on neither side. Ties are left as they are.
    """
    half = images.shape[1] // 2
    lower = images[:, :half].sum(axis=(1, 2), dtype=np.float64)
    upper = images[:, images.shape[1] - half :].sum(axis=(1, 2), dtype=np.float64)
    flipped = images.copy()
    swap = lower > upper
    flipped[swap] = images[swap, ::-1]
    return flipped


def normalise(images: np.ndarray, method: Normalisation) -> np.ndarray:
    """Normalised float32 ``images`` (n_events, n_eta, n_phi); a new array unless ``method`` is ``"none"``.

    ``"none"``: unchanged; ``"max"``: divided by the largest pixel; ``"log"``: log(1 + x) of the
    pixel pT in GeV; ``"l1"``: divided by the sum of all pixels. All-zero images stay zero.
    """
    images = np.asarray(images, dtype=np.float32)
    if method == "none":
        return images
    if method == "log":
        return np.log1p(images)
    if method == "max":
        scale = images.max(axis=(1, 2), keepdims=True, initial=0.0)
    elif method == "l1":
        scale = images.sum(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)
    else:
        raise ValueError(f"unknown normalisation '{method}' (expected one of {', '.join(NORMALISATIONS)})")
    return np.divide(images, scale, out=np.zeros_like(images), where=scale > 0)


def jet_images(
    constituents: ak.Array,
    axis_eta: np.ndarray | ak.Array,
    axis_phi: np.ndarray | ak.Array,
    spec: ImageSpec = ImageSpec(),
) -> np.ndarray:
    """Preprocessed jet images: float32 array (n_events, n_eta, n_phi) of pixel pT (GeV unless normalised).

    ``constituents``: events × var records with pt (GeV), eta and phi (rad) — the constituents of
    one jet per event. ``axis_eta``, ``axis_phi``: the jet axis, shape (n_events,); NaN (or None)
    marks an event without a jet, which gives an all-zero image, as does an event without
    constituents. See the module docstring and :class:`ImageSpec` for the preprocessing steps.
    """
    n_events = len(constituents)
    axis_eta, axis_phi = _per_event(axis_eta, n_events), _per_event(axis_phi, n_events)
    event, (pt, eta, phi) = _flatten(constituents.pt, constituents.pt, constituents.eta, constituents.phi)
    x = eta - axis_eta[event]
    y = delta_phi(phi, axis_phi[event])

    second_x = second_y = np.full(n_events, np.nan)
    if spec.centre == "leading_subjet" or spec.rotate:
        subjets = kt_subjets(constituents, spec.subjet_radius, n=2)
        subjet_x = _padded(subjets.eta, 2) - axis_eta[:, None]
        subjet_y = delta_phi(_padded(subjets.phi, 2), axis_phi[:, None])
        second_x, second_y = subjet_x[:, 1], subjet_y[:, 1]

    centre_x = centre_y = np.zeros(n_events)
    if spec.centre == "centroid":
        centre_x, centre_y = _weighted_mean(event, x, pt, n_events), _weighted_mean(event, y, pt, n_events)
    elif spec.centre == "leading_subjet":
        centre_x, centre_y = subjet_x[:, 0], subjet_y[:, 0]
    if spec.centre != "axis":
        x = x - centre_x[event]
        y = delta_phi(y, centre_y[event])

    if spec.rotate:
        direction = _direction(event, x, y, pt, second_x - centre_x, delta_phi(second_y, centre_y), n_events)
        angle = np.where(np.isfinite(direction), -np.pi / 2 - direction, 0.0)[event]
        cos, sin = np.cos(angle), np.sin(angle)
        x, y = x * cos - y * sin, x * sin + y * cos

    images = _accumulate(event, x, y, pt, n_events, spec)
    if spec.flip:
        images = flip_eta(images)
    return normalise(images, spec.normalise)


def average_image(images: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean of ``images`` (n_events, n_eta, n_phi) over events: float64 (n_eta, n_phi).

    ``weights``: shape (n_events,), e.g. event weights (may be negative); equal weights if None.
    """
    images = np.asarray(images)
    weights = np.ones(len(images)) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != images.shape[:1]:
        raise ValueError(f"weights have shape {weights.shape}, expected ({len(images)},)")
    total = weights.sum()
    if total == 0:
        raise ValueError("weights sum to zero")
    return np.tensordot(weights, images, axes=(0, 0)) / total


def _flatten(layout: ak.Array, *values: ak.Array) -> tuple[np.ndarray, list[np.ndarray]]:
    """Event index of every entry of the jagged ``layout`` and the float64 flat ``values``."""
    counts = ak.to_numpy(ak.num(layout, axis=1))
    event = np.repeat(np.arange(len(counts)), counts)
    return event, [np.asarray(ak.to_numpy(ak.flatten(v, axis=1)), dtype=np.float64) for v in values]


def _per_event(values: np.ndarray | ak.Array, n_events: int) -> np.ndarray:
    """One float64 value per event, None → NaN; shape (n_events,)."""
    if isinstance(values, ak.Array):
        values = ak.to_numpy(ak.fill_none(values, np.nan))
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n_events,):
        raise ValueError(f"expected one value per event, shape ({n_events},), got {values.shape}")
    return values


def _padded(values: ak.Array, n: int) -> np.ndarray:
    """Jagged events × var values as a float64 (n_events, n) array, NaN-padded."""
    return np.asarray(ak.to_numpy(ak.fill_none(ak.pad_none(values, n, axis=1, clip=True), np.nan)), dtype=np.float64)


def _weighted_mean(event: np.ndarray, values: np.ndarray, weights: np.ndarray, n_events: int) -> np.ndarray:
    """Per-event weighted mean of flat ``values``, shape (n_events,); NaN where the weights sum to 0."""
    total = np.bincount(event, weights, minlength=n_events)
    moment = np.bincount(event, weights * values, minlength=n_events)
    return np.divide(moment, total, out=np.full(n_events, np.nan), where=total > 0)


def _direction(
    event: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    pt: np.ndarray,
    second_x: np.ndarray,
    second_y: np.ndarray,
    n_events: int,
) -> np.ndarray:
    """Per-event polar angle (rad) in the (eta, phi) plane of the direction to rotate downwards.

    The direction to the second subjet (``second_x``, ``second_y``, relative to the centre, NaN if
    absent) where there is one, else the principal axis of the pT-weighted constituent
    distribution, oriented towards the side with the larger pT-weighted signed square distance
    from the centre. NaN where neither is defined (e.g. a single constituent).
    """
    principal = _principal_axis(event, x, y, pt, n_events)
    has_second = np.hypot(second_x, second_y) > _DEGENERATE  # False for NaN
    return np.where(has_second, np.arctan2(second_y, second_x), principal)


def _principal_axis(event: np.ndarray, x: np.ndarray, y: np.ndarray, pt: np.ndarray, n_events: int) -> np.ndarray:
    """Oriented angle (rad) of the major axis of the pT-weighted covariance of (x, y) per event; NaN if isotropic."""
    dx = x - _weighted_mean(event, x, pt, n_events)[event]
    dy = y - _weighted_mean(event, y, pt, n_events)[event]
    var_x = _weighted_mean(event, dx * dx, pt, n_events)
    var_y = _weighted_mean(event, dy * dy, pt, n_events)
    cov_xy = _weighted_mean(event, dx * dy, pt, n_events)
    angle = 0.5 * np.arctan2(2 * cov_xy, var_x - var_y)
    projection = x * np.cos(angle)[event] + y * np.sin(angle)[event]
    signed_spread = np.bincount(event, pt * projection * np.abs(projection), minlength=n_events)
    angle = np.where(signed_spread < 0, angle + np.pi, angle)
    isotropic = ~(np.hypot(2 * cov_xy, var_x - var_y) > _DEGENERATE)
    return np.where(isotropic, np.nan, angle)


def _accumulate(
    event: np.ndarray, x: np.ndarray, y: np.ndarray, pt: np.ndarray, n_events: int, spec: ImageSpec
) -> np.ndarray:
    """Sum flat ``pt`` (GeV) into float32 pixels (n_events, n_eta, n_phi) at flat coordinates (x, y) = (eta, phi).

    ``event`` (the event of each entry) must be non-decreasing, as for flattened jagged arrays.
    Each event gets n_eta × n_phi bins plus one overflow bin for entries outside the window (or NaN),
    and one ``np.bincount`` per block of events fills them; the blocks only keep the float64
    bincount buffer small (in cache), they do not change the result.
    """
    width_eta, width_phi = spec.pixel_size
    n_pixels = spec.n_eta * spec.n_phi
    ieta = np.floor((x + spec.half_width_eta) / width_eta)
    iphi = np.floor((y + spec.half_width_phi) / width_phi)
    inside = (ieta >= 0) & (ieta < spec.n_eta) & (iphi >= 0) & (iphi < spec.n_phi)  # False for NaN
    pixel = np.where(inside, ieta * spec.n_phi + iphi, n_pixels).astype(np.intp)
    images = np.empty((n_events, n_pixels), dtype=np.float32)
    firsts = np.arange(0, n_events + _BLOCK_EVENTS, _BLOCK_EVENTS).clip(max=n_events)
    bounds = np.searchsorted(event, firsts)
    for first, last, start, stop in zip(firsts[:-1], firsts[1:], bounds[:-1], bounds[1:]):
        n_block = last - first
        index = (event[start:stop] - first) * (n_pixels + 1) + pixel[start:stop]
        sums = np.bincount(index, weights=pt[start:stop], minlength=n_block * (n_pixels + 1))
        images[first:last] = sums.reshape(n_block, n_pixels + 1)[:, :n_pixels]
    return images.reshape(n_events, spec.n_eta, spec.n_phi)
