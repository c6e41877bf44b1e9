"""MadGraph5_aMC@NLO + Pythia8 + Delphes as a generation backend: one MadGraph run per chunk.

From a process's ``madgraph`` block (model, process lines, run_card settings, ...) phenoflow
writes a MadGraph command script (:mod:`~phenoflow.generation.madgraph_script`, which checks every
config value), runs ``mg5_aMC`` on it in the chunk's own work directory (never through a shell;
MadGraph's output goes to a log file) and collects what MadGraph leaves in ``Events/run_01``: the
Delphes ROOT file and the run banner. The banner gives the cross section, the number of
parton-level events and the MadGraph version. Energies in GeV, cross sections in pb.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phenoflow.generation.madgraph_script import _SAFE_PATH, command_script

log = logging.getLogger("phenoflow.generation")

#: The executables a run needs: MadGraph itself, and the Delphes reader MadGraph's Delphes step
#: calls (its script also checks that DelphesSTDHEP is in the same directory).
MG5_EXE = "mg5_aMC"
DELPHES_EXE = "DelphesHepMC2"
DELPHES_STDHEP_EXE = "DelphesSTDHEP"
ENV_FILE = "workflow/envs/madgraph.yaml"

#: Names MadGraph gives the first run of a fresh process directory.
RUN_NAME = "run_01"
RUN_TAG = "tag_1"
PROCESS_DIR = "mg5_process"
DELPHES_OUTPUT = f"Events/{RUN_NAME}/{RUN_TAG}_delphes_events.root"
BANNER_OUTPUT = f"Events/{RUN_NAME}/{RUN_NAME}_{RUN_TAG}_banner.txt"

#: What a run leaves in the work directory (besides the process directory, removed on success).
SCRIPT_FILE = "mg5_commands.txt"
CARD_FILE = "delphes_card.tcl"
ROOT_FILE = "delphes_events.root"
BANNER_FILE = "banner.txt"


@dataclass(frozen=True)
class Banner:
    """The facts of a MadGraph run banner (``Events/run_01/run_01_tag_1_banner.txt``).

    ``sigma_pb``/``sigma_err_pb``: the ``<init>`` block's process cross sections summed, errors in
    quadrature (pb). ``sigma_integrated_pb``: the ``<MGGenerationInfo>`` "Integrated weight (pb)";
    ``sigma_matched_pb``: its "Matched Integrated weight (pb)" when MadGraph wrote one (jet
    matching). ``n_events``: the "Number of Events" MadEvent generated. ``beam_energy_gev``: the
    ``<init>`` beam energies (GeV). ``run_card``: name -> value (text) of the run card.
    """

    path: str
    mg5_version: str | None
    beam_energy_gev: tuple[float, float]
    processes: tuple[tuple[float, float], ...]
    sigma_pb: float
    sigma_err_pb: float
    sigma_integrated_pb: float | None
    sigma_matched_pb: float | None
    n_events: int | None
    run_card: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MadGraphRun:
    """One chunk made by MadGraph + Pythia8 + Delphes, with the files it left in the work directory.

    ``delphes_root``: the Delphes ROOT file; ``banner``, ``script``, ``delphes_card``: copies of the
    run banner, the MadGraph command script and the Delphes card used; ``log``: MadGraph's output.
    ``sigma_pb``/``sigma_err_pb``: the chunk's cross section (pb; the matched one if MadGraph wrote
    one, with the error scaled to it). ``n_events``: events in the Delphes file; ``n_lhe_events``:
    parton-level events MadEvent generated; ``sum_weights``: sum of the Delphes ``Event.Weight``.
    """

    delphes_root: Path
    banner: Path
    script: Path
    delphes_card: Path
    log: Path
    sigma_pb: float
    sigma_err_pb: float
    n_events: int
    n_lhe_events: int
    sum_weights: float
    mg5_version: str | None
    banner_info: Banner


def find_executables() -> tuple[Path, Path]:
    """(mg5_aMC, directory of DelphesHepMC2) from PATH; FileNotFoundError naming what is missing."""
    found = {name: shutil.which(name) for name in (MG5_EXE, DELPHES_EXE)}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise FileNotFoundError(
            f"the MadGraph backend needs {', '.join(missing)} on PATH (not found). mg5_aMC, Pythia8 and "
            f"DelphesHepMC2 are provided by the conda env {ENV_FILE}: run Snakemake with --sdm conda, or "
            "install MadGraph5_aMC@NLO with its Pythia8 interface and Delphes yourself"
        )
    delphes_dir = Path(found[DELPHES_EXE]).resolve().parent
    if not (delphes_dir / DELPHES_STDHEP_EXE).is_file():
        raise FileNotFoundError(
            f"{DELPHES_STDHEP_EXE} is not in {delphes_dir} next to {DELPHES_EXE}: MadGraph's Delphes step "
            f"needs both in one directory (as in the conda env {ENV_FILE})"
        )
    return Path(os.path.abspath(found[MG5_EXE])), delphes_dir


def default_delphes_card(delphes_dir: Path) -> Path:
    """The Delphes installation's CMS card: ``<prefix>/cards/delphes_card_CMS.tcl`` for ``<prefix>/bin``."""
    return delphes_dir.parent / "cards" / "delphes_card_CMS.tcl"


def _delphes_card(madgraph: Mapping, delphes_dir: Path, key: str) -> Path:
    """The configured Delphes card, else the installation's CMS card; FileNotFoundError if missing."""
    configured = madgraph.get("delphes_card")
    if configured is None:
        card = default_delphes_card(delphes_dir)
        if not card.is_file():
            raise FileNotFoundError(f"no Delphes card at {card} (the default); set {key}.delphes_card")
        return card
    if not isinstance(configured, str) or not configured:
        raise ValueError(f"{key}.delphes_card: must be a path, not {configured!r}")
    if not Path(configured).is_file():
        raise FileNotFoundError(f"{key}.delphes_card: {configured} not found")
    return Path(configured)


def _block(text: str, tag: str) -> str | None:
    match = re.search(rf"<{tag}(?:\s[^>]*)?>(.*?)</{tag}>", text, re.DOTALL)
    return match.group(1) if match else None


def _float(text: str, path: Path, what: str) -> float:
    try:
        return float(text.replace("d", "e").replace("D", "e"))
    except ValueError:
        raise ValueError(f"{path}: {what} {text!r} is not a number") from None


def read_banner(path: str | os.PathLike) -> Banner:
    """Cross section (pb), event count, beams (GeV), run card and MadGraph version of a run banner.

    Raises ValueError naming the file if it has no ``<init>`` block or the block is malformed.
    """
    p = Path(path)
    text = p.read_text(errors="replace")
    init = _block(text, "init")
    if init is None:
        raise ValueError(f"{p}: no <init> block; not a MadGraph run banner")
    rows = [line.split() for line in init.splitlines() if line.strip() and not line.lstrip().startswith(("<", "#"))]
    if not rows or len(rows[0]) < 10:
        raise ValueError(f"{p}: the <init> block has no beam line (IDBMUP EBMUP PDFGUP PDFSUP IDWTUP NPRUP)")
    beams = (_float(rows[0][2], p, "EBMUP(1)"), _float(rows[0][3], p, "EBMUP(2)"))
    nprup = int(rows[0][9])
    procs = tuple((_float(r[0], p, "XSECUP"), _float(r[1], p, "XERRUP")) for r in rows[1 : 1 + nprup] if len(r) >= 4)
    if nprup < 1 or len(procs) != nprup:
        raise ValueError(f"{p}: <init> announces NPRUP = {nprup} processes but has {len(procs)} process lines")

    info: dict[str, str] = {}
    for line in (_block(text, "MGGenerationInfo") or "").splitlines():
        match = re.match(r"#?\s*(.+?)\s*:\s*(\S+)\s*$", line)
        if match:
            info[match.group(1).lower()] = match.group(2)
    run_card: dict[str, str] = {}
    for line in (_block(text, "MGRunCard") or "").splitlines():
        match = re.match(r"\s*([^#!=\s][^=!]*?)\s*=\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:!.*)?$", line)
        if match:
            run_card[match.group(2).lower()] = match.group(1)

    version = None
    mg_version = re.search(r"<MGVersion>\s*#?\s*([0-9][^\s<]*)", text)
    generator = re.search(r"<generator[^>]*\bversion=['\"]([^'\"]+)['\"]", init)
    if mg_version:
        version = mg_version.group(1)
    elif generator:
        version = generator.group(1)
    integrated = info.get("integrated weight (pb)")
    matched = info.get("matched integrated weight (pb)")
    n_events = info.get("number of events")
    return Banner(
        path=str(p),
        mg5_version=version,
        beam_energy_gev=beams,
        processes=procs,
        sigma_pb=math.fsum(x for x, _ in procs),
        sigma_err_pb=math.sqrt(math.fsum(e * e for _, e in procs)),
        sigma_integrated_pb=_float(integrated, p, "Integrated weight") if integrated else None,
        sigma_matched_pb=_float(matched, p, "Matched Integrated weight") if matched else None,
        n_events=int(_float(n_events, p, "Number of Events")) if n_events else None,
        run_card=run_card,
    )


def _read_weights(path: Path) -> np.ndarray:
    """Generator weights (``Event.Weight``) of a Delphes file, read as the analysis reads it.

    RuntimeError if the file lacks a branch the analysis reads (the Delphes card decides them).
    """
    import uproot

    from phenoflow.detector.ntuple import READ_BRANCHES, TREE, iterate_events

    try:
        with uproot.open(path) as handle:
            names = set(handle[TREE].keys(recursive=True, full_paths=False))
        missing = [branch for branch in READ_BRANCHES if branch not in names]
        if missing:
            raise ValueError(f"no branch {', '.join(missing)}")
        chunks = [np.asarray(chunk.weight, dtype=np.float64) for chunk in iterate_events([path])]
    except (OSError, ValueError, KeyError, IndexError) as err:
        collections = sorted({branch.split(".")[0] for branch in READ_BRANCHES})
        raise RuntimeError(
            f"{path}: the Delphes output is not readable by the analysis ({err}); the Delphes card must write "
            f"the tree {TREE} with the collections {', '.join(collections)} (delphes_card_CMS.tcl does)"
        ) from err
    return np.concatenate(chunks) if chunks else np.zeros(0)


def _check_banner(banner: Banner, seed: int, sqrt_s_gev: float) -> None:
    """The banner must show the seed and beams this chunk asked for (else MadGraph ignored them)."""
    iseed = banner.run_card.get("iseed")
    if iseed is not None and int(_float(iseed, Path(banner.path), "iseed")) != seed:
        raise RuntimeError(f"{banner.path}: MadGraph ran with iseed = {iseed}, not this chunk's seed {seed}")
    want = sqrt_s_gev / 2.0
    if any(abs(e - want) > 1e-6 * want for e in banner.beam_energy_gev):
        raise RuntimeError(f"{banner.path}: beam energies {banner.beam_energy_gev} GeV, not sqrt(s)/2 = {want} GeV")
    integrated = banner.sigma_integrated_pb
    if integrated is not None and abs(integrated - banner.sigma_pb) > 1e-3 * max(abs(banner.sigma_pb), 1e-300):
        log.warning("%s: Integrated weight %g pb differs from the <init> sum %g pb", banner.path, integrated,
                    banner.sigma_pb)  # fmt: skip


def _run_dir(workdir: Path, tmpdirs: list[Path]) -> Path:
    """Where MadGraph runs: ``workdir`` if MadGraph can handle its path, else a fresh temporary
    directory (appended to ``tmpdirs``); MadGraph's makefiles and scripts break on spaces."""
    if _SAFE_PATH.fullmatch(str(workdir)):
        return workdir
    tmp = Path(tempfile.mkdtemp(prefix="phenoflow_mg5_")).resolve()
    if not _SAFE_PATH.fullmatch(str(tmp)):
        raise ValueError(f"{workdir}: has characters MadGraph cannot handle, and so has the temporary directory {tmp}")
    log.info("%s has characters MadGraph cannot handle; running in %s", workdir, tmp)
    tmpdirs.append(tmp)
    return tmp


def _mg5_version_in_log(log_path: Path, offset: int) -> str | None:
    with open(log_path, "rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    versions = re.findall(r"VERSION\s+(\d+\.\d+\.\d+)", text)
    return versions[-1] if versions else None


def generate_chunk(
    madgraph: Mapping,
    n_events: int,
    seed: int,
    sqrt_s_gev: float,
    workdir: str | os.PathLike,
    log_path: str | os.PathLike,
    *,
    key: str = "madgraph",
    cores: int = 1,
    keep_process_dir: bool = False,
) -> MadGraphRun:
    """Run MadGraph + Pythia8 + Delphes for one chunk of ``n_events`` events in ``workdir``.

    ``madgraph``: the process's ``madgraph`` block (``key``: its place in the config, named in
    errors); ``seed`` in [1, 900 000 000], distinct per chunk; ``sqrt_s_gev`` in GeV; ``cores``
    for MadGraph. ``mg5_aMC`` runs without a shell, its output appended to ``log_path``. The
    Delphes file, banner, command script and card are left in ``workdir``; the MadGraph process
    directory is removed after a successful run unless ``keep_process_dir``. Raises ValueError for
    a bad config value, FileNotFoundError for missing executables or card, RuntimeError (naming
    the log) if MadGraph fails or leaves no Delphes file.
    """
    workdir = Path(os.path.abspath(workdir))
    log_path = Path(os.path.abspath(log_path))
    # Check the config before looking for the programs, so that a bad value fails the same way everywhere.
    command_script(madgraph, n_events, seed, sqrt_s_gev, "proc", "card.tcl", "bin", key=key, cores=cores)
    model = madgraph.get("model")
    if isinstance(model, str) and "/" in model:  # a UFO model directory: MadGraph runs elsewhere
        if not Path(model).is_dir():
            raise FileNotFoundError(f"{key}.model: {model} is not a model directory")
        madgraph = {**madgraph, "model": os.path.abspath(model)}
    mg5, delphes_dir = find_executables()
    card = _delphes_card(madgraph, delphes_dir, key)

    workdir.mkdir(parents=True, exist_ok=True)
    for stale in (workdir / PROCESS_DIR, workdir / ROOT_FILE, workdir / BANNER_FILE):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    tmpdirs: list[Path] = []
    rundir = _run_dir(workdir.resolve(), tmpdirs)
    shutil.copyfile(card, rundir / CARD_FILE)
    proc_dir = rundir / PROCESS_DIR
    lines = command_script(
        madgraph, n_events, seed, sqrt_s_gev, proc_dir, rundir / CARD_FILE, delphes_dir, key=key, cores=cores
    )
    script = rundir / SCRIPT_FILE
    script.write_text("\n".join(lines) + "\n")

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        offset = out.tell()
        out.write(f"\n==== phenoflow runs: {mg5} {script} (in {rundir}) ====\n".encode())
        out.write(script.read_bytes() + b"==== MadGraph output ====\n")
        out.flush()
        log.info("running %s on %s (%d events, seed %d); its output goes to %s", mg5, script, n_events, seed, log_path)
        result = subprocess.run(
            [str(mg5), str(script)], cwd=rundir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            shell=False, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(
            f"mg5_aMC exited with status {result.returncode}; see its output in {log_path} (work directory {rundir})"
        )
    for produced in (proc_dir / DELPHES_OUTPUT, proc_dir / BANNER_OUTPUT):
        if not produced.is_file():
            raise RuntimeError(f"mg5_aMC finished but wrote no {produced}; see its output in {log_path}")

    banner_info = read_banner(proc_dir / BANNER_OUTPUT)
    _check_banner(banner_info, seed, sqrt_s_gev)
    weights = _read_weights(proc_dir / DELPHES_OUTPUT)
    if len(weights) == 0:
        raise RuntimeError(f"{proc_dir / DELPHES_OUTPUT}: the Delphes file has no events; see {log_path}")

    shutil.move(proc_dir / DELPHES_OUTPUT, workdir / ROOT_FILE)
    shutil.copyfile(proc_dir / BANNER_OUTPUT, workdir / BANNER_FILE)
    if rundir != workdir.resolve():
        for name in (SCRIPT_FILE, CARD_FILE):
            shutil.copyfile(rundir / name, workdir / name)
        if keep_process_dir:
            shutil.move(proc_dir, workdir / PROCESS_DIR)
    elif not keep_process_dir:
        shutil.rmtree(proc_dir)
    for tmp in tmpdirs:
        shutil.rmtree(tmp, ignore_errors=True)

    sigma, sigma_err = banner_info.sigma_pb, banner_info.sigma_err_pb
    if banner_info.sigma_matched_pb is not None and sigma > 0:
        sigma, sigma_err = banner_info.sigma_matched_pb, sigma_err * banner_info.sigma_matched_pb / sigma
    n_lhe = banner_info.n_events or int(banner_info.run_card.get("nevents", len(weights)))
    if len(weights) != n_lhe:
        log.info("the Delphes file has %d events of the %d MadEvent generated", len(weights), n_lhe)
    return MadGraphRun(
        delphes_root=workdir / ROOT_FILE,
        banner=workdir / BANNER_FILE,
        script=workdir / SCRIPT_FILE,
        delphes_card=workdir / CARD_FILE,
        log=log_path,
        sigma_pb=sigma,
        sigma_err_pb=sigma_err,
        n_events=len(weights),
        n_lhe_events=n_lhe,
        sum_weights=math.fsum(weights),
        mg5_version=banner_info.mg5_version or _mg5_version_in_log(log_path, offset),
        banner_info=banner_info,
    )
