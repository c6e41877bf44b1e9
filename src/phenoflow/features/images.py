"""Jet images: the pT of a jet's constituents summed on a fixed (eta, phi) pixel grid.

The image of each event is built in the jet's own frame, in this order:

1. coordinates relative to the jet axis, ``delta_eta`` and ``delta_phi`` (wrapped to [-pi, pi));
2. centring on the axis, the pT-weighted centroid of the constituents or the leading kT subjet;
3. optional rotation of the continuous coordinates so that the second kT subjet (else the principal
   axis of the pT distribution), or always the principal axis, points straight down (negative phi);
4. pixelisation: pT summed per pixel on the window [-half_width, half_width) of each axis;
   constituents outside the window are dropped;
5. optional reflection in eta so that the half with the larger pT sum lies at positive eta;
6. normalisation: none, by the maximum pixel, log(1 + x), or by the total (L1).

Everything is vectorised over events, without a Python loop over jets or constituents: the jagged
constituents are flattened once into numpy arrays, and blocks of 1024 events go through all the
steps together, so that a block's per-constituent temporaries stay in the CPU cache. Per-event
quantities are ``np.add.reduceat`` sums over each event's contiguous constituents, broadcast back
with ``np.repeat``; a block's pixels are accumulated in float32 with one ``np.add.at`` over the flat
(event, pixel) index, and the flip and the normalisation then work on the touched pixels only (a
33 × 33 image has ~20 times more pixels than a jet has constituents). Subjets come from one
multi-event fastjet call per 4096 events. The blocks bound memory and keep data in cache; they do
not change the result, which is deterministic (the same input gives the same bytes).

Precision: centroids, covariances and rotations are computed in float64; the pixel sums in float32
(the images' type), so a pixel differs from its float64 sum by float32 rounding (~1e-7 of the
image's pT sum); without centring on anything but the axis and without rotation, the relative
coordinates are float32 too (~2e-7 rad), which can move a constituent within ~1e-6 rad of a pixel
edge to the neighbouring pixel.

:func:`write_jet_images` streams chunks of events (e.g. the row groups of a file) into a ``.npy``
file, with memory bounded by one chunk whatever the number of events; :class:`ImageAverages`
averages the images per class as they are written.

Images are float32 arrays of shape (n_events, n_eta, n_phi): axis 1 is eta and axis 2 is phi, both
increasing with the index. Momenta in GeV, angles in radians.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO, Literal

import awkward as ak
import fastjet
import numpy as np
import vector

from phenoflow.kinematics import wrap_phi, wrap_phi_in_place

vector.register_awkward()

Centre = Literal["axis", "centroid", "leading_subjet"]
RotateTo = Literal["second_subjet", "principal_axis"]
Normalisation = Literal["none", "max", "log", "l1"]
CENTRES: tuple[str, ...] = ("axis", "centroid", "leading_subjet")
ROTATE_TO: tuple[str, ...] = ("second_subjet", "principal_axis")
NORMALISATIONS: tuple[str, ...] = ("none", "max", "log", "l1")

#: Below this (rad or rad^2) a direction is undefined and the image is left unrotated.
_DEGENERATE = 1e-12
#: Events per block: the block's per-constituent float64 temporaries (~400 kB each at 50
#: constituents per event) stay in cache; the float32 pixel scratch is 4.5 MB (33 x 33 pixels).
#: Measured optimum (centroid, principal axis, flip, max: 1024 ~8% faster than 512, 2048 no faster);
#: smaller blocks pay numpy's per-call overhead.
_BLOCK_EVENTS = 1024
#: Events per fastjet call; fastjet keeps the cluster sequence of every event of a call until it returns.
_CLUSTER_EVENTS = 4096
#: Skimmed events read and turned into images at a time by the images rule: their temporaries
#: take about 40 kB each (4 096 peak 80 MB higher), and the allocators' fragmentation over many
#: batches grows with them; 2 048 keeps 10x the default sample's peak within 7 % of the default's.
READ_EVENTS = 2**11
#: Mean constituents per event up to which fastjet's N2Plain strategy beats its automatic choice.
_N2PLAIN_MAX_MULTIPLICITY = 200


@dataclass(frozen=True)
class ImageSpec:
    """Pixel grid and preprocessing of a jet image.

    ``n_eta`` × ``n_phi`` pixels cover [-half_width_eta, half_width_eta) × [-half_width_phi,
    half_width_phi) (rad) around the centre. ``centre`` is ``"axis"``, ``"centroid"`` or
    ``"leading_subjet"``; ``rotate`` turns ``rotate_to`` to negative phi: the ``"second_subjet"``
    (else the principal axis, where there is no second subjet) or always the ``"principal_axis"``,
    which needs no reclustering; ``flip`` puts the harder eta half at positive eta; ``normalise`` is
    ``"none"``, ``"max"``, ``"log"`` (log(1 + x)) or ``"l1"``. Subjets are kT subjets of radius
    ``subjet_radius``.
    """

    n_eta: int = 33
    n_phi: int = 33
    half_width_eta: float = 1.6
    half_width_phi: float = 1.6
    centre: Centre = "axis"
    rotate: bool = False
    rotate_to: RotateTo = "second_subjet"
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
        if self.rotate_to not in ROTATE_TO:
            raise ValueError(f"unknown rotate_to '{self.rotate_to}' (expected one of {', '.join(ROTATE_TO)})")
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

    @property
    def uses_subjets(self) -> bool:
        """Whether the preprocessing needs kT subjets (a fastjet reclustering of every jet)."""
        return self.centre == "leading_subjet" or (self.rotate and self.rotate_to == "second_subjet")


def kt_subjet_definition(radius: float = 0.3, multiplicity: float = 50.0) -> fastjet.JetDefinition:
    """The fastjet definition of inclusive kT subjets of radius ``radius`` (rad).

    ``multiplicity``: the mean number of constituents per jet, which picks the clustering strategy.
    Up to 200 it is N2Plain (~20% faster than fastjet's automatic choice at 50 to 100 constituents),
    requested through the generalised kT algorithm with p = 1, which is the kT algorithm (same
    distances, bit for bit; the SWIG constructor of ``kt_algorithm`` cannot take a strategy).
    """
    if multiplicity <= _N2PLAIN_MAX_MULTIPLICITY:
        return fastjet.JetDefinition(fastjet.genkt_algorithm, float(radius), 1.0, fastjet.E_scheme, fastjet.N2Plain)
    return fastjet.JetDefinition(fastjet.kt_algorithm, float(radius))


def kt_subjets(constituents: ak.Array, radius: float = 0.3, n: int = 2) -> ak.Array:
    """The ``n`` hardest kT subjets of each event, by decreasing pT; events × (≤ n) Momentum4D (GeV).

    ``constituents``: events × var records with pt (GeV), eta and phi (rad), taken as massless.
    The constituents are reclustered with the inclusive kT algorithm of radius ``radius`` in one
    multi-event fastjet call; an event without constituents has no subjets.
    """
    jet_offsets, px, py, pz, energy = _cluster_kt(_flatten(constituents), radius)
    table = _hardest(jet_offsets, np.hypot(px, py), n)
    index = table[table >= 0]  # row by row: event by event, hardest first
    fields = {"px": px[index], "py": py[index], "pz": pz[index], "E": energy[index]}
    return ak.unflatten(ak.zip(fields, with_name="Momentum4D"), (table >= 0).sum(axis=1))


def pixelise(deta: ak.Array, dphi: ak.Array, pt: ak.Array, spec: ImageSpec = ImageSpec()) -> np.ndarray:
    """Sum of pT (GeV) per pixel: float32 array (n_events, n_eta, n_phi), no preprocessing.

    ``deta``, ``dphi`` (rad, relative to the image centre, phi already wrapped) and ``pt`` (GeV) are
    events × var arrays of the same structure. Pixel (i, j) covers ``eta_edges[i] <= deta <
    eta_edges[i + 1]`` and likewise in phi; anything outside the window, or NaN, is dropped.
    """
    offsets = _offsets(pt)
    counts = offsets[1:] - offsets[:-1]
    x, y, weights = (_flat_values(values) for values in (deta, dphi, pt))
    images = np.zeros((len(counts), *spec.shape), dtype=np.float32)
    scratch = _Scratch(min(len(images), _BLOCK_EVENTS), spec)
    pixels_only = ImageSpec(spec.n_eta, spec.n_phi, spec.half_width_eta, spec.half_width_phi)
    for start, stop in _blocks(len(images), _BLOCK_EVENTS):
        first, last = offsets[start], offsets[stop]
        block = _Events(counts[start:stop])
        x_block, y_block, weights_block = x[first:last].copy(), y[first:last].copy(), weights[first:last]
        _accumulate(images[start:stop], scratch, block, x_block, y_block, weights_block, pixels_only, zeroed=True)
    return images


def flip_eta(images: np.ndarray) -> np.ndarray:
    """Reflect images in eta where the negative-eta half has the larger pT sum; same shape.

    ``images``: (n_events, n_eta, n_phi). The halves are the first and last ``n_eta // 2`` rows;
    the central row of an odd-sized image is on neither side. Ties are left as they are.
    """
    flipped = np.array(images)
    _flip_in_place(flipped)
    return flipped


def normalise(images: np.ndarray, method: Normalisation) -> np.ndarray:
    """Normalised float32 ``images`` (n_events, n_eta, n_phi); a new array unless ``method`` is ``"none"``.

    ``"none"``: unchanged; ``"max"``: divided by the largest pixel; ``"log"``: log(1 + x) of the
    pixel pT in GeV; ``"l1"``: divided by the sum of all pixels. All-zero images stay zero.
    """
    if method not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation '{method}' (expected one of {', '.join(NORMALISATIONS)})")
    images = np.asarray(images, dtype=np.float32)
    if method == "none":
        return images
    normalised = images.copy()
    _normalise_in_place(normalised, method)
    return normalised


def jet_images(
    constituents: ak.Array,
    axis_eta: np.ndarray | ak.Array,
    axis_phi: np.ndarray | ak.Array,
    spec: ImageSpec = ImageSpec(),
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Preprocessed jet images: float32 array (n_events, n_eta, n_phi) of pixel pT (GeV unless normalised).

    ``constituents``: events × var records with pt (GeV), eta and phi (rad) — the constituents of
    one jet per event. ``axis_eta``, ``axis_phi``: the jet axis, shape (n_events,); NaN (or None)
    marks an event without a jet, which gives an all-zero image, as does an event without
    constituents. ``out``: optional C-contiguous float32 array of that shape (e.g. a slice of a
    ``np.memmap``) to fill and return instead of a new array. See the module docstring and
    :class:`ImageSpec` for the preprocessing steps.
    """
    n_events = len(constituents)
    shape = (n_events, *spec.shape)
    zeroed = out is None
    if out is None:
        out = np.zeros(shape, dtype=np.float32)  # fresh zero pages: no pass needed to clear them
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}, got {out.dtype} {out.shape}")
    _images_into(out, _Scratch(min(n_events, _BLOCK_EVENTS), spec), constituents, axis_eta, axis_phi, spec, zeroed)
    return out


def write_jet_images(
    path: str | os.PathLike[str],
    chunks: Iterable[tuple[ak.Array, np.ndarray | ak.Array, np.ndarray | ak.Array]],
    spec: ImageSpec = ImageSpec(),
    batch_events: int = 4096,
    on_batch: Callable[[np.ndarray], None] | None = None,
) -> tuple[int, int, int]:
    """Write the jet images of a stream of event chunks to a ``.npy`` file; returns its shape.

    ``chunks`` yields ``(constituents, axis_eta, axis_phi)`` as taken by :func:`jet_images`, e.g.
    one per row group of the input. The images are built ``batch_events`` events at a time into
    one reused buffer and appended to the file, so memory stays bounded by one chunk of input and
    one batch of images (``batch_events`` × n_eta × n_phi × 4 bytes) whatever the number of events;
    the ``.npy`` header, written first with zero events, is rewritten in place at the end. The file
    holds float32 (n_events, n_eta, n_phi) in the order of the chunks, the same values as
    :func:`jet_images` on all events at once; read it with ``np.load(path, mmap_mode="r")``.
    ``on_batch`` is called with each batch of images (b, n_eta, n_phi), in order, once it is
    written (e.g. :meth:`ImageAverages.add`); the buffer is reused after the call returns.
    """
    if batch_events < 1:
        raise ValueError(f"batch_events must be positive, got {batch_events}")
    buffer = np.empty((batch_events, *spec.shape), dtype=np.float32)
    scratch = _Scratch(min(batch_events, _BLOCK_EVENTS), spec)
    n_events = 0
    with open(path, "wb") as file:
        header_size = _write_npy_header(file, (0, *spec.shape))
        for constituents, axis_eta, axis_phi in chunks:
            n_chunk = len(constituents)
            axis_eta, axis_phi = _per_event(axis_eta, n_chunk), _per_event(axis_phi, n_chunk)
            for start, stop in _blocks(n_chunk, batch_events):
                events, images = slice(start, stop), buffer[: stop - start]
                _images_into(images, scratch, constituents[events], axis_eta[events], axis_phi[events], spec, False)
                file.write(images.data)
                if on_batch is not None:
                    on_batch(images)
            n_events += n_chunk
        file.seek(0)
        if _write_npy_header(file, (n_events, *spec.shape)) != header_size:
            raise RuntimeError("the .npy header changed size when rewritten")  # numpy reserves room for this
    return (n_events, *spec.shape)


def _images_into(
    out: np.ndarray,
    scratch: _Scratch,
    constituents: ak.Array,
    axis_eta: np.ndarray | ak.Array,
    axis_phi: np.ndarray | ak.Array,
    spec: ImageSpec,
    zeroed: bool,
) -> None:
    """:func:`jet_images` into ``out`` (checked by the caller), with a reusable ``scratch``; ``zeroed``: out is 0."""
    n_events = len(constituents)
    axis_eta, axis_phi = _per_event(axis_eta, n_events), _in_phi_range(_per_event(axis_phi, n_events))
    flat = _flatten(constituents)
    for start, stop in _blocks(n_events, _CLUSTER_EVENTS):
        batch = flat.events(start, stop)
        subjet_eta = subjet_phi = np.full((stop - start, 2), np.nan)
        if spec.uses_subjets:
            subjet_eta, subjet_phi = _hardest_subjets(batch, spec.subjet_radius)
        for first, last in _blocks(stop - start, _BLOCK_EVENTS):
            events = slice(first, last)
            _fill(
                out[start + first : start + last],
                scratch,
                batch,
                events,
                axis_eta[start:stop][events],
                axis_phi[start:stop][events],
                subjet_eta[events],
                subjet_phi[events],
                spec,
                zeroed,
            )


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


class ImageAverages:
    """Weighted mean image of the rows of each label, accumulated batch by batch as the images
    are made (e.g. from the ``on_batch`` of :func:`write_jet_images`), holding one image per
    label whatever the number of rows. Equal to :func:`average_image` of each label's rows up to
    float64 rounding of the sums (their order changes with the batches)."""

    def __init__(self, labels: Mapping[str, int], shape: tuple[int, int]) -> None:
        """``labels``: the name of each average and the label value of its rows (e.g.
        ``{"signal": 1, "background": 0}``); ``shape``: (n_eta, n_phi) of an image."""
        self.labels = dict(labels)
        self.sums = {name: np.zeros(shape) for name in self.labels}
        self.totals = dict.fromkeys(self.labels, 0.0)

    def add(self, images: np.ndarray, label: np.ndarray, weight: np.ndarray) -> None:
        """Add the images (b, n_eta, n_phi) of b rows with their ``label`` (b,) and ``weight``
        (b,), e.g. event weights (may be negative)."""
        if not len(images) == len(label) == len(weight):
            raise ValueError(f"{len(images)} images, {len(label)} labels and {len(weight)} weights")
        weight = np.asarray(weight, dtype=np.float64)
        for name, value in self.labels.items():
            rows = label == value
            self.sums[name] += np.tensordot(weight[rows], images[rows], axes=(0, 0))
            self.totals[name] += weight[rows].sum()

    def averages(self) -> dict[str, np.ndarray]:
        """Per name, float64 (n_eta, n_phi): the sum of weight × image over the sum of weights."""
        for name, total in self.totals.items():
            if total == 0:
                raise ValueError(f"the weights of the '{name}' rows sum to zero")
        return {name: self.sums[name] / self.totals[name] for name in self.labels}


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


def _cluster_kt(flat: _Flat, radius: float) -> tuple[np.ndarray, ...]:
    """Inclusive kT jets of each event: offsets (n_events + 1,) and flat px, py, pz, E (GeV)."""
    n_events = len(flat.counts)
    if len(flat.pt) == 0:
        return (np.zeros(n_events + 1, dtype=np.int64), *(np.zeros(0) for _ in range(4)))
    pt, exp_eta = flat.pt, np.exp(flat.eta)  # one exp: np.sinh and np.cosh together take 3x longer
    half_pt_inverse = 0.5 * pt / exp_eta
    half_pt_exp = 0.5 * pt * exp_eta
    momenta = {
        "px": pt * np.cos(flat.phi),
        "py": pt * np.sin(flat.phi),
        "pz": half_pt_exp - half_pt_inverse,  # pt sinh(eta)
        "E": half_pt_exp + half_pt_inverse,  # pt cosh(eta): massless
    }
    layout = ak.contents.ListOffsetArray(
        ak.index.Index64(flat.offsets),
        ak.contents.RecordArray([ak.contents.NumpyArray(v) for v in momenta.values()], list(momenta)),
    )
    definition = kt_subjet_definition(radius, len(pt) / n_events)
    jets = fastjet.ClusterSequence(ak.Array(layout), definition).inclusive_jets()
    flat_jets = ak.flatten(jets, axis=1)
    return (_offsets(jets), *(np.asarray(ak.to_numpy(flat_jets[field]), dtype=np.float64) for field in momenta))


def _hardest(offsets: np.ndarray, pt: np.ndarray, n: int) -> np.ndarray:
    """Flat indices of the ``n`` largest ``pt`` of each event, hardest first: (n_events, n) int, -1 if absent.

    ``offsets`` (n_events + 1,) from 0 delimit the events in ``pt``. Equal pt keep their order.
    Each rank is one pass of per-event maxima (``np.maximum.reduceat``), not a sort.
    """
    counts = offsets[1:] - offsets[:-1]
    table = np.full((len(counts), n), -1, dtype=np.intp)
    filled = np.flatnonzero(counts)
    event = np.repeat(np.arange(len(counts)), counts)
    remaining = np.array(pt, dtype=np.float64)
    for rank in range(n):
        filled = filled[counts[filled] > rank]
        if len(filled) == 0:
            break
        maxima = np.full(len(counts), np.nan)  # NaN equals nothing: no candidates in the other events
        maxima[filled] = np.maximum.reduceat(remaining, offsets[filled])  # filled events are non-empty
        candidates = np.flatnonzero(remaining == maxima[event])
        is_first = np.ones(len(candidates), dtype=bool)  # of its event's candidates (ties)
        is_first[1:] = event[candidates[1:]] != event[candidates[:-1]]
        first = candidates[is_first]
        table[event[first], rank] = first
        remaining[first] = -np.inf
    return table


def _hardest_subjets(flat: _Flat, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Pseudorapidity and azimuth (rad) of the two hardest kT subjets: two (n_events, 2) arrays, NaN-padded."""
    jet_offsets, px, py, pz, _ = _cluster_kt(flat, radius)
    table = _hardest(jet_offsets, np.hypot(px, py), 2)
    present = table >= 0
    index = table[present]
    eta, phi = np.full(table.shape, np.nan), np.full(table.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta[present] = np.arcsinh(pz[index] / np.hypot(px[index], py[index]))
    phi[present] = np.arctan2(py[index], px[index])
    return eta, phi


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


def spec_from_config(cfg: dict) -> ImageSpec:
    """The :class:`ImageSpec` of the config's ``images`` block."""
    rotate = cfg.get("rotate", "none")
    return ImageSpec(
        n_eta=cfg["n_pixels"][0],
        n_phi=cfg["n_pixels"][1],
        half_width_eta=cfg["half_width"][0],
        half_width_phi=cfg["half_width"][1],
        centre=cfg.get("centre", "axis"),
        rotate=rotate != "none",
        rotate_to=rotate if rotate != "none" else "second_subjet",
        flip=cfg.get("flip", False),
        normalise=cfg.get("normalise", "none"),
        subjet_radius=cfg.get("subjet_radius", 0.3),
    )


def leading_fatjet_inputs(events: ak.Array, radius: float) -> tuple[ak.Array, np.ndarray, np.ndarray]:
    """``(constituents, axis_eta, axis_phi)`` of each event's leading fat jet, as taken by
    :func:`jet_images`: the EFlow objects within ``radius`` of its axis (events need ``eflow``;
    see :func:`phenoflow.events.observables.constituents`). Events without a fat jet get NaN axes."""
    from phenoflow.events.observables import constituents

    lead = ak.pad_none(events.fatjet, 1, axis=1)[:, 0]
    parts = constituents(events, lead, radius)
    eta = np.asarray(ak.to_numpy(ak.fill_none(lead.eta, np.nan)), dtype=np.float64)
    phi = np.asarray(ak.to_numpy(ak.fill_none(lead.phi, np.nan)), dtype=np.float64)
    return ak.zip({"pt": parts.pt, "eta": parts.eta, "phi": parts.phi}), eta, phi
