"""Atomic file output and small structured-file helpers.

Every output is written to a temporary file in the destination folder and renamed into place,
so an interrupted job never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON (byte-identical for equal data)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_to_builtin) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file in the error if it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def write_yaml(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as block-style YAML with keys in insertion order."""
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(_to_builtin_deep(data), sort_keys=False))


def _to_builtin(obj: Any) -> Any:
    """Convert numpy scalars and arrays for JSON."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _to_builtin_deep(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _to_builtin_deep(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_builtin_deep(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj
