"""Conda envs cannot be built here; check what can be: YAML, exact pins equal to what the tests
ran with, and that every rule's env file exists."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENVS = sorted((REPO / "workflow" / "envs").glob("*.yaml"))


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


def _rules() -> list[tuple[str, Path, Path]]:
    """(rule name, script, conda env) for every rule with a script."""
    out = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.MULTILINE)[1:]:
            name = block.split(":", 1)[0].strip()
            script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            if script:
                assert env, f"{smk.name}: rule {name} has a script but no conda env"
                out.append((name, (smk.parent / script.group(1)).resolve(), (smk.parent / env.group(1)).resolve()))
    return out


#: Run in the probe after the script's imports: the phenoflow modules the script names, and those
#: they name in turn, may import more inside functions (e.g. pythia8mc, pylhe for an LHE chunk),
#: which the script may call: import those too. Packages loaded only as parents are not followed.
_LAZY_IMPORTS = """
import ast, importlib, importlib.util
todo, done = list(NAMED), set()
while todo:
    name = todo.pop()
    if name in done or name.split('.')[0] != 'phenoflow':
        continue
    done.add(name)
    for node in ast.walk(ast.parse(open(importlib.import_module(name).__file__).read())):
        if isinstance(node, ast.Import):
            named = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            named = [node.module]
            for a in node.names:  # 'from phenoflow import binning_plots' names a module
                try:
                    if importlib.util.find_spec(node.module + '.' + a.name):
                        named.append(node.module + '.' + a.name)
                except ModuleNotFoundError:
                    pass
        else:
            continue
        for module in named:
            importlib.import_module(module)
            todo.append(module)
"""


def _distributions_imported_by(script: Path) -> set[str]:
    """Third-party distributions loaded when the script's imports run in a clean interpreter,
    including those the phenoflow modules it loads import inside functions."""
    import ast
    import json
    import subprocess
    import sys

    imports, named = [], []
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            imports += [f"import {a.name}" for a in node.names]
            named += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            imports.append(f"from {node.module} import {', '.join(a.name for a in node.names)}")
            named += [node.module, *(f"{node.module}.{a.name}" for a in node.names if node.module == "phenoflow")]
    probe = "\n".join(
        [
            "import sys",
            "startup = set(sys.modules)",  # e.g. setuptools' .pth hook, not the script's doing
            *imports,
            f"NAMED = {named!r}",
            _LAZY_IMPORTS,
            "import json, importlib.metadata as m",
            "dists = m.packages_distributions()",
            "top = {name.split('.')[0] for name in set(sys.modules) - startup}",
            "print(json.dumps(sorted({d for t in top for d in dists.get(t, [])})))",
        ]
    )
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return {_norm(d) for d in json.loads(out.stdout.strip().splitlines()[-1])} - {"phenoflow"}


@pytest.mark.parametrize("rule,script,env", _rules(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_package_a_script_imports_is_in_its_env(rule, script, env):
    pinned = set(pip_pins(env))
    missing = _distributions_imported_by(script) - pinned
    assert not missing, f"rule {rule}: {script.name} imports {sorted(missing)}, not in {env.name}"
