"""Preselection and physical event weights for one process.

Each event gets the weight w = sigma * L * w_gen / sum(w_gen), with sigma in pb, L in fb^-1
(x 1000 for pb^-1) and the sum over every generated event of the process (all chunks), so the
weights of a process sum to sigma * L before any cut. Signed generator weights are kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import awkward as ak
import numpy as np
import pandas as pd

from phenoflow.detector.ntuple import iterate_events
from phenoflow.events.observables import Substructure
from phenoflow.events.selection import parse

PB_INV_PER_FB_INV = 1000.0


class EmptySelectionError(ValueError):
    """A cut left no events of a process."""


def physical_weights(
    gen_weights: np.ndarray, sigma_pb: float, sum_gen_weights: float, luminosity_fb: float
) -> np.ndarray:
    """Expected events per MC event at luminosity L (fb^-1): sigma[pb] * 1000 * L * w / sum(w)."""
    return np.asarray(gen_weights, dtype=np.float64) * (sigma_pb * PB_INV_PER_FB_INV * luminosity_fb / sum_gen_weights)


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


def skim(
    paths: Sequence[str | os.PathLike],
    cuts: Sequence[str],
    sigma_pb: float,
    sum_gen_weights: float,
    luminosity_fb: float,
    process: str,
    allow_empty: bool = False,
    constituents: bool = False,
    settings: Substructure = Substructure(),
) -> tuple[ak.Array, pd.DataFrame]:
    """Apply ``cuts`` in order to the process's chunk files; return kept events and the cutflow.

    The events gain a field ``weight_phys`` (expected events at ``luminosity_fb``). The cutflow
    has one row per step (``all events`` first) with raw counts, weighted yields and their MC
    errors sqrt(sum w^2). Files are read in bounded chunks. With ``constituents`` the events keep
    their EFlow objects (for substructure and images); ``settings`` are used by substructure cuts.
    """
    parsed = [parse(c, where=f"selection.cuts[{i}]") for i, c in enumerate(cuts)]
    raw = np.zeros(len(parsed) + 1, dtype=np.int64)
    yields = np.zeros(len(parsed) + 1)
    sumw2 = np.zeros(len(parsed) + 1)
    kept = []
    for events in iterate_events(paths, constituents=constituents):
        w = physical_weights(ak.to_numpy(events.weight), sigma_pb, sum_gen_weights, luminosity_fb)
        events = ak.with_field(events, w, "weight_phys")
        keep = np.ones(len(events), dtype=bool)
        for step in range(len(parsed) + 1):
            if step:
                keep &= parsed[step - 1].mask(events, settings)
            raw[step] += keep.sum()
            yields[step] += w[keep].sum()
            sumw2[step] += (w[keep] ** 2).sum()
        kept.append(_kept_events(events, keep))  # drop the references to the whole chunk
    cutflow = pd.DataFrame(
        {
            "process": process,
            "step": ["all events", *cuts],
            "events": raw,
            "yield": yields,
            "yield_error": np.sqrt(sumw2),
        }
    )
    cutflow["efficiency"] = cutflow["events"] / max(raw[0], 1)
    empty = np.flatnonzero(raw == 0)
    if len(empty) and not allow_empty:
        step = int(empty[0])
        where = "no input events" if step == 0 else f"cut selection.cuts[{step - 1}] '{cuts[step - 1]}'"
        raise EmptySelectionError(
            f"process '{process}': {where} leaves zero events; loosen it, generate more events, "
            "or set selection.allow_empty: true"
        )
    return ak.concatenate(kept) if kept else ak.Array([]), cutflow
