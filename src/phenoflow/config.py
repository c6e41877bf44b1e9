"""Check an analysis config before any job runs; every error names its key."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import yaml

from phenoflow.defaults import default
from phenoflow.detector.card import CardError, load_card
from phenoflow.events import observables, selection
from phenoflow.features.classes import class_errors
from phenoflow.generation.pythia import hand_set_bias
from phenoflow.models.registry import DESCRIPTIONS, classifier_errors, migration_errors


class ConfigError(ValueError):
    """The config is invalid; the message lists each problem as ``key.path: problem``."""


class DuplicateKeyError(ConfigError):
    """A config file gives one key twice in a mapping (PyYAML would silently keep the last)."""


class StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a mapping with a key given twice raises
    :class:`DuplicateKeyError` naming the file, the key's full path (``processes.qcd``) and both
    lines. Keys that a merge (``<<: *anchor``) brings in may still be overridden."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._paths: dict[int, tuple] = {}  # id(node) -> its place in the document

    def construct_document(self, node: yaml.Node) -> Any:
        self._paths = {}
        self._record_paths(node, ())
        return super().construct_document(node)

    def _record_paths(self, node: yaml.Node, path: tuple) -> None:
        """Where each node sits in the document (keys and list indices), for the error message;
        a node an alias repeats keeps its first place."""
        if id(node) in self._paths:
            return
        self._paths[id(node)] = path
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                self._record_paths(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._record_paths(item, (*path, i))

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = first_line.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                continue
            if first is not None:
                where = _key((*self._paths.get(id(node), ()), key))
                raise DuplicateKeyError(
                    f"{key_node.start_mark.name}: line {line}: key '{where}' given twice, first on line {first} "
                    "(YAML would keep only the last); remove or rename one"
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml_strict(path: str | os.PathLike) -> Any:
    """The YAML (or JSON) file ``path``, read with :class:`StrictLoader`."""
    with open(path, encoding="utf-8") as stream:
        return yaml.load(stream, Loader=StrictLoader)


def check_config_files(paths) -> None:
    """Raise :class:`DuplicateKeyError` if one of the config files ``paths`` gives a key twice
    in a mapping. A file PyYAML cannot read at all (a JSON file using escapes YAML 1.1 lacks) is
    left to Snakemake, which has read it already."""
    for path in paths:
        try:
            load_yaml_strict(path)
        except yaml.YAMLError:
            continue


def _key(path) -> str:
    parts = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "(top level)"


def _within(key: str, parents) -> bool:
    """Whether the dotted ``key`` is one of ``parents`` or inside one of them."""
    return any(key == p or key.startswith((f"{p}.", f"{p}[")) for p in parents)


def schema_errors(config: dict, schema_path: str | os.PathLike) -> list[str]:
    """JSON-schema problems of ``config`` as ``key.path: message`` lines, sorted."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(f"{_key(e.absolute_path)}: {_message(e)}" for e in validator.iter_errors(config))


def _message(error: jsonschema.ValidationError) -> str:
    """The schema's message, or for alternatives of required keys (``oneOf: [{required: [a]},
    {required: [b]}]``) which keys to give."""
    options = [o.get("required") for o in error.validator_value] if error.validator == "oneOf" else []
    if not options or not all(options) or not isinstance(error.instance, dict):
        return error.message
    keys = " or ".join(f"'{', '.join(o)}'" for o in options)
    return f"give exactly one of {keys}; got {sorted(error.instance) or 'none'}"


def semantic_errors(config: dict) -> list[str]:
    """Problems a schema cannot express: files, the detector card, roles, expressions, classifier
    features and inputs, split fractions."""
    errors = []
    for key, path in input_paths(config).items():
        if key != "detector.card" and not os.path.isfile(path):  # the card is checked by loading it
            errors.append(f"{key}: no such file '{path}'")
    try:
        load_card(config["detector"]["card"])
    except CardError as err:
        errors.append(f"detector.card: {err}")
    roles = {p.get("role") for p in config["processes"].values()}
    for role in ("signal", "background"):
        if role not in roles:
            errors.append(
                f"processes: no {role} process (role: {role}); the analysis needs at least one signal "
                "and one background process"
            )
    errors += class_errors(config["processes"])
    errors += chunk_errors(config)
    errors += pythia_errors(config)
    errors += beam_errors(config)
    errors += lhe_variation_errors(config)
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
    errors += classifier_errors(config)
    total = sum(config["split"].get("fractions", {"k-fold": 1}).values())
    if abs(total - 1) > 1e-9:
        errors.append(f"split.fractions: must sum to 1, got {total:g}")
    return errors + _inference_errors(config)


#: Default of ``generation.max_chunks_per_process`` (the schema's default).
MAX_CHUNKS_PER_PROCESS = default("generation.max_chunks_per_process")


def chunk_errors(config: Mapping[str, Any]) -> list[str]:
    """Processes whose events imply more generation chunks (ceil(events / events_per_chunk), one
    job each) than ``generation.max_chunks_per_process``: a typo of a few zeros would otherwise
    have Snakemake build a DAG of millions of jobs for minutes before anything runs."""
    generation = config["generation"]
    per_chunk = generation["events_per_chunk"]
    limit = generation.get("max_chunks_per_process", MAX_CHUNKS_PER_PROCESS)
    errors = []
    for name, process in config["processes"].items():
        chunks = math.ceil(process["events"] / per_chunk)
        if chunks > limit:
            errors.append(
                f"processes.{name}.events: {process['events']} events are {chunks} generation chunks of "
                f"{per_chunk} (generation.events_per_chunk), more than generation.max_chunks_per_process = "
                f"{limit}; if the number is meant, raise generation.events_per_chunk or "
                "generation.max_chunks_per_process"
            )
    return errors


def binnable_instances(config: Mapping[str, Any]) -> list[str]:
    """Names of the classifier instances (``classifiers.<name>``) whose score is binned, in
    config order: every instance but cut-and-counts (a pass/fail score has nothing to bin)."""
    return [
        name
        for name, block in config["classifiers"].items()
        if isinstance(block, Mapping) and block.get("method") in DESCRIPTIONS and DESCRIPTIONS[block["method"]].binnable
    ]


#: The binning methods that optimise the bins; by default the inference builds likelihoods for these.
OPTIMISED_BINNINGS = ("optimal", "gmm", "gmm_likelihood", "gmm_limit")


class InferenceTargets(NamedTuple):
    """What the inference stage builds likelihoods for: classifier instances, binning methods and
    numbers of bins."""

    models: list[str]
    methods: list[str]
    n_bins: list[int]


def inference_targets(config: Mapping[str, Any]) -> InferenceTargets:
    """The ``inference`` block's targets with their defaults, which follow other blocks (so the
    schema cannot hold them): every binned classifier instance (sorted), the optimised binning
    methods (:data:`OPTIMISED_BINNINGS`) among ``binning.methods`` (all of them if none is), and
    every number of bins of ``binning.n_bins``."""
    inference, binning = config.get("inference", {}), config["binning"]
    optimised = [m for m in OPTIMISED_BINNINGS if m in binning["methods"]] or list(binning["methods"])
    return InferenceTargets(
        sorted(inference.get("classifiers", binnable_instances(config))),
        list(inference.get("methods", optimised)),
        list(inference.get("n_bins", binning["n_bins"])),
    )


def inference_classifier_errors(config: Mapping[str, Any]) -> list[str]:
    """``inference.classifiers`` may list binnable classifier instances only: one error per name
    that is no instance or whose score is not binned, each naming the binnable instances."""
    binnable = binnable_instances(config)
    available = f"the binnable instances are {', '.join(binnable)}" if binnable else "no instance is binnable"
    errors = []
    for i, name in enumerate(config.get("inference", {}).get("classifiers", [])):
        block = config["classifiers"].get(name)
        if block is None:
            problem = f"'{name}' is no classifier instance (classifiers.<name>)"
        elif name not in binnable:
            title = DESCRIPTIONS[block["method"]].title
            problem = f"'{name}' is a {title} (method {block['method']}), whose pass/fail score is not binned"
        else:
            continue
        errors.append(f"inference.classifiers[{i}]: {problem}; {available}")
    return errors


def _inference_errors(config: dict) -> list[str]:
    """The inference block may only name binnable classifier instances, binnings and processes
    that exist."""
    inference, binning = config.get("inference", {}), config["binning"]
    known = {
        "methods": (set(binning["methods"]), "binning.methods"),
        "n_bins": (set(binning["n_bins"]), "binning.n_bins"),
        "normalisation": (set(config["processes"]), "processes"),
    }
    errors = inference_classifier_errors(config)
    for key, (allowed, where) in known.items():
        unknown = [x for x in inference.get(key, []) if x not in allowed]
        if unknown:
            errors.append(f"inference.{key}: {unknown} not among the {where}")
    return errors


#: Beam particles of ``collider.beams`` by name, as PDG ids.
BEAM_IDS = {"p": 2212, "pbar": -2212}


def beam_ids(config: dict[str, Any]) -> tuple[int, int]:
    """PDG ids of the two beams of ``collider.beams`` (default p p)."""
    a, b = config["collider"].get("beams", default("collider.beams"))
    return BEAM_IDS[a], BEAM_IDS[b]


def pythia_errors(config: dict[str, Any]) -> list[str]:
    """Pythia lines of the processes that are reserved or that Pythia does not know or cannot
    read, each as ``processes.<name>.<list>[i]: problem``. The lines are read into one Pythia
    object (constructed only if there are lines, never initialised): about 0.2 s."""
    lists = []
    for name, process in config["processes"].items():
        if "pythia" in process:
            lists.append((f"processes.{name}.pythia", process["pythia"], False))
        if "lhe" in process:
            lists.append((f"processes.{name}.lhe.pythia", process["lhe"].get("pythia", []), False))
        if "madgraph" in process:  # MadGraph's Pythia interface adds namespaces of its own
            lists.append((f"processes.{name}.madgraph.pythia8_card", process["madgraph"].get("pythia8_card", []), True))
    if not any(lines for _, lines, _ in lists):
        return []
    from phenoflow.generation.pythia import SettingsCheck

    check = SettingsCheck()
    return [
        error for key, lines, lenient in lists for error in check.errors(key, lines, pythia_namespaces_only=lenient)
    ]


def _beam_names(ids: tuple[int, int]) -> str:
    names = {v: k for k, v in BEAM_IDS.items()}
    return " ".join(names.get(i, f"PDG {i}") for i in ids)


def beam_errors(config: dict[str, Any]) -> list[str]:
    """LHE files whose beams (from the ``<init>`` block only) are not ``collider``'s -- beam
    particles (in either order) or energies other than sqrt_s_gev / 2 each -- unless the process
    sets ``lhe.allow_beam_mismatch``; MadGraph processes with beams other than p p."""
    errors = []
    sqrt_s = float(config["collider"]["sqrt_s_gev"])
    want = beam_ids(config)
    for name, process in config["processes"].items():
        if "madgraph" in process and want != (2212, 2212):
            errors.append(
                f"processes.{name}.madgraph: phenoflow runs MadGraph for p p beams only, but collider.beams "
                f"is {_beam_names(want)}; generate the events yourself and give them as an LHE file"
            )
        lhe = process.get("lhe")
        if not lhe or lhe.get("allow_beam_mismatch") or not os.path.isfile(lhe["file"]):
            continue  # a missing file is reported by semantic_errors
        from phenoflow.generation.lhe import read_beams

        key = f"processes.{name}.lhe.file"
        try:
            ids, energies = read_beams(lhe["file"])
        except ValueError as err:
            errors.append(f"{key}: {err}")
            continue
        same_energy = all(abs(e - sqrt_s / 2) <= 1e-6 * sqrt_s for e in energies)
        if sorted(ids) != sorted(want) or not same_energy:
            file_sqrt_s = 2 * (energies[0] * energies[1]) ** 0.5 if min(energies) > 0 else 0.0
            errors.append(
                f"{key}: the file's beams are {_beam_names(ids)} at {energies[0]:g} + {energies[1]:g} GeV "
                f"(sqrt(s) = {file_sqrt_s:g} GeV), but collider is {_beam_names(want)} at sqrt(s) = {sqrt_s:g} GeV "
                f"({sqrt_s / 2:g} GeV per beam); change collider, or set processes.{name}.lhe.allow_beam_mismatch: "
                "true to shower the file's beams anyway"
            )
    return errors


def lhe_variation_errors(config: dict[str, Any]) -> list[str]:
    """LHE files that lack a variation their process asks for (``lhe.variations``), from the
    files' headers only, each naming the file, the variation and what the file provides."""
    errors = []
    for name, process in config["processes"].items():
        lhe = process.get("lhe") or {}
        if not lhe.get("variations") or not os.path.isfile(lhe["file"]):
            continue  # a missing file is reported by semantic_errors
        from phenoflow.generation.lhe import read_variations

        try:
            read_variations(lhe["file"], lhe["variations"])
        except ValueError as err:
            errors.append(f"processes.{name}.lhe.variations: {err}")
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
    """Raise :class:`ConfigError` listing every problem of ``config``; return if it is valid.

    A classifier of the old shape (keyed by its method, without ``method``) gets one message
    saying how to migrate it instead of the schema's."""
    old = migration_errors(config)
    errors = [f"{key}: {message}" for key, message in old.items()]
    errors += [e for e in schema_errors(config, schema_path) if not _within(e.split(": ", 1)[0], old)]
    if not errors:
        errors = semantic_errors(config)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
