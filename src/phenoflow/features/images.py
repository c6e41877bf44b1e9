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

import awkward as ak
import fastjet
import numpy as np
import vector

from phenoflow.defaults import block_defaults
from phenoflow.features.image_kernels import (
    _accumulate,
    _blocks,
    _Events,
    _fill,
    _Flat,
    _flat_values,
    _flatten,
    _flip_in_place,
    _in_phi_range,
    _normalise_in_place,
    _offsets,
    _per_event,
    _Scratch,
    _write_npy_header,
)
from phenoflow.features.image_spec import (
    CENTRES,
    NORMALISATIONS,
    ROTATE_TO,
    Centre,
    ImageSpec,
    Normalisation,
    RotateTo,
)

vector.register_awkward()

__all__ = [
    "CENTRES",
    "NORMALISATIONS",
    "READ_EVENTS",
    "ROTATE_TO",
    "Centre",
    "ImageAverages",
    "ImageSpec",
    "Normalisation",
    "RotateTo",
    "average_image",
    "flip_eta",
    "jet_images",
    "kt_subjet_definition",
    "kt_subjets",
    "leading_fatjet_inputs",
    "normalise",
    "pixelise",
    "spec_from_config",
    "write_jet_images",
]

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


def spec_from_config(cfg: dict) -> ImageSpec:
    """The :class:`ImageSpec` of the config's ``images`` block; a key it does not set takes the
    config schema's default (:mod:`phenoflow.defaults`), as in the workflow."""
    cfg = {**block_defaults("images"), **cfg}
    rotate = cfg["rotate"]
    return ImageSpec(
        n_eta=cfg["n_pixels"][0],
        n_phi=cfg["n_pixels"][1],
        half_width_eta=cfg["half_width"][0],
        half_width_phi=cfg["half_width"][1],
        centre=cfg["centre"],
        rotate=rotate != "none",
        rotate_to=rotate if rotate != "none" else ImageSpec.rotate_to,
        flip=cfg["flip"],
        normalise=cfg["normalise"],
        subjet_radius=cfg["subjet_radius"],
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
