"""Check an analysis config before any job runs; every error names its key."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from phenoflow import observables, selection
from phenoflow.classes import class_errors
from phenoflow.generation.pythia import hand_set_bias
from phenoflow.card import CardError, load_card


class ConfigError(ValueError):
    """The config is invalid; the message lists each problem as ``key.path: problem``."""


def _key(path) -> str:
    parts = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "(top level)"


def schema_errors(config: dict, schema_path: str | os.PathLike) -> list[str]:
    """JSON-schema problems of ``config`` as ``key.path: message`` lines, sorted."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(f"{_key(e.absolute_path)}: {e.message}" for e in validator.iter_errors(config))


def semantic_errors(config: dict) -> list[str]:
    """Problems a schema cannot express: files, the detector card, roles, expressions, split fractions."""
    errors = []
    for key, path in input_paths(config).items():
        if key != "detector.card" and not os.path.isfile(path):  # the card is checked by loading it
            errors.append(f"{key}: no such file '{path}'")
    try:
        load_card(config["detector"]["card"])
    except CardError as err:
        errors.append(f"detector.card: {err}")
    roles = {p.get("role") for p in config["processes"].values()}
    if not {"signal", "background"} <= roles:
        errors.append("processes: need at least one signal and one background process")
    errors += class_errors(config["processes"])
    for name, process in config["processes"].items():
        if process.get("bias"):
            errors += [
                f"processes.{name}.pythia[{i}]: sets '{process['pythia'][i].split('=')[0].strip()}' by hand; "
                f"remove it, processes.{name}.bias sets Pythia's biased selection"
                for i in hand_set_bias(process["pythia"])
            ]
    for i, cut in enumerate(config["selection"]["cuts"]):
        try:
            selection.parse(cut, where=f"selection.cuts[{i}]")
        except selection.SelectionError as err:
            errors.append(str(err))
    for i, name in enumerate(config["features"]["names"]):
        try:
            observables.check(name)
        except KeyError as err:
            errors.append(f"features.names[{i}]: {err.args[0]}")
    if "cnn" in config["classifiers"] and "images" not in config:
        errors.append("classifiers.cnn: the CNN trains on jet images; add an images block")
    total = sum(config["split"]["fractions"].values())
    if abs(total - 1) > 1e-9:
        errors.append(f"split.fractions: must sum to 1, got {total:g}")
    return errors


#: What the HTCondor executor plugin cannot pass in a job's arguments: it drops the shell quotes
#: Snakemake puts around them, so HTCondor splits a path at whitespace and expands ``$(...)`` as
#: one of its own submit macros.
_HTCONDOR_UNSAFE = re.compile(r"[\s'\"$]")


def input_paths(config: dict[str, Any]) -> dict[str, str]:
    """Every file the config names, by its key: the detector card, LHE files, Delphes cards."""
    paths = {"detector.card": str(config["detector"]["card"])}
    for name, process in config["processes"].items():
        if "lhe" in process:
            paths[f"processes.{name}.lhe.file"] = str(process["lhe"]["file"])
        if "delphes_card" in process.get("madgraph", {}):
            paths[f"processes.{name}.madgraph.delphes_card"] = str(process["madgraph"]["delphes_card"])
    return paths


def htcondor_path_errors(paths: Mapping[str, str]) -> list[str]:
    """``what: problem`` for each path the HTCondor executor plugin would break (whitespace,
    quotes or ``$``), with ``paths`` mapping a description (config key, "working directory") to it."""
    return [
        f"{what}: '{path}' contains whitespace, a quote or '$', which the HTCondor executor cannot pass to its jobs"
        for what, path in paths.items()
        if _HTCONDOR_UNSAFE.search(path)
    ]


def check_config(config: dict[str, Any], schema_path: str | os.PathLike) -> None:
    """Raise :class:`ConfigError` listing every problem of ``config``; return if it is valid."""
    errors = schema_errors(config, schema_path)
    if not errors:
        errors = semantic_errors(config)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
