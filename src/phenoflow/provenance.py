"""Provenance of results: which config part made them, with which packages, from which inputs.

Every dataset and result directory gets a small YAML record beside it: the config part that
affected it and its hash, the hashes of its input files, package versions, the Python version,
the git commit of the workflow's source (and whether it had uncommitted changes), seeds and the
start and end time (UTC) of the job. The times make records the only outputs that differ between two
runs of the same config.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: Packages whose versions every record lists.
PACKAGES = ("phenoflow", "numpy", "awkward", "uproot", "vector", "fastjet", "pythia8mc", "pandas", "pyarrow",
            "scikit-learn", "xgboost", "tensorflow", "snakemake")  # fmt: skip


#: The config keys the events of every process depend on, up to the skim.
EVENT_KEYS = ("seed", "luminosity_fb", "collider", "generation", "processes", "detector", "selection", "substructure")
#: The config keys each dataset's or analysis-wide result's records depend on (dotted keys name
#: one entry of a block); a model's and a process's stages are in :func:`provenance_config`.
PROVENANCE_KEYS = {
    "cutflow": EVENT_KEYS,
    "features": (*EVENT_KEYS, "features"),
    "images": (*EVENT_KEYS, "images"),
    "split": (*EVENT_KEYS, "features", "split"),
    "compare": (*EVENT_KEYS, "features", "images", "split", "training_weights", "training_batches", "classifiers",
                "evaluation", "significance"),
    "headline": (*EVENT_KEYS, "features", "images", "split", "training_weights", "training_batches", "classifiers",
                 "evaluation", "significance", "binning", "inference"),
}  # fmt: skip
#: What a classifier's stage depends on beyond its training: the blocks of the stage and those before it.
MODEL_STAGE_KEYS = {
    "train": (),
    "evaluate": ("evaluation", "significance"),
    "binning": ("evaluation", "binning", "significance"),
    "inference": ("evaluation", "binning", "significance", "inference"),
}


def config_part(config: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The entries of ``config`` named by ``keys`` (a dotted key such as ``classifiers.bdt`` is one
    entry of a block, kept under its parents), in the order of ``keys``; keys not in the config
    are left out."""
    part: dict[str, Any] = {}
    for key in keys:
        *parents, last = key.split(".")
        source, target = config, part
        for name in parents:
            source, target = source[name], target.setdefault(name, {})
        if last in source:
            target[last] = source[last]
    return part


def provenance_config(
    config: Mapping[str, Any],
    kind: str,
    *,
    model: str | None = None,
    classifier: Any = None,
    process: str | None = None,
) -> dict[str, Any]:
    """The part of ``config`` the results of ``kind`` depend on, recorded (with its hash) in their
    provenance: a dataset or analysis-wide result (:data:`PROVENANCE_KEYS`); a process's chunks or
    skim (``kind`` "generate" or "skim" with ``process``: its own block without role, class and
    title, which do not change its events); or a classifier's stage (``kind`` one of
    :data:`MODEL_STAGE_KEYS` with ``model``, the instance's name, and ``classifier``, its
    :class:`~phenoflow.models.registry.Classifier`): only the inputs and weights it uses and its
    own block."""
    if process is not None:
        keys = ("seed", "collider", "generation", "detector")
        keys += ("luminosity_fb", "selection", "substructure") if kind == "skim" else ()
        events = {k: v for k, v in config["processes"][process].items() if k not in ("role", "class", "title")}
        return {**{k: config[k] for k in keys if k in config}, "processes": {process: events}}
    if model is None:
        return config_part(config, PROVENANCE_KEYS[kind])
    inputs = ("images",) if classifier.images else ()
    weights = () if classifier.description.physical_weights else ("training_weights",)
    weights += ("training_batches",) if classifier.description.batched else ()
    keys = (*EVENT_KEYS, "features", *inputs, "split", *weights, f"classifiers.{model}")
    # a model whose training maximises the significance (the cut-and-count) depends on its
    # settings, and on the threshold rule's minimum of MC events unless its block sets its own
    if classifier.description.significance_objective:
        keys += ("significance",) + (() if "min_mc_events" in classifier.hyper else ("evaluation.min_mc_events",))
    return config_part(config, keys + MODEL_STAGE_KEYS[kind])


def config_hash(part: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a config part, independent of key order."""
    text = json.dumps(part, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_hash(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that are installed (others are left out)."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


#: The directory whose git checkout the records name: the one holding src/phenoflow.
SOURCE = Path(__file__).resolve().parents[2]


def git_state(directory: str | os.PathLike = SOURCE) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding ``directory`` (dirty: tracked
    files changed since the commit), or None where there is none or no git command."""
    try:
        run = dict(cwd=directory, capture_output=True, text=True, timeout=30)
        head = subprocess.run(["git", "rev-parse", "HEAD"], **run)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def now() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def record(
    config_part: Mapping[str, Any], started: str, inputs: Iterable[str | os.PathLike] = (), **fields: Any
) -> dict:
    """A provenance record: the given fields, the config part and its hash, input hashes,
    package versions, the Python version, the source's git state (:func:`git_state`) and the
    job's start (``started``, from :func:`now`) and end (now)."""
    return {
        **fields,
        "started": started,
        "finished": now(),
        "config_hash": config_hash(config_part),
        "config": dict(config_part),
        "inputs": {str(p): file_hash(p) for p in inputs},
        "packages": package_versions(),
        "python": platform.python_version(),
        "git": git_state(),
    }


def write_record(
    path: str | os.PathLike,
    config_part: Mapping[str, Any],
    started: str,
    inputs: Iterable[str | os.PathLike] = (),
    **fields: Any,
) -> None:
    """Write the :func:`record` of a job (its ``fields`` first, e.g. kind and seeds) as YAML, atomically."""
    from phenoflow.io import write_yaml

    write_yaml(path, record(config_part, started, inputs, **fields))
