"""The vectorised machinery behind :mod:`phenoflow.features.images`: flat constituent arrays,
per-event sums over them, the centring, rotation and principal axis, pixelisation with the flip and
normalisation of the touched pixels, and the ``.npy`` header. Private: the public functions are in
:mod:`phenoflow.features.images`, whose docstring describes the steps, shapes and precision.
Momenta in GeV, angles in radians.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO

import awkward as ak
import numpy as np

from phenoflow.features.image_spec import NORMALISATIONS, ImageSpec, Normalisation
from phenoflow.kinematics import wrap_phi, wrap_phi_in_place

#: Below this (rad or rad^2) a direction is undefined and the image is left unrotated.
_DEGENERATE = 1e-12


@dataclass(frozen=True)
class _Flat:
    """Flattened constituents: ``offsets`` (n_events + 1,) from 0 and ``counts`` (n_events,) into
    float64 ``pt`` (GeV), ``eta`` and ``phi`` (rad, in [-pi, pi])."""

    offsets: np.ndarray
    counts: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray

    def events(self, start: int, stop: int) -> _Flat:
        """Events ``start`` to ``stop`` (views of the flat arrays, offsets from 0)."""
        first, last = self.offsets[start], self.offsets[stop]
        offsets = self.offsets[start : stop + 1] - first
        return _Flat(offsets, self.counts[start:stop], self.pt[first:last], self.eta[first:last], self.phi[first:last])


def _flatten(constituents: ak.Array) -> _Flat:
    """Flat float64 pt, eta, phi (wrapped to [-pi, pi) if outside [-pi, pi]) of events × var constituent records.

    The usual layout (list offsets over a record of numpy fields, as read from Parquet or ROOT) is
    read directly from its buffers, which saves the ~2 ms of awkward calls per chunk; others go
    through ``ak.flatten``.
    """
    layout, fields = constituents.layout, ("pt", "eta", "phi")
    if (
        isinstance(layout, ak.contents.ListOffsetArray)
        and isinstance(layout.content, ak.contents.RecordArray)
        and all(isinstance(layout.content.content(field), ak.contents.NumpyArray) for field in fields)
    ):
        offsets = np.asarray(layout.offsets.data, dtype=np.int64)
        first, last = offsets[0], offsets[-1]
        values = (np.asarray(layout.content.content(field).data[first:last], dtype=np.float64) for field in fields)
        offsets = offsets - first
    else:
        offsets = _offsets(constituents)
        values = (_flat_values(constituents[field]) for field in fields)
    pt, eta, phi = values
    return _Flat(offsets, offsets[1:] - offsets[:-1], pt, eta, _in_phi_range(phi))


def _offsets(layout: ak.Array) -> np.ndarray:
    """Offsets (n_events + 1,) of the jagged ``layout``, starting at 0."""
    offsets = np.zeros(len(layout) + 1, dtype=np.int64)
    np.cumsum(ak.to_numpy(ak.num(layout, axis=1)), out=offsets[1:])
    return offsets


def _flat_values(values: ak.Array) -> np.ndarray:
    """The entries of jagged ``values`` as one float64 array."""
    return np.asarray(ak.to_numpy(ak.flatten(values, axis=1)), dtype=np.float64)


def _per_event(values: np.ndarray | ak.Array, n_events: int) -> np.ndarray:
    """One float64 value per event, None → NaN; shape (n_events,)."""
    if isinstance(values, ak.Array):
        values = ak.to_numpy(ak.fill_none(values, np.nan))
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n_events,):
        raise ValueError(f"expected one value per event, shape ({n_events},), got {values.shape}")
    return values


def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    """Consecutive (start, stop) ranges of at most ``size`` covering range(n)."""
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def _in_phi_range(phi: np.ndarray) -> np.ndarray:
    """``phi`` (rad) itself if all in [-pi, pi], else a copy wrapped to [-pi, pi) (NaN stays NaN)."""
    if phi.size == 0 or (phi.min() >= -np.pi and phi.max() <= np.pi):  # False with NaN
        return phi
    return wrap_phi(phi)


class _Events:
    """Per-event sums, maxima and broadcasts over flat entries grouped by event (event 0's first).

    ``counts`` (n,): entries per event. Sums go through ``np.add.reduceat`` over the contiguous
    ranges of the non-empty events, about four times faster than ``np.bincount`` over an event index;
    those ranges are found on the first sum or maximum (pixelisation alone needs only broadcasts).
    """

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = counts

    @cached_property
    def filled(self) -> np.ndarray:
        """Whether each event has entries, shape (n,)."""
        return self.counts > 0

    @cached_property
    def starts(self) -> np.ndarray:
        """Index of the first entry of each non-empty event."""
        starts = np.zeros(len(self.counts), dtype=np.intp)
        np.cumsum(self.counts[:-1], out=starts[1:])
        return starts[self.filled]

    def sum(self, values: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        """Per-event sum of flat ``values``, shape (n,); 0 for an empty event."""
        sums = np.zeros(len(self.counts), dtype=dtype)
        if len(self.starts):
            sums[self.filled] = np.add.reduceat(values, self.starts, dtype=dtype)
        return sums

    def max(self, values: np.ndarray, initial: float) -> np.ndarray:
        """Per-event maximum of flat ``values`` and ``initial``, shape (n,), dtype of ``values``."""
        maxima = np.full(len(self.counts), initial, dtype=values.dtype)
        if len(self.starts):
            maxima[self.filled] = np.maximum(np.maximum.reduceat(values, self.starts), initial)
        return maxima

    def broadcast(self, values: np.ndarray) -> np.ndarray:
        """Per-event ``values`` (n,) repeated for each entry of the event (``np.repeat``, faster than indexing)."""
        return np.repeat(values, self.counts)


class _Scratch:
    """Reused pixel arrays for blocks of up to ``n_events`` events: the float32 accumulator ``sums``,
    zero between uses, and (for L1 normalisation) int32 ``marks``, read only where just written."""

    def __init__(self, n_events: int, spec: ImageSpec) -> None:
        self.sums = np.zeros(n_events * spec.n_eta * spec.n_phi, dtype=np.float32)
        self.marks = np.empty(n_events * spec.n_eta * spec.n_phi if spec.normalise == "l1" else 0, dtype=np.int32)


def _fill(
    out: np.ndarray,
    scratch: _Scratch,
    flat: _Flat,
    events: slice,
    axis_eta: np.ndarray,
    axis_phi: np.ndarray,
    subjet_eta: np.ndarray,
    subjet_phi: np.ndarray,
    spec: ImageSpec,
    zeroed: bool,
) -> None:
    """Fill ``out`` (n, n_eta, n_phi) with the preprocessed images of the ``n`` ``events`` of ``flat``.

    ``axis_eta``, ``axis_phi``: (n,); ``subjet_eta``, ``subjet_phi``: (n, 2), the two hardest kT
    subjets, NaN-padded (all NaN when the spec needs none); ``zeroed``: ``out`` is all zero already.
    """
    first, last = flat.offsets[events.start], flat.offsets[events.stop]
    pt, eta, phi = flat.pt[first:last], flat.eta[first:last], flat.phi[first:last]
    block = _Events(flat.counts[events])
    if spec.centre == "axis" and not spec.rotate:
        # pixelisation alone: float32 coordinates (~2e-7 rad) are plenty, and each pass twice as fast
        x = eta.astype(np.float32)
        x -= block.broadcast(axis_eta.astype(np.float32))
        y = phi.astype(np.float32)
        y -= block.broadcast(axis_phi.astype(np.float32))
        _accumulate(out, scratch, block, x, wrap_phi_in_place(y), pt, spec, zeroed)
        return
    x = eta - block.broadcast(axis_eta)
    y = wrap_phi_in_place(phi - block.broadcast(axis_phi))

    total = moments = None
    centre_x = centre_y = np.zeros(len(out))
    if spec.centre == "centroid":
        total = block.sum(pt)
        if spec.rotate:  # the covariance for the principal axis comes from the same products
            moments = _moments(block, x, y, pt, total)
            centre_x, centre_y = moments[:2]
        else:
            centre_x, centre_y = _ratio(block.sum(pt * x), total), _ratio(block.sum(pt * y), total)
    elif spec.centre == "leading_subjet":
        centre_x, centre_y = subjet_eta[:, 0] - axis_eta, wrap_phi_in_place(subjet_phi[:, 0] - axis_phi)
    if spec.centre != "axis":
        x -= block.broadcast(centre_x)
        y -= block.broadcast(centre_y)
        if len(y) and y.min() >= -np.pi and y.max() < np.pi:  # False with NaN
            if moments is not None:  # translated by the centroid: same covariance, zero mean
                moments = (np.zeros(len(out)), np.zeros(len(out)), *moments[2:])
        else:
            wrap_phi_in_place(y)
            moments = None  # a wrapped y changes the covariance

    if spec.rotate:
        direction = np.full(len(out), np.nan)
        has_second = np.zeros(len(out), dtype=bool)
        if spec.rotate_to == "second_subjet":
            second_x = subjet_eta[:, 1] - axis_eta - centre_x
            second_y = wrap_phi_in_place(wrap_phi_in_place(subjet_phi[:, 1] - axis_phi) - centre_y)
            has_second = np.hypot(second_x, second_y) > _DEGENERATE  # False for NaN
            direction = np.arctan2(second_y, second_x)
        if not has_second.all():
            direction = np.where(has_second, direction, _principal_axis(block, x, y, pt, total, moments))
        angle = np.where(np.isfinite(direction), -np.pi / 2 - direction, 0.0)
        _rotate(x, y, block.broadcast(np.cos(angle)), block.broadcast(np.sin(angle)))

    _accumulate(out, scratch, block, x, y, pt, spec, zeroed)


def _rotate(x: np.ndarray, y: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> None:
    """(x, y) → (x cos - y sin, x sin + y cos) entry by entry, in place (``sin`` is overwritten)."""
    x_sin = x * sin
    x *= cos
    sin *= y
    x -= sin
    y *= cos
    y += x_sin


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` where the denominator is positive, else NaN."""
    return np.divide(numerator, denominator, out=np.full(len(numerator), np.nan), where=denominator > 0)


def _moments(block: _Events, x: np.ndarray, y: np.ndarray, pt: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-event pT-weighted means and (co)variances of (x, y): mean_x, mean_y, var_x, var_y, cov_xy, each (n,).

    ``total``: the per-event pT sums. The second moments are the raw ones minus the products of
    the means: x and y are O(1) rad, so float64 loses nothing that matters. NaN where total is 0.
    """
    pt_x, pt_y = pt * x, pt * y
    mean_x, mean_y = _ratio(block.sum(pt_x), total), _ratio(block.sum(pt_y), total)
    var_x = _ratio(block.sum(np.multiply(pt_x, x)), total) - mean_x * mean_x
    cov_xy = _ratio(block.sum(np.multiply(pt_x, y, out=pt_x)), total) - mean_x * mean_y
    var_y = _ratio(block.sum(np.multiply(pt_y, y, out=pt_y)), total) - mean_y * mean_y
    return mean_x, mean_y, var_x, var_y, cov_xy


def _principal_axis(
    block: _Events,
    x: np.ndarray,
    y: np.ndarray,
    pt: np.ndarray,
    total: np.ndarray | None = None,
    moments: tuple[np.ndarray, ...] | None = None,
) -> np.ndarray:
    """Per-event oriented angle (rad) of the major axis of the pT-weighted covariance of (x, y).

    Oriented towards the side with the larger pT-weighted signed square distance from the centre;
    NaN where the distribution is isotropic (e.g. a single constituent) or empty. ``total``: the
    per-event pT sums, ``moments``: :func:`_moments` of (x, y), if already known.
    """
    if moments is None:
        moments = _moments(block, x, y, pt, block.sum(pt) if total is None else total)
    _, _, var_x, var_y, cov_xy = moments
    angle = 0.5 * np.arctan2(2 * cov_xy, var_x - var_y)
    projection = x * block.broadcast(np.cos(angle))
    projection += y * block.broadcast(np.sin(angle))
    spread = np.abs(projection)
    spread *= projection
    spread *= pt
    signed_spread = block.sum(spread)
    angle = np.where(signed_spread < 0, angle + np.pi, angle)
    isotropic = ~(np.hypot(2 * cov_xy, var_x - var_y) > _DEGENERATE)
    return np.where(isotropic, np.nan, angle)


def _pixel_index(coordinate: np.ndarray, half_width: float, width: float) -> np.ndarray:
    """``floor((coordinate + half_width) / width)``, as int32, where that is 0 or more; -1 or less elsewhere.

    ``coordinate`` is used as scratch. The window's coordinates are shifted up by one pixel, so
    that truncation (a plain cast, much faster to int32 than to int64) is the floor there, and back
    down as integers; NaN and values beyond the int32 range become INT_MIN (then INT_MAX), which
    is outside any image.
    """
    coordinate *= 1.0 / width
    coordinate += half_width / width + 1.0
    with np.errstate(invalid="ignore"):
        index = coordinate.astype(np.int32)
    index -= 1
    return index


def _accumulate(
    out: np.ndarray,
    scratch: _Scratch,
    block: _Events,
    x: np.ndarray,
    y: np.ndarray,
    pt: np.ndarray,
    spec: ImageSpec,
    zeroed: bool = False,
) -> None:
    """Overwrite ``out`` (n, n_eta, n_phi) float32 with the pixelised, flipped and normalised images.

    ``x`` (eta), ``y`` (phi) and ``pt`` (GeV, >= 0): flat entries grouped by event as in ``block``;
    ``x`` and ``y`` are used as scratch and overwritten. Pixel i in eta is ``floor((x +
    half_width_eta) / width_eta)``, kept if 0 <= i < n_eta, likewise in phi; NaN is dropped. The pT
    of the kept entries, rounded to float32, is summed in float32, in entry order (one
    ``np.add.at``); the dropped entries are not removed (a boolean selection costs more than all
    the rest) but add zero to the nearest pixel of their event's image. The flip and the
    normalisation then read back, and rewrite, the touched pixels only, never the whole (mostly
    empty) image, and give the same values as :func:`flip_eta` and :func:`normalise` on the dense
    images. ``zeroed``: ``out`` is all zero already and is not cleared first.
    """
    n_pixels = spec.n_eta * spec.n_phi
    row = _pixel_index(x, spec.half_width_eta, spec.pixel_size[0])
    column = _pixel_index(y, spec.half_width_phi, spec.pixel_size[1])
    inside = row.view(np.uint32) < spec.n_eta
    inside &= column.view(np.uint32) < spec.n_phi
    np.clip(row, 0, spec.n_eta - 1, out=row)
    np.clip(column, 0, spec.n_phi - 1, out=column)
    weights = _selector(pt.astype(np.float32))(inside)
    in_image = row * spec.n_phi  # < n_pixels, int32
    in_image += column
    index = in_image.astype(np.intp)  # intp: numpy's fast path for take, put and add.at
    index += block.broadcast(np.arange(0, len(out) * n_pixels, n_pixels))
    pixels = out.reshape(-1)
    if not zeroed:
        pixels.fill(0.0)
    if not (spec.flip or spec.normalise != "none"):
        np.add.at(pixels, index, weights)
        return

    # the flip and normalisation read the sums back: from a cache-resident scratch
    sums = scratch.sums[: len(out) * n_pixels]
    np.add.at(sums, index, weights)
    values = np.take(sums, index)
    largest = block.max(values, initial=0.0) if spec.normalise == "max" else None
    swap = spec.flip and _harder_lower_half(sums.reshape(out.shape), block, row, weights, largest)
    sums[index] = 0.0
    if np.any(swap):
        to_mirror_row = (spec.n_eta - 1 - 2 * np.arange(spec.n_eta)) * spec.n_phi  # row i -> n - 1 - i
        shift = np.take(to_mirror_row, row)
        shift *= block.broadcast(swap.astype(np.intp))  # integer product: faster than a masked add
        index += shift
    if spec.normalise == "log":
        np.log1p(values, out=values)
    elif spec.normalise in ("max", "l1"):
        if spec.normalise == "max":
            scale = largest
        else:
            # each pixel once: at the entry that wrote last to its slot (any one of them will do)
            entry = np.arange(len(index), dtype=np.int32)  # < 2**31 entries per block
            marks = scratch.marks
            marks[index] = entry
            last = np.take(marks, index) == entry
            scale = block.sum(_selector(values.astype(np.float64))(last)).astype(np.float32)
        if np.all(scale[block.filled] > 0):  # the usual case: no image to leave all zero
            values /= block.broadcast(scale)
        else:
            scale = block.broadcast(scale)
            values = np.divide(values, scale, out=np.zeros_like(values), where=scale > 0)
    pixels[index] = values


def _harder_lower_half(
    images: np.ndarray, block: _Events, row: np.ndarray, weights: np.ndarray, largest: np.ndarray | None = None
) -> np.ndarray:
    """Whether each image's lower eta half has the larger pT sum, as decided by :func:`flip_eta`; (n,) bool.

    ``images`` (n, n_eta, n_phi): the float32 pixel sums of ``weights`` (float32 pT >= 0, flat,
    grouped by event as in ``block``, in eta rows ``row``); ``largest``: each image's largest
    pixel, if known. The difference of the halves' sums of weights, in float64, differs from that
    of their float32 pixel sums by less than 2**-24 per float32 addition times the pixel sum, at
    most count**2 2**-24 times the largest pixel for count entries (the float64 roundings are far
    smaller); only where the difference is within four times that bound, or NaN, are the pixels
    summed, as :func:`flip_eta` does.
    """
    n_eta = images.shape[1]
    half = n_eta // 2
    side = np.zeros(n_eta, dtype=np.float32)  # +1 in the lower half, -1 in the upper one
    side[:half], side[n_eta - half :] = 1.0, -1.0
    signed = np.take(side, row)
    signed *= weights
    difference = block.sum(signed)
    if largest is None:
        largest = block.max(weights, initial=0.0)
    close = ~(np.abs(difference) > np.square(block.counts, dtype=np.float64) * 2.0**-22 * largest)
    swap = difference > 0
    if close.any():
        lower = images[close, :half].sum(axis=(1, 2), dtype=np.float64)
        swap[close] = lower > images[close, n_eta - half :].sum(axis=(1, 2), dtype=np.float64)
    return swap


def _selector(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function of a boolean mask giving ``np.where(mask, values, 0.0)`` (float ``values``).

    For finite values that is ``values * mask``, five times faster than ``np.where`` with an
    irregular mask; it differs only in the sign of zeros, which leaves every sum of them the same
    except an all-zero one, whose comparisons and positivity are the same too. NaN or infinite
    values (where the product would be NaN) go through ``np.where``.
    """
    if np.isfinite(values).all():
        return lambda mask: values * mask
    return lambda mask: np.where(mask, values, 0.0)


def _flip_in_place(images: np.ndarray) -> None:
    """Reflect in eta, in place, the images (n, n_eta, n_phi) whose negative-eta half has more pT."""
    half = images.shape[1] // 2
    lower = images[:, :half].sum(axis=(1, 2), dtype=np.float64)
    upper = images[:, images.shape[1] - half :].sum(axis=(1, 2), dtype=np.float64)
    swap = lower > upper
    if swap.any():
        images[swap] = images[swap, ::-1]


def _normalise_in_place(images: np.ndarray, method: Normalisation) -> None:
    """Normalise float32 ``images`` (n, n_eta, n_phi) in place; see :func:`normalise`."""
    if method == "none":
        return
    if method == "log":
        np.log1p(images, out=images)
        return
    if method == "max":
        scale = images.max(axis=(1, 2), keepdims=True, initial=0.0)
    elif method == "l1":
        scale = images.sum(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)
    else:
        raise ValueError(f"unknown normalisation '{method}' (expected one of {', '.join(NORMALISATIONS)})")
    positive = scale > 0
    np.divide(images, scale, out=images, where=positive)
    images[~positive[:, 0, 0]] = 0.0


def _write_npy_header(file: BinaryIO, shape: tuple[int, ...]) -> int:
    """Write a float32 C-order ``.npy`` header for ``shape`` at the file position; returns its size in bytes.

    numpy pads the header so that the first axis can grow to 21 digits without changing its size.
    """
    start = file.tell()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(file, header)
    return file.tell() - start
