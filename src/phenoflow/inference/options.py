"""The inference's option blocks read from the config: a mapping's keys checked against the fields
of the dataclass it configures (:class:`phenoflow.inference.likelihood.MCStatistics`,
:class:`phenoflow.inference.theory.TheorySystematics`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


def checked_mapping(value: Any, cls: type, key: str, expected: str = "a mapping") -> Mapping:
    """``value`` if it is a mapping whose keys are fields of the dataclass ``cls``; else a
    ValueError naming the config ``key`` (``expected`` says what it must be) and the known keys."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: must be {expected}, got {value!r}")
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ValueError(f"{key}: unknown keys {unknown} (known: {', '.join(names)})")
    return value
