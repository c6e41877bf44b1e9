"""Read Les Houches Event (LHE) files and shower their events with Pythia8 (``pythia8mc``).

This is the LHE input path of the generation stage: MadGraph (or any LHEF 1/3 writer) makes the
hard process, Pythia showers and hadronises it (``Beams:frameType = 4``). Units: energies and
momenta in GeV, cross sections and event weights in pb.

Cross-section rule (by the weighting strategy IDWTUP of the ``<init>`` block):

* IDWTUP = ±3: events carry a unit (or common) weight. sigma is the sum of the ``<init>``
  process cross sections, its error their errors added in quadrature. The generator weight of an
  event is the sign of its XWGTUP (±1).
* IDWTUP = ±4: events carry weights in pb. sigma is the mean event weight over all events of the
  file; its error is the larger of the standard error of that mean and the ``<init>`` error
  (equal-weight files, as MadGraph writes them, have no spread to measure). The generator weight
  of an event is its XWGTUP in pb, sign included (NLO files have negative weights).

In LHEF 3 files with weight groups (``<initrwgt>``, per-event ``<rwgt>``) the nominal weight is
the event's XWGTUP; every weight id is listed in :attr:`LHEHeader.weight_ids`, and a process keeps
the variations it asks for (scale, PDF: :mod:`~phenoflow.generation.lhe_variations`) as weights
in the units of its generator weights (:func:`variation_weights`).
IDWTUP = ±1, ±2 (Pythia would unweight the events itself) are not supported.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import math
import os
import re
import shutil
import tempfile
import time
import warnings
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import awkward as ak
import numpy as np
import pylhe

from phenoflow.generation.lhe_variations import LHEWeight, VariationError, lhe_variations, weights_of
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
from phenoflow.io import atomic_path, read_json, write_json
from phenoflow.seeds import MAX_PYTHIA_SEED
from phenoflow.variations import Variation, from_records, groups, to_records

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

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

#: What pylhe (its XML parser, gzip, the text fields) raises on a broken or truncated LHE file
_READ_ERRORS = (
    ValueError,
    IndexError,
    KeyError,
    AttributeError,
    TypeError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    ET.ParseError,
    UnicodeDecodeError,
)


@dataclass(frozen=True)
class LHEProcess:
    """One process line of the ``<init>`` block: XSECUP, XERRUP (pb), XMAXUP and LPRUP."""

    xsec_pb: float
    xerr_pb: float
    xmax: float
    lprup: int


@dataclass(frozen=True)
class LHEHeader:
    """The facts of an LHE file's header and ``<init>`` block.

    ``beam_energy_gev`` in GeV; ``sigma_pb``/``sigma_err_pb`` are the ``<init>`` totals in pb (sum
    of the process cross sections, errors in quadrature), whatever IDWTUP is; see
    :func:`cross_section` for the cross section of the events. ``n_events`` counts the
    ``<event>`` blocks of the file. ``weight_ids`` lists the LHEF 3 weight ids of ``<initrwgt>``.
    """

    path: str
    lhe_version: str | None
    beam_pdg: tuple[int, int]
    beam_energy_gev: tuple[float, float]
    pdf_set: tuple[int, int]
    idwtup: int
    processes: tuple[LHEProcess, ...]
    sigma_pb: float
    sigma_err_pb: float
    generator_name: str | None
    generator_version: str | None
    n_events: int
    weight_ids: tuple[str, ...] = ()

    @property
    def sqrt_s_gev(self) -> float:
        """Centre-of-mass energy of the (collinear, massless) beams in GeV: 2 sqrt(E_A E_B)."""
        return 2.0 * math.sqrt(self.beam_energy_gev[0] * self.beam_energy_gev[1])


def _invalid(path: Path, why: object) -> ValueError:
    return ValueError(f"{path}: not a valid LHE file ({why})")


class LHEScan(NamedTuple):
    """What one read of an LHE file keeps for its chunks: the header facts, every event's XWGTUP
    (pb for IDWTUP ±4), shape (n_events,), the variations asked for (``source``: their weight
    ids) and their ``<rwgt>`` weights as the file gives them (units of XWGTUP), shape
    (n_events, n_variations)."""

    header: LHEHeader
    xwgtup: np.ndarray
    variations: tuple[Variation, ...]
    variation_wgts: np.ndarray


def _central_pdf(pdf_set: tuple[int, int]) -> int | None:
    """The LHAPDF id of the nominal PDF from the ``<init>`` block's PDFSUP, None if not given."""
    return int(pdf_set[0]) if pdf_set[0] > 0 else None


def _scan(path: str | os.PathLike, variations: Sequence[str] = ()) -> LHEScan:
    """Header, the nominal event weights XWGTUP (pb for IDWTUP ±4) and the weights of the
    variations ``variations`` (groups of :data:`~phenoflow.generation.lhe_variations.LHE_VARIATIONS`)
    of an LHE file, one pass.

    Raises ValueError naming the file for anything that is not a complete LHE file, and for a
    variation the file does not provide (naming what it does) or an event without its weight.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"LHE file not found: {p}")
    with open(p, "rb") as handle:
        if handle.read(8) == _HDF5_MAGIC:
            # pylhe reads LHEH5, but Pythia's Beams:LHEF cannot shower it.
            raise _invalid(p, "LHEH5/HDF5 input is not supported, only LHE XML (plain or gzip)")

    weights: list[float] = []
    wanted: list[Variation] = []
    wgts: list[list[float]] = []
    lhef = None
    # pylhe turns XML parse errors into a RuntimeWarning and then simply stops iterating, so a
    # truncated or corrupt file would look like a shorter valid one: record the warnings instead.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # with_attributes=False: skip building the per-event <rwgt> weight dicts unless
            # variations are asked for; ~25 % faster on MadGraph files with 145 weights per event.
            lhef = pylhe.LHEFile.fromfile(p, with_attributes=bool(variations))
            if variations:
                central = _central_pdf((lhef.init.initInfo.PDFsetA, lhef.init.initInfo.PDFsetB))
                wanted = lhe_variations(_weights(lhef, p), central, variations, str(p))
            for event in lhef.events:
                if event.eventinfo.nparticles != len(event.particles):
                    raise ValueError(
                        f"event {len(weights)} announces {event.eventinfo.nparticles} particles "
                        f"but lists {len(event.particles)}"
                    )
                if wanted:
                    missing = [v.source for v in wanted if v.source not in event.weights]
                    if missing:
                        raise VariationError(f"{p}: event {len(weights)} has no <rwgt> weight with the ids {missing}")
                    wgts.append([event.weights[v.source] for v in wanted])
                weights.append(event.eventinfo.weight)
        except VariationError:
            raise
        except _READ_ERRORS as exc:
            raise _invalid(p, exc) from exc
        finally:
            events = getattr(lhef, "events", None)
            if hasattr(events, "close"):
                events.close()  # closes the (gzip) file pylhe opened
    parse_errors = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if parse_errors:
        raise _invalid(p, "; ".join(parse_errors))

    init = lhef.init
    info = init.initInfo
    procs = tuple(LHEProcess(pi.xSection, pi.error, pi.unitWeight, pi.procId) for pi in init.procInfo)
    # pylhe splits the <init> text on newlines and drops the first and last piece, so a process
    # line directly followed by "</init>" is silently lost: check against NPRUP.
    if len(procs) != info.numProcesses or not procs:
        raise _invalid(p, f"<init> announces NPRUP = {info.numProcesses} processes but {len(procs)} were read")
    generator = init.generators[0] if init.generators else None
    weight_ids: tuple[str, ...] = ()
    if lhef.header is not None:
        weight_ids = tuple(lhef.header.initrwgt.list_weights_ids())
    header = LHEHeader(
        path=str(p),
        lhe_version=lhef.version,
        beam_pdg=(info.beamA, info.beamB),
        beam_energy_gev=(info.energyA, info.energyB),
        pdf_set=(info.PDFsetA, info.PDFsetB),
        idwtup=info.weightingStrategy,
        processes=procs,
        sigma_pb=math.fsum(pr.xsec_pb for pr in procs),
        sigma_err_pb=math.sqrt(math.fsum(pr.xerr_pb**2 for pr in procs)),
        generator_name=(generator.name or None) if generator else None,
        generator_version=(generator.version or None) if generator else None,
        n_events=len(weights),
        weight_ids=weight_ids,
    )
    return LHEScan(
        header,
        np.asarray(weights, dtype=float),
        tuple(wanted),
        np.asarray(wgts, dtype=float).reshape(len(weights), len(wanted)),
    )


def _weights(lhef, path: Path) -> tuple[LHEWeight, ...]:
    """The ``<initrwgt>`` weights of an opened pylhe file (none without a header)."""
    return weights_of(lhef.header.initrwgt, str(path)) if lhef.header is not None else ()


def read_header(path: str | os.PathLike) -> LHEHeader:
    """Header facts of an LHE file (plain or gzip): beams (PDG id, energy in GeV), IDWTUP, the
    ``<init>`` processes and their summed cross section in pb, the generator, the event count.

    Raises ValueError naming the file if it is not a complete LHE file.
    """
    return _scan(path)[0]


def _read_head(path: str | os.PathLike, read: Callable):
    """``read(lhef)`` of a pylhe file opened and read up to ``</init>`` only, without the events.

    Raises ValueError naming the file if its header or ``<init>`` block cannot be read.
    """
    p = Path(path)
    with open(p, "rb") as handle:
        if handle.read(8) == _HDF5_MAGIC:
            raise _invalid(p, "LHEH5/HDF5 input is not supported, only LHE XML (plain or gzip)")
    lhef = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            lhef = pylhe.LHEFile.fromfile(p, with_attributes=False)  # reads up to </init>
            return read(lhef)
        except VariationError:
            raise
        except _READ_ERRORS as exc:
            parse = "; ".join(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))
            raise _invalid(p, f"{exc}{'; ' + parse if parse else ''}") from exc
        finally:
            events = getattr(lhef, "events", None)
            if hasattr(events, "close"):
                events.close()


def read_beams(path: str | os.PathLike) -> tuple[tuple[int, int], tuple[float, float]]:
    """The beams of an LHE file from its ``<init>`` block only, without reading the events:
    (PDG ids IDBMUP, energies EBMUP in GeV). Cheap enough for a config check.

    Raises ValueError naming the file if its header or ``<init>`` block cannot be read.
    """

    def beams(lhef) -> tuple[tuple[int, int], tuple[float, float]]:
        info = lhef.init.initInfo
        return (int(info.beamA), int(info.beamB)), (float(info.energyA), float(info.energyB))

    return _read_head(path, beams)


def read_variations(path: str | os.PathLike, variations: Sequence[str]) -> list[Variation]:
    """The variations of the groups ``variations`` (``scale``, ``pdf``) an LHE file provides,
    from its header and ``<init>`` block only (:mod:`~phenoflow.generation.lhe_variations`); each
    variation's ``source`` is its weight id. Cheap enough for a config check.

    Raises ValueError naming the file, the variation asked for and what the file provides if it
    lacks one, or if its header or ``<init>`` block cannot be read.
    """

    def select(lhef) -> list[Variation]:
        info = lhef.init.initInfo
        return lhe_variations(
            _weights(lhef, Path(path)), _central_pdf((info.PDFsetA, info.PDFsetB)), variations, str(path)
        )

    return _read_head(path, select)


def _sigma_and_weights(header: LHEHeader, xwgtup: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(sigma_pb, sigma_err_pb, generator weight per event) by the module's cross-section rule."""
    strategy = abs(header.idwtup)
    if strategy == 3:
        return header.sigma_pb, header.sigma_err_pb, np.where(xwgtup < 0, -1.0, 1.0)
    if strategy == 4:
        if len(xwgtup) == 0:
            raise ValueError(f"{header.path}: IDWTUP = {header.idwtup} needs events to average, the file has none")
        mean = float(np.mean(xwgtup))
        # The standard error of the mean needs two events; with one, take a 100 % error.
        sem = float(np.std(xwgtup, ddof=1) / math.sqrt(len(xwgtup))) if len(xwgtup) > 1 else abs(mean)
        # Unweighted files (MadGraph writes IDWTUP -4 with equal weights) have no spread, so the
        # mean's error would be 0: then the integration error of <init> is the honest one. Taking
        # the larger never double-counts the two estimates of the same Monte Carlo error.
        return mean, max(sem, header.sigma_err_pb), xwgtup.astype(float)
    raise ValueError(
        f"{header.path}: IDWTUP = {header.idwtup} is not supported (only ±3: unit weights, ±4: weights in pb)"
    )


def cross_section(path: str | os.PathLike) -> tuple[float, float]:
    """(sigma, error) in pb of the events of an LHE file.

    IDWTUP ±3: the sum of the ``<init>`` cross sections, errors in quadrature. IDWTUP ±4: the mean
    event weight (pb) over all events of the file; its error is the larger of the standard error
    of that mean and the ``<init>`` error (equal-weight files have no spread to measure).
    """
    header, xwgtup, *_ = _scan(path)
    sigma, err, _ = _sigma_and_weights(header, xwgtup)
    return sigma, err


def variation_weights(header: LHEHeader, xwgtup: np.ndarray, wgts: np.ndarray) -> np.ndarray:
    """The variations' weights in the units of the generator weights of the module's rule: the
    file's ``<rwgt>`` weights ``wgts`` (n_events, n_variations) in pb for IDWTUP ±4, and divided by
    |XWGTUP| for IDWTUP ±3 (whose generator weight is the sign of XWGTUP), so that each is the
    nominal generator weight times the variation's relative weight."""
    wgts = np.asarray(wgts, dtype=float)
    if abs(header.idwtup) == 4:
        return wgts
    with np.errstate(divide="ignore", invalid="ignore"):
        return wgts / np.abs(xwgtup)[:, np.newaxis]


def write_scan(
    path: str | os.PathLike,
    header_json: str | os.PathLike,
    weights_npy: str | os.PathLike,
    variations: Sequence[str] = (),
) -> LHEHeader:
    """Read an LHE file once and keep what its chunks need: the header facts with the cross
    section of its events (pb, by the module's rule) as JSON, and every event's XWGTUP (pb for
    IDWTUP ±4) as a float64 array of shape (n_events,) in ``.npy``. With ``variations`` (groups
    ``scale``, ``pdf``) the JSON also lists the variations (``variations``, records of
    :func:`~phenoflow.variations.to_records`) and the array is (n_events, 1 + n_variations):
    XWGTUP, then each variation's ``<rwgt>`` weight.

    Raises ValueError naming the file if it is not a complete LHE file, its IDWTUP is not
    supported, it lacks a variation asked for, or a variation's weights are all zero or not all
    finite; then neither output is written.
    """
    header, xwgtup, found, wgts = _scan(path, variations)
    sigma, sigma_err, _ = _sigma_and_weights(header, xwgtup)
    check_variation_weights(variation_weights(header, xwgtup, wgts), found, str(path))
    facts = {"header": dataclasses.asdict(header), "sigma_pb": sigma, "sigma_err_pb": sigma_err}
    if variations:
        facts["variations"] = to_records(found)
    with atomic_path(weights_npy) as tmp, open(tmp, "wb") as out:
        np.save(out, np.column_stack([xwgtup, wgts]) if variations else xwgtup)
    write_json(header_json, facts)
    return header


def read_scan(header_json: str | os.PathLike, weights_npy: str | os.PathLike) -> LHEScan:
    """The header, event weights and variations :func:`write_scan` kept, as :func:`shower` takes them."""
    facts = read_json(header_json)
    header = LHEHeader(
        **{
            **facts["header"],
            **{key: tuple(facts["header"][key]) for key in ("beam_pdg", "beam_energy_gev", "pdf_set", "weight_ids")},
            "processes": tuple(LHEProcess(**pr) for pr in facts["header"]["processes"]),
        }
    )
    variations = tuple(from_records(facts.get("variations", [])))
    weights = np.load(weights_npy)
    shape = (header.n_events, 1 + len(variations)) if "variations" in facts else (header.n_events,)
    if weights.shape != shape:
        raise ValueError(f"{weights_npy}: holds {weights.shape} weights for the {shape} of {header.path}")
    if "variations" not in facts:
        return LHEScan(header, weights, (), np.zeros((header.n_events, 0)))
    return LHEScan(header, weights[:, 0], variations, weights[:, 1:])


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
    :func:`cross_section` of the whole file (pb); ``weights`` are the generator weights of the
    module's rule (±1 for IDWTUP ±3, XWGTUP in pb for ±4). Every event read must be showered:
    events Pythia fails are listed in ``info["failed_events"]`` (indices in the file) and logged,
    and more than ``max_failed`` of them raise RuntimeError. A chunk starting at or past the end of
    the file is empty. ``extra_settings`` are Pythia ``readString`` lines applied last; the beam,
    LHEF and seed settings are reserved. As a guard against showering other events than the
    file's, Pythia's nominal weight of each event must match the file's (sign for IDWTUP ±3, pb
    value for ±4), else RuntimeError; settings that change Pythia's event weight (e.g. merging)
    are therefore not supported here. ``scanned`` (from :func:`read_scan`) saves reading the
    whole file again for every chunk.

    ``variations`` (``scale``, ``pdf``: :func:`read_variations`) are the file's weight groups the
    chunk keeps, ``shower_variations`` (:func:`~phenoflow.generation.pythia.shower_variations`)
    Pythia's shower variations it computes; the chunk carries both, in that order, as weights in
    the units of ``weights`` (:func:`variation_weights`; a shower variation is the nominal weight
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
