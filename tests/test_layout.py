"""The package's shape: stage packages, and no import cycle between phenoflow's modules (imports
inside functions included, since a cycle there is still a tangle a reader has to hold in mind)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "phenoflow"
STAGES = ("generation", "detector", "events", "features", "models", "evaluation", "binning", "inference")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The phenoflow modules ``path`` imports anywhere in its body (``from phenoflow.x import y``
    counts y when y is a module, else x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return {m for m in found if m in modules}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {}
    for name, path in paths.items():
        graph[name] = imported_modules(path, modules) - {name}
    return graph


def test_no_import_cycle_between_phenoflow_modules():
    graph = import_graph()
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")


def test_cycle_detection_finds_a_cycle(tmp_path):
    """The check above can fail: two modules importing each other (inside a function) are a cycle."""
    (tmp_path / "a.py").write_text("def f():\n    from phenoflow.b import g\n")
    (tmp_path / "b.py").write_text("from phenoflow import a\n")
    modules = {"phenoflow.a", "phenoflow.b"}
    assert imported_modules(tmp_path / "a.py", modules) == {"phenoflow.b"}
    assert imported_modules(tmp_path / "b.py", modules) == {"phenoflow.a"}
    with pytest.raises(graphlib.CycleError):
        tuple(
            graphlib.TopologicalSorter({"phenoflow.a": {"phenoflow.b"}, "phenoflow.b": {"phenoflow.a"}}).static_order()
        )


def test_library_is_grouped_by_stage():
    """Stage code lives in its stage's package; only shared infrastructure stays at the top."""
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert set(top) <= {
        "arrays",
        "config",
        "defaults",
        "expression",
        "io",
        "kinematics",
        "logs",
        "parquet",
        "plotstyle",
        "provenance",
        "retry",
        "seeds",
        "significance",
        "tf_threads",
        "variations",
    }, top
    present = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert present <= set(STAGES), present - set(STAGES)
