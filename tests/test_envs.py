"""Conda envs cannot be built here; check what can be: YAML, exact pins equal to what the tests
ran with, and that every rule's env file exists."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENVS = sorted((REPO / "envs").glob("*.yaml"))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_pins(env: Path) -> dict[str, str]:
    deps = yaml.safe_load(env.read_text())["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    pins = {}
    for line in pip:
        name, sep, ver = line.partition("==")
        assert sep, f"{env.name}: '{line}' is not pinned with =="
        pins[_norm(name)] = ver
    return pins


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_pins_equal_installed_versions(env):
    data = yaml.safe_load(env.read_text())
    assert data["channels"] == ["conda-forge"]
    for dep in data["dependencies"]:
        if isinstance(dep, str):
            assert re.fullmatch(r"[\w.-]+=[\w.]+", dep), f"{env.name}: '{dep}' is not pinned"
    for name, pinned in pip_pins(env).items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(f"{env.name}: {name} is pinned but not installed here")
        assert installed == pinned, f"{env.name}: {name}=={pinned} but the tests run with {installed}"


def test_lock_file_equals_installed_versions():
    for line in (REPO / "requirements" / "run.txt").read_text().splitlines():
        name, _, pinned = line.partition("==")
        if pinned:
            assert version(name) == pinned, f"requirements/run.txt: {name}=={pinned}, installed {version(name)}"


def test_every_conda_directive_points_to_an_existing_env():
    rules = sorted((REPO / "workflow" / "rules").glob("*.smk"))
    found = 0
    for smk in rules:
        for match in re.finditer(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / match.group(1)).resolve().is_file(), f"{smk.name}: {match.group(1)} missing"
            found += 1
    assert found >= 8
