"""Write workflow/envs/*.yaml: each rule family's direct packages plus their whole dependency closure,
pinned to the versions in requirements/run.txt, so a conda env installs exactly what the tests
ran with. Run it with the project's venv after changing the lock or a family's packages:

    .venv/bin/python requirements/make_envs.py
"""

from __future__ import annotations

import re
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]

#: Direct third-party packages of each rule family: what its scripts and their phenoflow modules
#: import (every family lazy-loader: the stage packages' ``__init__`` load their names with it),
#: also inside functions (tests/test_envs.py follows those imports: fastjet in "ml" is
#: reached through phenoflow.features.datasets -> observables -> substructure, pyhf through the
#: binning stage's likelihood objective -> phenoflow.inference), plus the optional packages
#: those libraries import when present (cloudpickle, rich, psutil, charset-normalizer), so that
#: the env holds exactly what the tests ran with. The inference fits run pyhf's TensorFlow backend,
#: which imports tensorflow-probability, which imports tf-keras beside Keras 3.
FAMILIES = {
    "generate": ["lazy-loader", "pythia8mc", "pylhe", "fastjet", "particle", "uproot", "awkward", "vector", "numpy", "pyarrow", "pyyaml", "cloudpickle"],
    "analysis": ["lazy-loader", "uproot", "awkward", "vector", "fastjet", "numpy", "pandas", "tabulate", "pyarrow", "scikit-learn", "matplotlib", "mplhep",
                 "pyyaml", "cloudpickle", "rich", "psutil", "charset-normalizer"],
    "ml": ["lazy-loader", "pyhf", "xgboost", "tensorflow", "keras", "tensorflow-probability", "tf-keras", "hist", "scikit-learn", "uproot", "awkward", "vector", "fastjet", "numpy", "pandas", "pyarrow", "matplotlib", "mplhep",
           "pyyaml", "cloudpickle", "rich", "psutil", "charset-normalizer"],
    "madgraph": ["lazy-loader", "uproot", "awkward", "vector", "numpy", "pyarrow", "pyyaml", "cloudpickle"],
    "inference": ["lazy-loader", "pyhf", "tensorflow", "tensorflow-probability", "tf-keras", "threadpoolctl", "hist", "scipy", "scikit-learn", "numpy", "pandas", "tabulate", "pyarrow",
                  "matplotlib", "mplhep", "pyyaml", "cloudpickle", "rich", "psutil", "charset-normalizer", "narwhals", "idna"],
}  # fmt: skip
#: Conda-forge packages a family needs beyond Python ones (no pip counterpart, so no lock pin):
#: MadGraph5_aMC@NLO with its Pythia8 interface, Pythia8 and Delphes with ROOT. They fit together:
#: mg5amcnlo-pythia8-interface 1.3.0 is built for pythia8 8.311 and 8.312 only, delphes 3.5.0 has
#: builds for root 6.34.4 made against pythia8 8.312, and mg5amcnlo 3.5.7 needs Python <= 3.11.
CONDA_ONLY = {
    "madgraph": [
        "mg5amcnlo=3.5.7",
        "mg5amcnlo-pythia8-interface=1.3.0",
        "pythia8=8.312",
        "delphes=3.5.0",
        "root=6.34.4",
    ],
}
PYTHON = "3.11.7"


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock() -> dict[str, tuple[str, str]]:
    """Normalised name -> (name as written, version) from requirements/run.txt."""
    pins = {}
    for line in (REPO / "requirements" / "run.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pins[norm(name)] = (name, version)
    return pins


def closure(names: list[str]) -> set[str]:
    """The packages and everything they require (no extras), normalised names."""
    seen: set[str] = set()
    todo = [norm(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(norm(req.name))
    return seen


#: Packaging tools some packages require at run time (tensorflow: setuptools, wheel); pip's lock
#: file leaves them out, so they are pinned at the versions installed in the venv.
TOOLS = ("setuptools", "wheel")


def main() -> None:
    pins = lock()
    pins.update({tool: (tool, distribution(tool).version) for tool in TOOLS})
    pip_version = distribution("pip").version
    for family, direct in FAMILIES.items():
        names = sorted(closure(direct))
        missing = [n for n in names if n not in pins]
        if missing:
            raise SystemExit(f"{family}: {missing} are not in requirements/run.txt")
        lines = [
            f"# Conda env for the {family} rules, written by requirements/make_envs.py: its direct",
            f"# packages ({', '.join(direct)}) and all they require, pinned as in requirements/run.txt.",
            *(
                [f"# From conda-forge without a pip counterpart: {', '.join(CONDA_ONLY[family])}."]
                if family in CONDA_ONLY
                else []
            ),
            f"name: phenoflow-{family}",
            "channels:",
            "  - conda-forge",
            "dependencies:",
            f"  - python={PYTHON}",
            f"  - pip={pip_version}",
            *[f"  - {package}" for package in CONDA_ONLY.get(family, [])],
            "  - pip:",
            *[f"      - {pins[n][0]}=={pins[n][1]}" for n in names],
        ]
        (REPO / "workflow" / "envs" / f"{family}.yaml").write_text("\n".join(lines) + "\n")
        print(f"workflow/envs/{family}.yaml: {len(direct)} direct, {len(names)} pinned")


if __name__ == "__main__":
    main()
