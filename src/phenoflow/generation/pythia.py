"""Generate one chunk of events with Pythia8 (``pythia8mc``) as columnar awkward arrays.

Units follow Pythia: momenta and masses in GeV. Cross sections are converted from Pythia's mb to pb.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import awkward as ak
import numpy as np

from phenoflow.generation.decays import DecayFilter
from phenoflow.logs import redirect_native_output
from phenoflow.variations import Variation

if TYPE_CHECKING:
    pass

log = logging.getLogger("phenoflow.generation")

PB_PER_MB = 1.0e9

#: Settings a process may not set, by namespace (the part before the first ":") or full name,
#: lower case (Pythia's names are case-insensitive), with the reason the error gives.
RESERVED = {
    "beams": "phenoflow sets the beams from the config's 'collider' (an LHE process's from its "
    "file); change collider.sqrt_s_gev or collider.beams instead",
    "random": "phenoflow seeds every chunk from the config's 'seed' so that chunks are independent "
    "and the run is reproducible; change seed instead",
    "main:numberofevents": "the number of events is the process's 'events', split into chunks",
    **dict.fromkeys(
        ("uncertaintybands:dovariations", "uncertaintybands:list", "weights:prefix"),
        "phenoflow switches Pythia's shower variations on and reads their weights by name from the "
        "process's 'shower_variations'; give shower_variations instead",
    ),
}

#: What Pythia prints into a chunk's log: no banner (``Pythia("", False)``), no event listings
#: and no event counter (phenoflow logs its progress per batch); the initialisation (processes,
#: changed settings and particle data), every message the first time it occurs and the final
#: :func:`pythia_statistics` are kept.
PRINT_SETTINGS = (
    "Next:numberCount = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Next:numberShowEvent = 0",
    "Init:showMultipartonInteractions = off",
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


#: The shower variations a process may ask for (``shower_variations``), each the renormalisation
#: scale of Pythia's ISR or FSR emissions multiplied by these factors (the standard factor-2 set).
SHOWER_GROUPS = ("isr", "fsr")
SHOWER_FACTORS = (0.5, 2.0)


def shower_variations(groups: Sequence[str]) -> list[Variation]:
    """The variations of a process's ``shower_variations`` (``isr``, ``fsr``), in that order: per
    group its renormalisation-scale factors :data:`SHOWER_FACTORS`, named ``isr:murfac=0.5`` etc.,
    combined as an envelope; ``source`` is the label of the Pythia variation group whose weight
    is read (Pythia lower-cases labels)."""
    unknown = [g for g in groups if g not in SHOWER_GROUPS]
    if unknown:
        raise ValueError(f"unknown shower variations {unknown}; known: {', '.join(SHOWER_GROUPS)}")
    out = []
    for group in groups:
        for factor in SHOWER_FACTORS:
            name = f"{group}:murfac={factor:g}"
            out.append(Variation(name, group, "envelope", name.replace(":", "_").replace("=", "_")))
    return out


def shower_variation_settings(variations: Sequence[Variation]) -> list[str]:
    """Pythia lines that compute the shower ``variations`` of :func:`shower_variations` as event
    weights (``UncertaintyBands``, one variation group per variation, labelled by its ``source``);
    none for no variations."""
    if not variations:
        return []
    bands = []
    for v in variations:
        group, factor = v.name.split(":murfac=")
        bands.append(f"{v.source} {group}:muRfac={factor}")
    return ["UncertaintyBands:doVariations = on", f"UncertaintyBands:List = {{{', '.join(bands)}}}"]


def variation_columns(pythia, variations: Sequence[Variation], what: str) -> np.ndarray:
    """Indices of the shower ``variations``' weights in Pythia's weight vector (``info.weights`` of
    a batch; index 0 is the nominal weight), found by their labels (``source``) once an event has
    been generated (an LHE file's own weights come first and are known only then). RuntimeError
    naming ``what`` if Pythia has no weight of that name or has it twice."""
    info = pythia.infoPython()
    names = [info.weightNameByIndex(i) for i in range(info.numberOfWeights())]
    columns = []
    for v in variations:
        found = [i for i, name in enumerate(names) if name == v.source.lower()]
        if len(found) != 1:
            raise RuntimeError(
                f"{what}: Pythia has {len(found)} weights named '{v.source.lower()}' for the shower "
                f"variation {v.name}, not one (its weights: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''})"
            )
        columns.append(found[0])
    return np.asarray(columns, dtype=np.int64)


def relative_variation_weights(batch_weights: ak.Array, columns: np.ndarray) -> np.ndarray:
    """The shower variations' weights relative to the nominal one, shape (n_events, n_variations),
    from a batch's ``info.weights`` (each event's Pythia weight vector, nominal first). Pythia's
    variation weights include the nominal weight (a biased selection's, an LHE file's in pb), so
    the ratio is the shower's own factor; an event of nominal weight 0 keeps factor 1."""
    if len(columns) == 0:
        return np.zeros((len(batch_weights), 0))
    weights = ak.to_numpy(batch_weights[:, : int(columns.max()) + 1])
    nominal = weights[:, :1]
    return np.divide(weights[:, columns], nominal, out=np.ones((len(weights), len(columns))), where=nominal != 0)


def check_variation_weights(weights: np.ndarray, variations: Sequence[Variation], what: str) -> None:
    """ValueError naming ``what`` and the variation if a variation's weights (columns of
    ``weights``, shape (n_events, n_variations)) are all zero or any is not finite."""
    for v, column in zip(variations, np.asarray(weights).T):
        bad = np.flatnonzero(~np.isfinite(column))
        if len(bad):
            raise ValueError(
                f"{what}: variation {v.name} (group {v.group}, {v.source}) has non-finite weights, first at event {bad[0]}"
            )
        if len(column) and not np.any(column):
            raise ValueError(f"{what}: variation {v.name} (group {v.group}, {v.source}) has only zero weights")


@dataclass
class GeneratedChunk:
    """Particles of one chunk (see :func:`final_state_records`) and the generator's bookkeeping.

    ``particles``: events × var records with fields pid, status, px, py, pz, e, mass (GeV).
    ``weights``: generator event weights, shape (n_events,). ``sigma_pb``/``sigma_err_pb``: the
    cross section of the accepted events (after any decay filter) in pb. ``variations``: the
    theory variations of the event weights the chunk carries, ``variation_weights`` their weights
    per event, shape (n_events, n_variations), in the units of ``weights`` (a variation's sum over
    all generated events relates to the nominal sum as its cross section to ``sigma_pb``).
    """

    particles: ak.Array
    weights: np.ndarray
    sigma_pb: float
    sigma_err_pb: float
    n_tried: int
    n_accepted: int
    filter_efficiency: float = 1.0
    info: dict = field(default_factory=dict)
    variations: list[Variation] = field(default_factory=list)
    variation_weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.variation_weights is None:
            self.variation_weights = np.zeros((len(self.weights), len(self.variations)))
        if self.variation_weights.shape != (len(self.weights), len(self.variations)):
            raise ValueError(
                f"variation weights of shape {self.variation_weights.shape} for {len(self.weights)} events "
                f"and {len(self.variations)} variations"
            )


def final_state_records(prt: ak.Array) -> ak.Array:
    """The particles the detector simulation needs from a Pythia ``nextBatch`` record: the
    final state (status > 0) and the b and c quarks of the whole record (status < 0, for jet
    flavour), in the layout of :func:`generate`: fields pid, status, px, py, pz, e, mass (GeV).
    Packed: the result holds no reference to the full record's buffers, which can then be freed.
    """
    heavy = (abs(prt.id) == 4) | (abs(prt.id) == 5)
    final = prt[(prt.status > 0) | ((prt.status < 0) & heavy)]
    records = ak.zip(
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
    return ak.to_packed(records)


def pythia_settings(
    process: Sequence[str], sqrt_s: float, seed: int, beams: tuple[int, int] = (2212, 2212)
) -> list[str]:
    """The full list of Pythia ``readString`` lines for one chunk.

    ``process`` are the user's process lines; beams (PDG ids, centre-of-mass energy in GeV) and
    seed are set here and may not appear in them (:data:`RESERVED`).
    """
    for line in process:
        why = reserved_reason(line)
        if why:
            raise ValueError(f"Pythia setting '{line}' is reserved: {why}")
    return [
        f"Beams:idA = {beams[0]}",
        f"Beams:idB = {beams[1]}",
        f"Beams:eCM = {sqrt_s}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        *PRINT_SETTINGS,
        *process,
    ]


def reserved_reason(line: str) -> str | None:
    """Why a process may not give the Pythia setting ``line`` ("Key:name = value"), or None."""
    name = line.split("=")[0].strip().lower()
    return RESERVED.get(name) or RESERVED.get(name.split(":")[0])


class SettingsCheck:
    """Reads Pythia settings into one Pythia object (no banner, never initialised) to find the
    lines Pythia does not know or cannot read, at config time. Construct it once per check."""

    def __init__(self) -> None:
        import pythia8mc

        self._pythia = pythia8mc.Pythia("", False)
        self.version = f"{self._pythia.settings.parm('Pythia:versionNumber'):.3f}"

    def _known_namespace(self, name: str) -> bool:
        space = name.split(":")[0]
        if space.isdigit():
            return True  # particle data: Pythia says whether it knows the particle
        settings = self._pythia.settings
        maps = (settings.getFlagMap, settings.getModeMap, settings.getParmMap, settings.getWordMap)
        return any(get(space + ":") for get in maps)

    def problem(self, line: str, *, pythia_namespaces_only: bool = False) -> str | None:
        """What is wrong with one ``readString`` line, or None. With ``pythia_namespaces_only``
        (lines read by another program's Pythia interface, e.g. MadGraph's, which adds settings
        of its own) a line whose namespace Pythia does not have at all is accepted."""
        why = reserved_reason(line)
        if why:
            return f"'{line}' is reserved: {why}"
        if self._pythia.readString(line, False):
            return None
        name = line.split("=")[0].strip()
        if pythia_namespaces_only and not self._known_namespace(name):
            return None
        settings = self._pythia.settings
        if any(test(name) for test in (settings.isFlag, settings.isMode, settings.isParm, settings.isWord)):
            return f"'{line}': Pythia {self.version} cannot read this value of {name}"
        return f"'{line}': Pythia {self.version} has no setting or particle property '{name}'"

    def errors(self, key: str, lines: Sequence[str], *, pythia_namespaces_only: bool = False) -> list[str]:
        """``key[i]: problem`` for every line of the list at config key ``key``."""
        found = ((i, self.problem(line, pythia_namespaces_only=pythia_namespaces_only)) for i, line in enumerate(lines))
        return [f"{key}[{i}]: {problem}" for i, problem in found if problem]


_MESSAGE_ROW = re.compile(r"^ \|\s+(\d+)\s+((?:Abort|Error|Warning|Info|Report)\b.*?)\s*\|\s*$")


def pythia_statistics(pythia) -> tuple[str, dict]:
    """Call ``pythia.stat()`` and return its printed tables and the message counts from them:
    ``{"pythia_messages": {message: times}, "pythia_errors_total": n, "pythia_warnings_total": n}``
    (errors count aborts and errors). Pythia's Python API has no access to its message log, so
    the counts are read from the ``stat()`` table, which is captured at the file-descriptor level."""
    with tempfile.TemporaryFile("w+b") as capture:
        with redirect_native_output(capture.fileno()):
            pythia.stat()
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    messages: dict[str, int] = {}
    table = text.split("Error and Warning Messages Statistics", 1)[-1]
    for line in table.splitlines():
        row = _MESSAGE_ROW.match(line)
        if row:
            messages[row[2]] = messages.get(row[2], 0) + int(row[1])
    errors = sum(n for m, n in messages.items() if m.startswith(("Abort", "Error")))
    warnings = sum(n for m, n in messages.items() if m.startswith("Warning"))
    return text, {"pythia_messages": messages, "pythia_errors_total": errors, "pythia_warnings_total": warnings}


def init_or_raise(pythia, what: str) -> None:
    """``pythia.init()``; if it fails, RuntimeError naming ``what`` with Pythia's aborts and errors."""
    if pythia.init():
        return
    text, counts = pythia_statistics(pythia)
    log.error("Pythia statistics after the failed initialisation:\n%s", text)
    reasons = [m for m in counts["pythia_messages"] if m.startswith(("Abort", "Error"))]
    raise RuntimeError(f"{what}: Pythia initialisation failed: {'; '.join(reasons) or 'see the log'}")


def log_statistics(pythia) -> dict:
    """Log Pythia's ``stat()`` tables (cross sections per subprocess, messages) and return the
    message counts of :func:`pythia_statistics`, for the chunk's JSON."""
    text, counts = pythia_statistics(pythia)
    log.info("Pythia statistics:\n%s", text.strip("\n"))
    return counts


def generate(
    settings: Sequence[str],
    n_events: int,
    decay_filter: DecayFilter | None = None,
    batch_size: int = 200,
    veto: bool = True,
    variations: Sequence[Variation] = (),
) -> GeneratedChunk:
    """Run Pythia8 until ``n_events`` events (passing ``decay_filter``) are collected.

    Final-state particles and heavy-flavour quarks are kept (:func:`final_state_records`), with
    Pythia's event weights (not 1 with a biased selection, :func:`bias_settings`). A decay filter
    vetoes the hard process before the shower (:class:`~phenoflow.generation.veto.DecayVeto`);
    ``veto=False`` generates every event in full and filters afterwards (the slower reference
    the tests and benchmarks compare with). Pythia returns at most ``batch_size`` full events
    at a time (about 0.35 MB each for ZZ at 13 TeV), and only the kept particles are held.

    The cross section is the unfiltered one times the filter efficiency, the kept fraction of
    the summed weights of the events offered to the filter up to the last one kept; its error
    adds the unfiltered cross section's and the efficiency's (binomial for unit weights) in
    quadrature. Progress (events done / total, rate) goes to the ``phenoflow`` log, followed by
    Pythia's ``stat()`` tables; ``info`` holds the unfiltered cross section, the events offered
    to the filter (``n_generated``; ``n_vetoed`` of them rejected before the shower) and Pythia's
    message counts (:func:`pythia_statistics`). A failed ``init()`` raises RuntimeError naming
    Pythia's aborts and errors.

    ``variations``: the shower variations (:func:`shower_variations`) that ``settings`` switch on
    (:func:`shower_variation_settings`); each kept event gets their weights, its nominal weight
    times the variation's relative weight (:func:`relative_variation_weights`). A vetoed hard
    process has no shower to vary, and the filter efficiency stays the nominal one: a variation's
    cross section is ``sigma_pb`` times its summed weights over the nominal sum. With the same
    seed the events are not those of a run without variations: Pythia then postpones each trial
    emission's accept/reject until the emission is built (and oversamples the trials), which
    draws other random numbers from the first shower on; the nominal sample is statistically the
    same and its weights are still the generator's.
    """
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected the setting '{line}'")
    hook = None
    if decay_filter is not None and veto:
        from phenoflow.generation.veto import DecayVeto

        hook = DecayVeto(decay_filter, weight=lambda: pythia.infoPython().weight())
        pythia.setUserHooksPtr(hook)
    filter_after = decay_filter is not None and hook is None
    init_or_raise(pythia, "Pythia process")

    batches, weights, variation_weights = [], [], []
    columns = None
    n_done = n_generated = 0
    sum_w = sum_w_pass = sum_w2_pass = sum_w2_fail = 0.0  # generator weights before / after the filter
    start = time.perf_counter()
    while n_done < n_events:
        need = n_events - n_done
        ask = math.ceil(1.1 * need * n_generated / max(n_done, 1)) if filter_after and n_generated else need
        batch = pythia.nextBatch(min(ask, batch_size))
        keep = decay_filter.passes(batch.prt) if filter_after else np.ones(len(batch), dtype=bool)
        # the filter's tally stops at the last event kept: later ones were never offered to it
        passing = np.flatnonzero(keep)
        used = int(passing[need - 1]) + 1 if len(passing) >= need else len(batch)
        batch, keep = batch[:used], keep[:used]
        w = ak.to_numpy(batch.info.weights[:, 0])
        if variations:
            columns = variation_columns(pythia, variations, "Pythia process") if columns is None else columns
            variation_weights.append(w[keep, None] * relative_variation_weights(batch.info.weights[keep], columns))
        n_generated += used
        sum_w += math.fsum(w)
        sum_w_pass += math.fsum(w[keep])
        sum_w2_pass += math.fsum(w[keep] ** 2)
        sum_w2_fail += math.fsum(w[~keep] ** 2)
        batches.append(final_state_records(batch[keep].prt))
        weights.append(w[keep])
        n_done += int(keep.sum())
        del batch  # the full event records: only the kept particles stay
        rate = n_done / (time.perf_counter() - start)
        note = ""
        if hook is not None:
            note = f" (kept by the decay filter; {hook.n_vetoed} hard processes vetoed before the shower)"
        elif filter_after:
            note = f" (kept by the decay filter out of {n_generated})"
        log.info("generated %d / %d events%s, %.1f events/s", n_done, n_events, note, rate)

    messages = log_statistics(pythia)
    info = pythia.infoPython()
    sigma = info.sigmaGen() * PB_PER_MB
    rel_err = info.sigmaErr() / info.sigmaGen() if info.sigmaGen() > 0 else 0.0
    n_vetoed = 0
    if hook is not None:
        # the vetoed events, all before the last kept one (nextBatch stops there)
        n_vetoed = hook.n_vetoed
        n_generated += n_vetoed
        sum_w += hook.sum_w
        sum_w2_fail += hook.sum_w2
        sigma, rel_err = _unvetoed_sigma(sigma, rel_err, n_done, n_generated)
    # the filter efficiency is the weighted fraction kept (the event count's with unit weights),
    # with the variance of a ratio of weighted sums
    eff = sum_w_pass / sum_w if sum_w else 1.0
    eff_err = math.sqrt((1 - eff) ** 2 * sum_w2_pass + eff**2 * sum_w2_fail) / abs(sum_w) if sum_w else 0.0
    eff_rel_err = eff_err / eff if 0 < eff < 1 else 0.0
    variation_weights = np.concatenate(variation_weights) if variation_weights else None
    if variation_weights is not None:
        check_variation_weights(variation_weights, variations, "Pythia process")
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
            "n_vetoed": n_vetoed,
            "sum_weights_generated": sum_w,
            "sigma_gen_pb": sigma,
            "sigma_gen_err_pb": sigma * rel_err,
            **messages,
        },
        variations=list(variations),
        variation_weights=variation_weights,
    )


def _unvetoed_sigma(sigma: float, rel_err: float, n_kept: int, n_offered: int) -> tuple[float, float]:
    """The cross section (and relative error) of a run without the veto, from Pythia's with it.

    Pythia counts a vetoed hard process as selected but not accepted, so its ``sigmaGen`` is
    the unfiltered cross section times the kept fraction by count, n_kept / n_offered, and its
    squared relative error adds that fraction's binomial term (1 - f) / n_kept (Pythia's
    ``ProcessContainer::sigmaDelta``). Both are taken out here; the weighted efficiency is
    applied as after a filter-afterwards run.
    """
    if n_kept == 0:
        return sigma, rel_err
    kept = n_kept / n_offered
    return sigma / kept, math.sqrt(max(rel_err**2 - (1 - kept) / n_kept, 0.0))
