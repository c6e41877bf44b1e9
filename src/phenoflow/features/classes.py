"""The classes a classifier learns, from the processes of the config.

Every process belongs to a class: its ``class`` key, or else its role (``signal`` or
``background``). Processes sharing a class name form one class. Background classes come first,
then signal classes, each in the order the config first names them; so with one class per role
the class index equals the binary label (0 background, 1 signal), and with more classes the
classifiers output a softmax over all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Classes:
    """Class names (index = class number), which of them are signal, and the class of each process."""

    names: tuple[str, ...]
    is_signal: tuple[bool, ...]
    of_process: Mapping[str, int]

    @property
    def n(self) -> int:
        """Number of classes."""
        return len(self.names)

    @property
    def binary(self) -> bool:
        """True for one signal and one background class (the classifier outputs one probability)."""
        return self.n == 2

    @property
    def signal_indices(self) -> list[int]:
        """Indices of the signal classes."""
        return [i for i, s in enumerate(self.is_signal) if s]

    def as_dict(self) -> dict:
        """JSON/YAML-ready description: per class its index, role and processes."""
        return {
            name: {
                "index": i,
                "role": "signal" if self.is_signal[i] else "background",
                "processes": [p for p, c in self.of_process.items() if c == i],
            }
            for i, name in enumerate(self.names)
        }

    @classmethod
    def from_dict(cls, description: Mapping[str, Mapping]) -> Classes:
        """The inverse of :meth:`as_dict` (classes in index order)."""
        items = sorted(description.items(), key=lambda item: item[1]["index"])
        of_process = {p: i for i, (_, spec) in enumerate(items) for p in spec["processes"]}
        return cls(tuple(n for n, _ in items), tuple(s["role"] == "signal" for _, s in items), of_process)


def class_errors(processes: Mapping[str, Mapping]) -> list[str]:
    """Config problems of the classes, as ``key: problem`` lines: a class shared by a signal and
    a background process, or a class name that is the other role's name."""
    roles: dict[str, tuple[str, str]] = {}
    errors = []
    for process, spec in processes.items():
        name = spec.get("class", spec["role"])
        if name in ("signal", "background") and name != spec["role"]:
            errors.append(f"processes.{process}.class: '{name}' is the name of the other role")
        elif name in roles and roles[name][0] != spec["role"]:
            first_role, first = roles[name]
            errors.append(
                f"processes.{process}.class: class '{name}' holds {first_role} process '{first}' "
                f"and {spec['role']} process '{process}'; a class is all signal or all background"
            )
        roles.setdefault(name, (spec["role"], process))
    return errors


def classes_from_config(processes: Mapping[str, Mapping]) -> Classes:
    """The classes of the config's ``processes`` block (see the module docstring for the order)."""
    errors = class_errors(processes)
    if errors:
        raise ValueError("; ".join(errors))
    order: dict[str, bool] = {}
    for role in ("background", "signal"):
        for spec in processes.values():
            if spec["role"] == role:
                order.setdefault(spec.get("class", role), role == "signal")
    names = tuple(order)
    index = {name: i for i, name in enumerate(names)}
    of_process = {p: index[spec.get("class", spec["role"])] for p, spec in processes.items()}
    return Classes(names, tuple(order.values()), of_process)
