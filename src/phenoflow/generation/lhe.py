"""Read Les Houches Event (LHE) files: their header, event weights, cross section and variations.

This is the LHE input path of the generation stage: MadGraph (or any LHEF 1/3 writer) makes the
hard process, Pythia showers and hadronises it (``Beams:frameType = 4``,
:mod:`~phenoflow.generation.lhe_shower`). Units: energies and momenta in GeV, cross sections and
event weights in pb.

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
import math
import os
import warnings
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pylhe

from phenoflow.generation.lhe_variations import LHEWeight, VariationError, lhe_variations, weights_of
from phenoflow.generation.pythia import check_variation_weights
from phenoflow.io import atomic_path, read_json, write_json
from phenoflow.variations import Variation, from_records, to_records

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
    """The header, event weights and variations :func:`write_scan` kept, as
    :func:`~phenoflow.generation.lhe_shower.shower` takes them."""
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
