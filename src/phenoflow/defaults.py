"""The defaults of the config's keys, read from the config schema: the one place they are written.

Snakemake's ``validate`` fills the schema's defaults into a config before any job runs; the
library's settings objects and model classes take the same values from here, so a value is
written once (``workflow/schemas/config.schema.yaml``, which the package holds as
``phenoflow/config.schema.yaml``). Keys are dotted paths through the schema's ``properties``:
``"inference.cl"``, ``"binning.gmm"`` (a block), and ``"$defs.mlp"`` for a definition (the
classifier methods' settings are ``$defs.bdt``, ``$defs.cuts``, ``$defs.mlp``, ``$defs.cnn``).
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

import yaml

#: The config schema, as the package holds it.
SCHEMA = resources.files("phenoflow") / "config.schema.yaml"


@functools.cache
def _schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))


def _resolved(node: dict) -> dict:
    """``node`` with a local ``$ref`` followed."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target = _schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return _resolved(target)


def _properties(node: dict) -> dict:
    """The properties a schema node gives an object: its own and those of its ``then`` branch
    (a key that may also be a boolean, like ``inference.mc_statistics``)."""
    node = _resolved(node)
    return {**node.get("then", {}).get("properties", {}), **node.get("properties", {})}


def _node(key: str) -> dict:
    parts = key.split(".")
    if parts[0] == "$defs":
        node, parts = _schema()["$defs"][parts[1]], parts[2:]
    else:
        node = _schema()
    for i, part in enumerate(parts):
        props = _properties(node)
        if part not in props:
            raise KeyError(f"the config schema has no key {'.'.join(parts[: i + 1])!r} (asked for {key!r})")
        node = props[part]
    return _resolved(node)


def default(key: str) -> Any:
    """The schema's default of config key ``key`` (a copy, so that it can be changed); KeyError
    naming the key if the schema has no such key or gives it no default."""
    node = _node(key)
    if "default" not in node:
        raise KeyError(f"the config schema gives {key!r} no default")
    return copy.deepcopy(node["default"])


def block_defaults(key: str) -> dict[str, Any]:
    """The defaults of every key of block ``key`` that has one, by key name (copies)."""
    return {
        name: copy.deepcopy(node["default"])
        for name, node in _properties(_node(key)).items()
        if "default" in _resolved(node)
    }
