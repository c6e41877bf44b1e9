"""Preselection and physical event weights for one process.

Each event gets the weight w = sigma * L * w_gen / sum(w_gen), with sigma in pb, L in fb^-1
(x 1000 for pb^-1) and the sum over every generated event of the process (all chunks), so the
weights of a process sum to sigma * L before any cut. Signed generator weights are kept.

A process with theory variations (:mod:`phenoflow.variations`) has per event, beside its nominal
generator weight, each variation's (the ntuples' ``Weight`` collection, read as the fields
``weight:<name>``). Each gets the nominal's factor, w_var * sigma * L / sum(w) with the nominal
sum, in a field ``weight_phys:<name>``: a variation's physical weights over all generated events
sum to its own cross section (the process summary's ``variation_sigma_pb``) times L.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import awkward as ak
import numpy as np
import pandas as pd

from phenoflow.defaults import default
from phenoflow.detector.ntuple import VARIATION_FIELD_PREFIX, iterate_events
from phenoflow.events.observables import Substructure
from phenoflow.events.selection import parse
from phenoflow.parquet import write_awkward
from phenoflow.variations import SKIM_WEIGHT_PREFIX

PB_INV_PER_FB_INV = 1000.0
#: Kept events per row group of a skim file, the most the skim holds at a time (about 3.5 kB each
#: with EFlow constituents). The default sample's largest process keeps fewer (7 426 Z+jets
#: events), so its file is one row group, byte for byte what ``ak.to_parquet`` writes of them all.
ROW_GROUP_EVENTS = 2**13


class EmptySelectionError(ValueError):
    """A cut left no events of a process."""


def physical_weights(
    gen_weights: np.ndarray, sigma_pb: float, sum_gen_weights: float, luminosity_fb: float
) -> np.ndarray:
    """Expected events per MC event at luminosity L (fb^-1): sigma[pb] * 1000 * L * w / sum(w)."""
    return np.asarray(gen_weights, dtype=np.float64) * (sigma_pb * PB_INV_PER_FB_INV * luminosity_fb / sum_gen_weights)


@dataclass(frozen=True)
class WeightNorm:
    """What turns a process's generator weights into expected events: its cross section
    ``sigma_pb`` (pb), the sum ``sum_gen_weights`` of the (nominal) generator weights of all its
    generated events, and the integrated luminosity ``luminosity_fb`` (fb^-1); ``variations``:
    the names of its theory variations, in the order of its ntuples' ``Weight`` collection (the
    process summary's ``variations``), whose weights are normalised alike."""

    sigma_pb: float
    sum_gen_weights: float
    luminosity_fb: float
    variations: tuple[str, ...] = ()

    def weights(self, gen_weights: np.ndarray) -> np.ndarray:
        """:func:`physical_weights` of ``gen_weights`` (n,): float64 expected events per MC event, (n,)."""
        return physical_weights(gen_weights, self.sigma_pb, self.sum_gen_weights, self.luminosity_fb)


def _kept_events(events: ak.Array, keep: np.ndarray) -> ak.Array:
    """``ak.to_packed(events[keep])`` for a boolean mask ``keep`` of shape (len(events),): the kept
    events in buffers of their own, with the same layout, parameters and behaviours.

    Records, list offsets and numpy arrays (the layout of the events read from ntuples) are packed
    by numpy, node by node, without awkward's per-node overhead; any other node goes through awkward.
    """
    layout = _kept_layout(events.layout, np.asarray(keep, dtype=bool))
    return ak.Array(layout, behavior=events.behavior, attrs=events.attrs)


def _kept_layout(layout: ak.contents.Content, keep: np.ndarray) -> ak.contents.Content:
    """The entries of ``layout`` where ``keep`` (bool, one per entry), packed."""
    if isinstance(layout, ak.contents.NumpyArray):
        return ak.contents.NumpyArray(layout.data[keep], parameters=layout.parameters)
    if isinstance(layout, ak.contents.RecordArray):
        contents = [_kept_layout(content[: layout.length], keep) for content in layout.contents]
        fields = None if layout.is_tuple else layout.fields
        return ak.contents.RecordArray(contents, fields, length=int(keep.sum()), parameters=layout.parameters)
    if isinstance(layout, ak.contents.ListOffsetArray):
        offsets = np.asarray(layout.offsets.data, dtype=np.int64)
        counts = np.diff(offsets)
        kept_offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
        np.cumsum(counts[keep], out=kept_offsets[1:])
        content = layout.content[offsets[0] : offsets[-1]]  # the entries the lists use, in order
        return ak.contents.ListOffsetArray(
            ak.index.Index64(kept_offsets), _kept_layout(content, np.repeat(keep, counts)), parameters=layout.parameters
        )
    return ak.to_packed(ak.Array(layout)[keep]).layout


class _Selection:
    """The parsed cuts of a skim and the cutflow counts of the events that went through them."""

    def __init__(self, cuts: Sequence[str], settings: Substructure) -> None:
        self.cuts = list(cuts)
        self.parsed = [parse(c, where=f"selection.cuts[{i}]") for i, c in enumerate(cuts)]
        self.settings = settings
        self.raw = np.zeros(len(self.parsed) + 1, dtype=np.int64)
        self.yields = np.zeros(len(self.parsed) + 1)
        self.sumw2 = np.zeros(len(self.parsed) + 1)

    def keep(self, events: ak.Array, w: np.ndarray) -> np.ndarray:
        """The mask (n_events,) of the events passing every cut, counted step by step; ``w``: their weights."""
        keep = np.ones(len(events), dtype=bool)
        for step in range(len(self.parsed) + 1):
            if step:
                keep &= self.parsed[step - 1].mask(events, self.settings)
            self.raw[step] += keep.sum()
            self.yields[step] += w[keep].sum()
            self.sumw2[step] += (w[keep] ** 2).sum()
        return keep

    def cutflow(self, process: str, allow_empty: bool) -> pd.DataFrame:
        """The cutflow of the events counted so far; a step that kept none is an EmptySelectionError
        unless ``allow_empty``."""
        cutflow = pd.DataFrame(
            {
                "process": process,
                "step": ["all events", *self.cuts],
                "events": self.raw,
                "yield": self.yields,
                "yield_error": np.sqrt(self.sumw2),
            }
        )
        cutflow["efficiency"] = cutflow["events"] / max(self.raw[0], 1)
        empty = np.flatnonzero(self.raw == 0)
        if len(empty) and not allow_empty:
            step = int(empty[0])
            where = "no input events" if step == 0 else f"cut selection.cuts[{step - 1}] '{self.cuts[step - 1]}'"
            raise EmptySelectionError(
                f"process '{process}': {where} leaves zero events; loosen it, generate more events, "
                "or set selection.allow_empty: true"
            )
        return cutflow


def _kept_chunks(
    paths: Sequence[str | os.PathLike],
    selection: _Selection,
    norm: WeightNorm,
    constituents: bool,
) -> Iterator[ak.Array]:
    """The kept events of each chunk the files are read in, with ``weight_phys`` (and
    ``weight_phys:<name>`` per variation of ``norm``), counted by ``selection``."""
    for events in iterate_events(paths, constituents=constituents, variations=norm.variations):
        w = norm.weights(ak.to_numpy(events.weight))
        events = ak.with_field(events, w, "weight_phys")
        for name in norm.variations:
            varied = norm.weights(ak.to_numpy(events[VARIATION_FIELD_PREFIX + name]))
            events = ak.with_field(events, varied, SKIM_WEIGHT_PREFIX + name)
        kept = _kept_events(events, selection.keep(events, w))  # in buffers of their own
        del events  # the whole chunk, before the next one is read
        yield kept


def skim(
    paths: Sequence[str | os.PathLike],
    cuts: Sequence[str],
    norm: WeightNorm,
    process: str,
    allow_empty: bool = default("selection.allow_empty"),
    constituents: bool = False,
    settings: Substructure = Substructure(),
    write_to: str | os.PathLike | None = None,
    row_group_events: int = ROW_GROUP_EVENTS,
) -> tuple[ak.Array | None, pd.DataFrame]:
    """Apply ``cuts`` in order to the process's chunk files; return kept events and the cutflow.

    The events gain a field ``weight_phys``: expected events at the luminosity of ``norm``, whose
    cross section and sum of generator weights are the process's (see :func:`physical_weights`),
    and per variation of ``norm`` its generator weights ``weight:<name>`` and their physical
    weights ``weight_phys:<name>`` (normalised as the nominal; a chunk whose ``Weight``
    collection holds other variations is a ValueError naming it). The cutflow (nominal weights)
    has one row per step (``all events`` first) with raw counts, weighted yields and their MC
    errors sqrt(sum w^2). Files are read in bounded chunks. With ``constituents`` the events keep
    their EFlow objects (for substructure and images); ``settings`` are used by substructure cuts.

    Every kept event is held, unless ``write_to`` names a Parquet file: then the kept events are
    written to it as they come, ``row_group_events`` per row group, and None is returned in their
    place, so that memory is bounded by one chunk of input and one row group whatever the number
    of files. The file holds what ``ak.to_parquet`` writes of all kept events, the same bytes if
    it is one row group. An empty selection raises after the file is written: write to a
    temporary path.
    """
    selection = _Selection(cuts, settings)
    kept = _kept_chunks(paths, selection, norm, constituents)
    if write_to is None:
        events = list(kept)
        cutflow = selection.cutflow(process, allow_empty)
        return ak.concatenate(events) if events else ak.Array([]), cutflow
    read = []  # True once every file is read: a ValueError after that is the writer's

    def pieces() -> Iterator[ak.Array]:
        yield from kept
        read.append(True)

    try:
        write_awkward(write_to, pieces(), row_group_events)
    except ValueError:
        if read:
            selection.cutflow(process, allow_empty)  # no input events at all: say so, unless allowed
        raise
    return None, selection.cutflow(process, allow_empty)
