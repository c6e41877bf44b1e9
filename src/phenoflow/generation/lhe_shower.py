"""Shower and hadronise the events of an LHE file with Pythia8 (``pythia8mc``), one chunk of the
file at a time (``Beams:frameType = 4``).

The cross section and the generator weights of the chunk follow the cross-section rule of
:mod:`~phenoflow.generation.lhe`, which reads the file; units: energies and momenta in GeV, cross
sections and event weights in pb.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import awkward as ak
import numpy as np

from phenoflow.generation.lhe import LHEScan, _scan, _sigma_and_weights, variation_weights
from phenoflow.generation.pythia import (
    PRINT_SETTINGS,
    GeneratedChunk,
    check_variation_weights,
    final_state_records,
    init_or_raise,
    log_statistics,
    relative_variation_weights,
    reserved_reason,
    shower_variation_settings,
    variation_columns,
)
from phenoflow.seeds import MAX_PYTHIA_SEED
from phenoflow.variations import Variation, groups

log = logging.getLogger("phenoflow.generation")

_QUIET = (
    *PRINT_SETTINGS,
    # Pythia reads the MadGraph param card from the LHE header (SLHA:readFrom = 2) and prints a
    # SusyLesHouches banner into the log; this silences it.
    "SLHA:verbose = 0",
)

#: Characters Pythia's ``Beams:LHEF`` word setting passes through unchanged. Pythia's
#: ``readString`` turns every "=" into a blank and keeps only the first word of a string value,
#: and still returns True: "/a b/x.lhe" and "/a=b/x.lhe" both silently become "/a" (checked with
#: pythia8mc 8.317). Other paths are symlinked to a safe name, see :func:`_pythia_path`.
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+@%:,-]+$")


def _empty_particles() -> ak.Array:
    """A chunk of zero events with the record layout of :func:`final_state_records`."""
    fields = {k: np.zeros(0, dtype=np.int32) for k in ("pid", "status")}
    fields |= {k: np.zeros(0) for k in ("px", "py", "pz", "e", "mass")}
    flat = ak.zip({k: ak.Array(v) for k, v in fields.items()}, with_name="Particle")
    return ak.unflatten(flat, np.zeros(0, dtype=np.int64))


def _pythia_path(path: Path, workdir: list[str]) -> str:
    """A path to ``path`` that survives Pythia's ``Beams:LHEF`` parsing (see ``_SAFE_PATH``).

    Unsafe paths (spaces, quotes, ...) are symlinked into a fresh temporary directory under a safe
    name keeping the ``.gz`` suffix (Pythia decides on gzip by the name); the directory is
    appended to ``workdir`` for the caller to remove.
    """
    resolved = str(path.resolve())
    if _SAFE_PATH.match(resolved):
        return resolved
    tmp = tempfile.mkdtemp(prefix="phenoflow_lhe_")
    workdir.append(tmp)
    link = os.path.join(tmp, "events.lhe.gz" if resolved.endswith(".gz") else "events.lhe")
    if not _SAFE_PATH.match(link):
        raise ValueError(f"{path}: cannot give Pythia a path without spaces (temporary directory {tmp})")
    os.symlink(resolved, link)
    return link


def shower(
    path: str | os.PathLike,
    n_events: int | None = None,
    *,
    seed: int,
    extra_settings: Sequence[str] = (),
    first_event: int = 0,
    batch_size: int = 200,
    max_failed: int = 0,
    scanned: LHEScan | None = None,
    variations: Sequence[str] = (),
    shower_variations: Sequence[Variation] = (),
) -> GeneratedChunk:
    """Shower and hadronise the events of an LHE file with Pythia8; keep final-state particles.

    Events ``first_event`` .. ``first_event + n_events - 1`` of the file are showered
    (``n_events=None``: to the end of the file), so chunks of one file can run in parallel. Beams
    and their energies (GeV) come from the file. ``sigma_pb``/``sigma_err_pb`` are
    :func:`~phenoflow.generation.lhe.cross_section` of the whole file (pb); ``weights`` are the
    generator weights of the cross-section rule of :mod:`~phenoflow.generation.lhe` (±1 for IDWTUP
    ±3, XWGTUP in pb for ±4). Every event read must be showered: events Pythia fails are listed in
    ``info["failed_events"]`` (indices in the file) and logged, and more than ``max_failed`` of them
    raise RuntimeError. A chunk starting at or past the end of the file is empty. ``extra_settings``
    are Pythia ``readString`` lines applied last; the beam, LHEF and seed settings are reserved. As
    a guard against showering other events than the file's, Pythia's nominal weight of each event
    must match the file's (sign for IDWTUP ±3, pb value for ±4), else RuntimeError; settings that
    change Pythia's event weight (e.g. merging) are therefore not supported here. ``scanned`` (from
    :func:`~phenoflow.generation.lhe.read_scan`) saves reading the whole file again for every chunk.

    ``variations`` (``scale``, ``pdf``: :func:`~phenoflow.generation.lhe.read_variations`) are the
    file's weight groups the chunk keeps, ``shower_variations``
    (:func:`~phenoflow.generation.pythia.shower_variations`) Pythia's shower variations it computes;
    the chunk carries both, in that order, as weights in the units of ``weights``
    (:func:`~phenoflow.generation.lhe.variation_weights`; a shower variation is the nominal weight
    times its relative weight). A scan must have been made for the same ``variations``.
    """
    import pythia8mc

    for line in extra_settings:
        why = reserved_reason(line)  # Beams:* (frameType, LHEF, ...), Random:*, Main:numberOfEvents
        if why:
            raise ValueError(f"Pythia setting '{line}' is reserved: {why}")
    if not 1 <= seed <= MAX_PYTHIA_SEED:
        raise ValueError(f"seed {seed} outside Pythia's range [1, {MAX_PYTHIA_SEED}]")
    if first_event < 0 or (n_events is not None and n_events < 0):
        raise ValueError(f"first_event ({first_event}) and n_events ({n_events}) must not be negative")

    lhe = Path(path)
    header, xwgtup, lhe_variations, wgts = _scan(lhe, variations) if scanned is None else scanned
    if header.path != str(lhe):
        raise ValueError(f"{lhe}: the scan given is of another file, {header.path}")
    if list(groups(lhe_variations)) != list(variations):
        raise ValueError(
            f"{lhe}: the scan given holds the variations {list(groups(lhe_variations))}, not the {list(variations)} asked for"
        )
    sigma, sigma_err, gen_weights = _sigma_and_weights(header, xwgtup)
    file_variation_weights = variation_weights(header, xwgtup, wgts)
    check_variation_weights(file_variation_weights, lhe_variations, str(lhe))
    chunk_variations = [*lhe_variations, *shower_variations]
    available = max(header.n_events - first_event, 0)
    n_todo = available if n_events is None else min(n_events, available)
    info = {
        "lhe_path": header.path,
        "lhe_version": header.lhe_version,
        "beam_pdg": header.beam_pdg,
        "beam_energy_gev": header.beam_energy_gev,
        "sqrt_s_gev": header.sqrt_s_gev,
        "idwtup": header.idwtup,
        "processes": [dataclasses.asdict(pr) for pr in header.processes],
        "sigma_init_pb": header.sigma_pb,
        "sigma_init_err_pb": header.sigma_err_pb,
        "generator_name": header.generator_name,
        "generator_version": header.generator_version,
        "n_events_file": header.n_events,
        "weight_ids": list(header.weight_ids),
        "first_event": first_event,
        "failed_events": [],
        "pythia_messages": {},
        "pythia_errors_total": 0,
        "pythia_warnings_total": 0,
    }
    if n_todo == 0:
        log.info("%s: no events to shower from event %d (the file has %d)", lhe, first_event, header.n_events)
        return GeneratedChunk(
            particles=_empty_particles(),
            weights=np.zeros(0),
            sigma_pb=sigma,
            sigma_err_pb=sigma_err,
            n_tried=0,
            n_accepted=0,
            info=info,
            variations=chunk_variations,
        )

    tmpdirs: list[str] = []
    try:
        settings = [
            "Beams:frameType = 4",
            f"Beams:LHEF = {_pythia_path(lhe, tmpdirs)}",
            f"Beams:nSkipLHEFatInit = {first_event}",
            "HadronLevel:all = on",
            "Random:setSeed = on",
            f"Random:seed = {seed}",
            *_QUIET,
            *shower_variation_settings(shower_variations),
            *extra_settings,
        ]
        pythia = pythia8mc.Pythia("", False)
        for line in settings:
            if not pythia.readString(line):
                raise ValueError(f"Pythia rejected the setting '{line}'")
        init_or_raise(pythia, str(lhe))

        batches, pythia_weights, relative, failed = [], [], [], []
        columns = None
        n_read = 0
        start = time.perf_counter()
        while n_read < n_todo:
            ask = min(batch_size, n_todo - n_read)
            # errorMode "none": an event Pythia fails comes back as None in its place, so the
            # batch stays aligned with the file ("skip" would read the next LHE event instead).
            batch = pythia.nextBatch(ask, "none")
            if len(batch) != ask:
                raise RuntimeError(f"{lhe}: Pythia returned {len(batch)} events for {ask} requested")
            bad = np.flatnonzero(ak.to_numpy(ak.is_none(batch, axis=0)))
            failed.extend(int(first_event + n_read + i) for i in bad)
            batch = ak.drop_none(batch, axis=0)
            batches.append(final_state_records(batch.prt))
            pythia_weights.append(ak.to_numpy(batch.info.weights[:, 0]))
            if shower_variations:
                columns = variation_columns(pythia, shower_variations, str(lhe)) if columns is None else columns
                relative.append(relative_variation_weights(batch.info.weights, columns))
            n_read += ask
            rate = n_read / (time.perf_counter() - start)
            log.info("%s: showered %d / %d LHE events, %.1f events/s", lhe.name, n_read, n_todo, rate)
        info.update(log_statistics(pythia))
        pinfo = pythia.infoPython()
        # Pythia counts one try per LHE event read (after the skipped ones); any other number
        # means events were lost or read twice, and the chunk would not match the file.
        if int(pinfo.nTried()) != n_todo:
            raise RuntimeError(
                f"{lhe}: Pythia read {pinfo.nTried()} LHE events but {n_todo} were expected "
                f"(events {first_event}..{first_event + n_todo - 1}; end of file: {pinfo.atEndOfFile()})"
            )
    finally:
        for tmp in tmpdirs:
            shutil.rmtree(tmp, ignore_errors=True)

    if failed:
        info["failed_events"] = failed
        log.warning("%s: Pythia failed to shower %d LHE event(s): %s", lhe, len(failed), failed[:20])
        if len(failed) > max_failed:
            raise RuntimeError(
                f"{lhe}: Pythia failed to shower {len(failed)} LHE event(s) (allowed: {max_failed}); "
                f"file indices {failed[:20]}"
            )
    keep = np.ones(n_todo, dtype=bool)
    keep[np.asarray(failed, dtype=int) - first_event] = False
    weights = gen_weights[first_event : first_event + n_todo][keep]
    seen = np.concatenate(pythia_weights)
    # Alignment guard: Pythia's nominal weight is ±1 (IDWTUP ±3) or XWGTUP in pb (±4); it must
    # agree event by event with what the file says.
    agree = np.sign(seen) == np.sign(weights) if abs(header.idwtup) == 3 else np.isclose(seen, weights, rtol=1e-6)
    if not np.all(agree):
        first_bad = int(np.flatnonzero(~agree)[0])
        raise RuntimeError(
            f"{lhe}: Pythia's event weights disagree with the file (first at showered event {first_bad}: "
            f"{seen[first_bad]} vs {weights[first_bad]}); the showered events are not the file's"
        )
    shower_weights = (
        weights[:, np.newaxis] * np.concatenate(relative) if shower_variations else np.zeros((len(weights), 0))
    )
    check_variation_weights(shower_weights, shower_variations, str(lhe))
    return GeneratedChunk(
        particles=ak.concatenate(batches),
        weights=weights,
        sigma_pb=sigma,
        sigma_err_pb=sigma_err,
        n_tried=n_todo,
        n_accepted=n_todo - len(failed),
        filter_efficiency=1.0,
        info=info,
        variations=chunk_variations,
        variation_weights=np.column_stack(
            [file_variation_weights[first_event : first_event + n_todo][keep], shower_weights]
        ),
    )
