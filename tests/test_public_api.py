"""The package's public face: each stage package exports its public names, the version is written
once, the package is marked typed and carries a licence."""

import ast
import importlib
import tomllib
from pathlib import Path

import pytest

import phenoflow

REPO = Path(__file__).resolve().parents[1]
STAGES = ("generation", "detector", "events", "features", "models", "evaluation", "binning", "inference")


@pytest.mark.parametrize("stage", STAGES)
def test_every_exported_name_of_a_stage_resolves(stage):
    package = importlib.import_module(f"phenoflow.{stage}")
    assert package.__all__, f"phenoflow.{stage} exports nothing"
    for name in package.__all__:
        assert getattr(package, name) is not None, f"phenoflow.{stage}.{name}"
    assert set(package.__all__) <= set(dir(package))


@pytest.mark.parametrize("stage", STAGES)
def test_a_stub_lists_exactly_what_its_package_exports(stage):
    """A package loaded lazily reads its names from __init__.pyi; the stub and __all__ agree."""
    stub = REPO / "src" / "phenoflow" / stage / "__init__.pyi"
    if not stub.exists():
        return
    names = [a.asname or a.name for node in ast.parse(stub.read_text()).body if isinstance(node, ast.ImportFrom) for a in node.names]  # fmt: skip
    assert sorted(names) == sorted(importlib.import_module(f"phenoflow.{stage}").__all__)


def test_a_light_module_does_not_load_its_heavy_siblings():
    """The inference env imports phenoflow.features.splits without awkward or fastjet: importing
    one module of a lazily loaded package loads that module only."""
    import subprocess
    import sys

    code = "import sys, phenoflow.features.splits; print(sorted(m for m in ('awkward', 'fastjet', 'matplotlib') if m in sys.modules))"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_version_is_written_once():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "phenoflow.__version__"}
    assert phenoflow.__version__.count(".") == 2


def test_typed_and_licensed():
    assert (REPO / "src" / "phenoflow" / "py.typed").exists()
    assert (REPO / "LICENSE").read_text().startswith("BSD 3-Clause License")
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"] == {"text": "BSD-3-Clause"}
