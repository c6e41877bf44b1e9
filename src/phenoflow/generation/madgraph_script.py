"""The MadGraph command script of one chunk, written from a process's ``madgraph`` config block
(model, definitions, process lines, run_card and Pythia8 settings) for
:mod:`~phenoflow.generation.madgraph` to run. Energies in GeV.

Every value from the config is checked before it is written into the script, so that no value can
end a MadGraph command and start another (newline, ``;``, ``!``, ``#``, ``$(``, quotes, ...); a bad
value is a ValueError that names its config key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence

from phenoflow.defaults import default
from phenoflow.seeds import MAX_PYTHIA_SEED

#: Keys of the ``madgraph`` block.
KEYS = ("model", "process", "definitions", "run_card", "pythia8_card", "delphes_card")
#: run_card settings phenoflow sets itself (the output names also depend on run_tag).
RESERVED_RUN_CARD = ("nevents", "iseed", "ebeam1", "ebeam2", "run_tag")
#: Pythia8 settings phenoflow or MadGraph set; a process may not override them.
RESERVED_PYTHIA8 = ("Random:seed", "Random:setSeed", "Main:numberOfEvents", "HEPMCoutput:file", "Beams:LHEF",
                    "Beams:frameType")  # fmt: skip

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A run_card value given as a string: a number or a word such as lhapdf, True, 1e-3.
_TOKEN = re.compile(r"[A-Za-z0-9_.+-]+")
_MODEL = re.compile(r"[A-Za-z0-9_.+/-]+")
#: The characters of MadGraph's process syntax: particles, > , $ / @ = < ^ [QCD] {T} ( ) * :
_PROCESS_TEXT = re.compile(r"[A-Za-z0-9_ +\-~>,$/@=<^\[\]{}().*:]+")
_PYTHIA8_LINE = re.compile(r"(?P<key>[A-Za-z0-9_]+(?::[A-Za-z0-9_]+)*) *= *(?P<value>[A-Za-z0-9_.+\-:>,{}~ ]+)")
#: Paths MadGraph's makefiles and shell scripts (which do not quote them) handle.
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+-]+")


def _text(value: object, key: str, pattern: re.Pattern[str], what: str) -> str:
    """``value`` as a one-line string of the allowed characters, else ValueError naming ``key``."""
    if not isinstance(value, str) or not value.strip(" "):
        raise ValueError(f"{key}: must be a non-empty string, not {value!r}")
    text = value.strip(" ")
    if "$(" in text or not pattern.fullmatch(text):
        raise ValueError(
            f"{key}: {value!r} is not {what}; a newline, ';', '!', '#', '$(', quotes or other characters "
            "that could start another MadGraph command are not allowed"
        )
    return text


def _lines(value: object, key: str) -> list:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{key}: must be a list of strings, not {value!r}")
    return list(value)


def _run_card_value(value: object, key: str) -> str:
    """A run_card value as MadGraph reads it: a bool, an integer, a finite float or a simple token."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{key}: {value!r} is not a finite number")
        return repr(value)
    return _text(value, key, _TOKEN, "a number or a simple token (letters, digits, '_', '.', '+', '-')")


def _process_lines(madgraph: Mapping, key: str) -> list[str]:
    """import model, define ..., generate ..., add process ... lines, each checked."""
    model = _text(
        madgraph.get("model", default("$defs.process.madgraph.model")),
        f"{key}.model",
        _MODEL,
        "a model name or a path without spaces",
    )
    lines = [f"import model {model}"]
    for i, line in enumerate(_lines(madgraph.get("definitions"), f"{key}.definitions")):
        text = _text(line, f"{key}.definitions[{i}]", _PROCESS_TEXT, "a MadGraph 'define' line")
        if not re.match(r"define\s+\S", text):
            raise ValueError(f"{key}.definitions[{i}]: {line!r} must start with 'define'")
        lines.append(text)
    process = _lines(madgraph.get("process"), f"{key}.process")
    if not process:
        raise ValueError(f"{key}.process: give at least one line, 'generate ...'")
    for i, line in enumerate(process):
        text = _text(line, f"{key}.process[{i}]", _PROCESS_TEXT, "a MadGraph process line")
        first, other = re.match(r"generate\s+\S", text), re.match(r"add\s+process\s+\S", text)
        if (i == 0 and not first) or (i > 0 and not other):
            want = "'generate ...'" if i == 0 else "'add process ...'"
            raise ValueError(f"{key}.process[{i}]: {line!r} must start with {want}")
        lines.append(text)
    return lines


def _run_card_lines(madgraph: Mapping, key: str) -> list[str]:
    settings = madgraph.get("run_card") or {}
    if not isinstance(settings, Mapping):
        raise ValueError(f"{key}.run_card: must be a mapping of run_card names to values")
    lines = []
    for name, value in settings.items():
        where = f"{key}.run_card.{name}"
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"{where}: {name!r} is not a run_card name (letters, digits, '_')")
        if name.lower() in RESERVED_RUN_CARD:
            raise ValueError(f"{where}: set by phenoflow (events per chunk, seed, sqrt(s)); remove it")
        lines.append(f"set run_card {name} {_run_card_value(value, where)}")
    return lines


def _pythia8_lines(madgraph: Mapping, key: str) -> list[str]:
    lines = []
    reserved = {r.lower() for r in RESERVED_PYTHIA8}
    for i, line in enumerate(_lines(madgraph.get("pythia8_card"), f"{key}.pythia8_card")):
        where = f"{key}.pythia8_card[{i}]"
        match = _PYTHIA8_LINE.fullmatch(line.strip(" ")) if isinstance(line, str) else None
        if match is None:
            raise ValueError(
                f"{where}: {line!r} is not a Pythia8 setting 'Key:name = value' (value of letters, digits, "
                "spaces and _ . + - : > , { } ~)"
            )
        if match["key"].lower() in reserved:
            raise ValueError(f"{where}: '{match['key']}' is set by phenoflow or MadGraph; remove it")
        lines.append(f"set pythia8_card {match['key']} = {' '.join(match['value'].split())}")
    return lines


def _safe_path(path: str | os.PathLike, what: str) -> str:
    text = str(path)
    if not _SAFE_PATH.fullmatch(text):
        raise ValueError(f"{what} {text!r}: MadGraph needs a path of letters, digits and _ . / + - only")
    return text


def command_script(
    madgraph: Mapping,
    n_events: int,
    seed: int,
    sqrt_s_gev: float,
    process_dir: str | os.PathLike,
    delphes_card: str | os.PathLike,
    delphes_dir: str | os.PathLike,
    *,
    key: str = "madgraph",
    cores: int = 1,
) -> list[str]:
    """The MadGraph command script of one chunk, one command per line (no newlines in them).

    ``madgraph`` is a process's ``madgraph`` block (``key`` is its place in the config, for error
    messages). The script sets MadGraph's Delphes directory and core count for this session only,
    imports the model, defines, generates, writes ``process_dir`` and launches it with Pythia8 and
    Delphes; it sets ``n_events`` events, the seed (MadEvent's ``iseed`` and Pythia8's
    ``Random:seed``), beam energies ``sqrt_s_gev / 2`` (GeV), the user's run_card and Pythia8
    settings, then gives the Delphes card. Raises ValueError naming the config key of a bad value.
    """
    if not isinstance(madgraph, Mapping):
        raise ValueError(f"{key}: must be a mapping with the keys {list(KEYS)}")
    unknown = sorted(set(madgraph) - set(KEYS))
    if unknown:
        hint = " (MadSpin decays are not supported: write decay chains in the process line)" * ("decays" in unknown)
        raise ValueError(f"{key}: unknown key(s) {unknown}; known: {list(KEYS)}{hint}")
    if not (isinstance(n_events, int) and n_events >= 1):
        raise ValueError(f"n_events must be a positive integer, not {n_events!r}")
    if not (isinstance(seed, int) and 1 <= seed <= MAX_PYTHIA_SEED):
        raise ValueError(f"seed {seed!r} outside [1, {MAX_PYTHIA_SEED}] (valid for MadEvent and Pythia8)")
    if not (math.isfinite(sqrt_s_gev) and sqrt_s_gev > 0):
        raise ValueError(f"sqrt_s_gev must be positive, not {sqrt_s_gev!r}")
    if not (isinstance(cores, int) and cores >= 1):
        raise ValueError(f"cores must be a positive integer, not {cores!r}")
    process = _process_lines(madgraph, key)
    run_card = _run_card_lines(madgraph, key)
    pythia8 = _pythia8_lines(madgraph, key)
    proc = _safe_path(process_dir, "process directory")
    beam = repr(float(sqrt_s_gev) / 2.0)
    return [
        f"set delphes_path {_safe_path(delphes_dir, 'Delphes directory')} --no_save",
        f"set nb_core {cores} --no_save",
        "set automatic_html_opening False --no_save",
        *process,
        f"output {proc} -nojpeg",
        f"launch {proc}",
        "shower=Pythia8",
        "detector=Delphes",
        "analysis=OFF",
        "madspin=OFF",
        "done",
        f"set run_card nevents {n_events}",
        f"set run_card iseed {seed}",
        f"set run_card ebeam1 {beam}",
        f"set run_card ebeam2 {beam}",
        *run_card,
        "set pythia8_card Random:setSeed = on",
        f"set pythia8_card Random:seed = {seed}",
        *pythia8,
        _safe_path(delphes_card, "Delphes card"),
        "done",
    ]
