"""Generate one chunk of events with Pythia8 (``pythia8mc``) as columnar awkward arrays.

Units follow Pythia: momenta and masses in GeV. Cross sections are converted from Pythia's mb to pb.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import awkward as ak
import numpy as np

from phenoflow.arrays import isin

log = logging.getLogger("phenoflow.generation")

PB_PER_MB = 1.0e9

#: Settings phenoflow always sets; a process may not override them.
_RESERVED = ("Random:seed", "Random:setSeed", "Beams:eCM", "Main:numberOfEvents")

_QUIET = (
    "Print:quiet = on",
    "Next:numberCount = 0",
)


#: Pythia's biased 2 -> 2 selection, set by a process's ``bias`` key (:func:`bias_settings`).
_BIAS_PREFIX = "phasespace:bias2selection"


def bias_settings(bias: Mapping[str, float]) -> list[str]:
    """Pythia lines that bias 2 -> 2 hard processes towards high pT-hat.

    Phase-space points are selected with an extra factor (pTHat / reference_pt)^power (GeV) and
    each event carries the compensating weight (reference_pt / pTHat)^power as its generator
    weight (Pythia's ``info.weight()``); ``sigmaGen`` stays the unbiased cross section, so
    sigma * w / sum(w) is each event's share of it. ``bias``: ``{"power": float, "reference_pt": GeV}``.
    """
    return [
        "PhaseSpace:bias2Selection = on",
        f"PhaseSpace:bias2SelectionPow = {float(bias['power'])!r}",
        f"PhaseSpace:bias2SelectionRef = {float(bias['reference_pt'])!r}",
    ]


def hand_set_bias(process: Sequence[str]) -> list[int]:
    """Indices of the ``process`` lines that set ``PhaseSpace:bias2Selection*`` themselves
    (Pythia's setting names are case-insensitive)."""
    return [i for i, line in enumerate(process) if line.split("=")[0].strip().lower().startswith(_BIAS_PREFIX)]


@dataclass(frozen=True)
class DecayFilter:
    """Keep events whose hard-process resonances ``mother`` decay into the given channels.

    ``channels`` lists, per resonance, the set of allowed |PDG id| of its (two-body) decay
    products; the event passes when exactly one resonance decays into each channel, as in
    ZZ -> (qq)(vv): ``DecayFilter(23, ((1, 2, 3, 4, 5), (12, 14, 16)))``.
    """

    mother: int
    channels: tuple[tuple[int, ...], ...]

    def passes(self, prt: ak.Array) -> np.ndarray:
        """Boolean mask over events of a Pythia batch (``prt`` as returned by ``nextBatch``)."""
        hard = prt[abs(prt.status) == 23]
        products = hard[abs(prt.id[hard.mother1]) == self.mother]
        pdg = abs(products.id)
        keep = ak.num(products) == 2 * len(self.channels)
        required: dict[tuple[int, ...], int] = {}
        for channel in self.channels:
            key = tuple(sorted(channel))
            required[key] = required.get(key, 0) + 1
        for channel, count in required.items():
            keep = keep & (ak.sum(isin(pdg, channel), axis=1) == 2 * count)
        return ak.to_numpy(keep)


@dataclass
class GeneratedChunk:
    """Particles of one chunk (see :func:`final_state_records`) and the generator's bookkeeping.

    ``particles``: events × var records with fields pid, status, px, py, pz, e, mass (GeV).
    ``weights``: generator event weights, shape (n_events,). ``sigma_pb``/``sigma_err_pb``: the
    cross section of the accepted events (after any decay filter) in pb.
    """

    particles: ak.Array
    weights: np.ndarray
    sigma_pb: float
    sigma_err_pb: float
    n_tried: int
    n_accepted: int
    filter_efficiency: float = 1.0
    info: dict = field(default_factory=dict)


def final_state_records(prt: ak.Array) -> ak.Array:
    """The particles the detector simulation needs from a Pythia ``nextBatch`` record: the
    final state (status > 0) and the b and c quarks of the whole record (status < 0, for jet
    flavour), in the layout of :func:`generate`: fields pid, status, px, py, pz, e, mass (GeV).
    """
    heavy = (abs(prt.id) == 4) | (abs(prt.id) == 5)
    final = prt[(prt.status > 0) | ((prt.status < 0) & heavy)]
    return ak.zip(
        {
            "pid": final.id,
            "status": final.status,
            "px": final.p.px,
            "py": final.p.py,
            "pz": final.p.pz,
            "e": final.p.e,
            "mass": final.m,
        },
        with_name="Particle",
    )


def pythia_settings(process: Sequence[str], sqrt_s: float, seed: int) -> list[str]:
    """The full list of Pythia ``readString`` lines for one chunk.

    ``process`` are the user's process lines; beam energy (GeV) and seed are set here and may
    not appear in them.
    """
    for line in process:
        key = line.split("=")[0].strip()
        if key in _RESERVED:
            raise ValueError(f"Pythia setting '{key}' is set by phenoflow; remove it from the process")
    return [
        f"Beams:eCM = {sqrt_s}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        *_QUIET,
        *process,
    ]


def generate(
    settings: Sequence[str],
    n_events: int,
    decay_filter: DecayFilter | None = None,
    batch_size: int = 500,
) -> GeneratedChunk:
    """Run Pythia8 until ``n_events`` events (passing ``decay_filter``) are collected.

    Final-state particles and heavy-flavour quarks are kept (:func:`final_state_records`), with
    Pythia's event weights (not 1 with a biased selection, :func:`bias_settings`). The cross
    section is Pythia's ``sigmaGen`` times the filter efficiency, the kept fraction of the summed
    weights of the events generated up to the last one kept; its error adds Pythia's error and
    the efficiency's (binomial for unit weights) in quadrature. Progress (events done / total,
    rate) goes to the ``phenoflow`` log.
    """
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected the setting '{line}'")
    if not pythia.init():
        raise RuntimeError("Pythia initialisation failed; see the log for Pythia's messages")

    batches, weights = [], []
    n_done = n_generated = 0
    sum_w = sum_w_pass = sum_w2_pass = sum_w2_fail = 0.0  # generator weights before / after the filter
    start = time.perf_counter()
    while n_done < n_events:
        need = n_events - n_done
        ask = need
        if decay_filter is not None and n_generated:
            ask = math.ceil(1.1 * need * n_generated / max(n_done, 1))
        batch = pythia.nextBatch(min(ask, batch_size) if decay_filter is None else min(ask, 4 * batch_size))
        keep = np.ones(len(batch), dtype=bool) if decay_filter is None else decay_filter.passes(batch.prt)
        # the filter's tally stops at the last event kept: later ones were never offered to it
        passing = np.flatnonzero(keep)
        used = int(passing[need - 1]) + 1 if len(passing) >= need else len(batch)
        batch, keep = batch[:used], keep[:used]
        w = ak.to_numpy(batch.info.weights[:, 0])
        n_generated += used
        sum_w += math.fsum(w)
        sum_w_pass += math.fsum(w[keep])
        sum_w2_pass += math.fsum(w[keep] ** 2)
        sum_w2_fail += math.fsum(w[~keep] ** 2)
        batches.append(final_state_records(batch[keep].prt))
        weights.append(w[keep])
        n_done += int(keep.sum())
        rate = n_generated / (time.perf_counter() - start)
        kept = f" (kept by the decay filter out of {n_generated})" if decay_filter is not None else ""
        log.info("generated %d / %d events%s, %.1f events/s", n_done, n_events, kept, rate)

    info = pythia.infoPython()
    # the filter efficiency is the weighted fraction kept (the event count's with unit weights),
    # with the variance of a ratio of weighted sums
    eff = sum_w_pass / sum_w if sum_w else 1.0
    eff_err = math.sqrt((1 - eff) ** 2 * sum_w2_pass + eff**2 * sum_w2_fail) / abs(sum_w) if sum_w else 0.0
    sigma = info.sigmaGen() * PB_PER_MB
    rel_err = info.sigmaErr() / info.sigmaGen() if info.sigmaGen() > 0 else 0.0
    eff_rel_err = eff_err / eff if 0 < eff < 1 else 0.0
    return GeneratedChunk(
        particles=ak.concatenate(batches) if batches else ak.Array([]),
        weights=np.concatenate(weights) if weights else np.zeros(0),
        sigma_pb=sigma * eff,
        sigma_err_pb=sigma * eff * math.hypot(rel_err, eff_rel_err),
        n_tried=int(info.nTried()),
        n_accepted=n_done,
        filter_efficiency=eff,
        info={
            "n_generated": n_generated,
            "sum_weights_generated": sum_w,
            "sigma_gen_pb": sigma,
            "sigma_gen_err_pb": info.sigmaErr() * PB_PER_MB,
        },
    )
