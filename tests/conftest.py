"""Shared fixtures: small synthetic events in the analysis layout."""

from __future__ import annotations

import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import vector

sys.path.insert(0, str(Path(__file__).parent))
from workflow_helpers import copy_repo, snakemake  # noqa: E402

vector.register_awkward()


def make_events(
    jets: list[list[tuple]],
    fatjets: list[list[tuple]],
    met: list[tuple],
    ht=None,
    weight=None,
    electrons=None,
    muons=None,
) -> ak.Array:
    """Analysis records from (pt, eta, phi, mass) tuples per event and (met, phi) per event;
    electrons and muons as (pt, eta, phi, charge) tuples (none by default), no photons."""

    def coll(rows, extra=None):
        names = ("pt", "eta", "phi", "mass" if extra is None else extra)
        fields = {k: ak.Array([[j[i] for j in ev] for ev in rows], with_name=None) for i, k in enumerate(names)}
        if extra == "btag":
            fields["mass"], fields["btag"] = fields["btag"], ak.zeros_like(fields["pt"], dtype=np.int32)
        elif extra is not None:
            fields["mass"] = ak.zeros_like(fields["pt"])
        return ak.zip(fields, with_name="Momentum4D")

    n = len(met)
    return ak.zip(
        {
            "weight": np.ones(n) if weight is None else np.asarray(weight),
            "jet": coll(jets, "btag"),
            "fatjet": coll(fatjets),
            "electron": coll(electrons or [[] for _ in met], "charge"),
            "muon": coll(muons or [[] for _ in met], "charge"),
            "photon": coll([[] for _ in met]),
            "met": ak.zip({"pt": [m[0] for m in met], "phi": [m[1] for m in met]}, with_name="Momentum2D"),
            "ht": np.zeros(n) if ht is None else np.asarray(ht),
        },
        depth_limit=1,
    )


@pytest.fixture
def events() -> ak.Array:
    """Three events: two back-to-back jets across phi = +-pi; one jet; no jets."""
    return make_events(
        jets=[[(100.0, 0.0, 3.1, 0.0), (100.0, 0.0, -3.1, 0.0)], [(50.0, 1.0, 0.5, 5.0)], []],
        fatjets=[[(300.0, 0.5, 1.0, 91.0)], [], []],
        met=[(200.0, -2.0), (10.0, 0.0), (0.0, 0.0)],
        ht=[200.0, 50.0, 0.0],
    )


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    """The workflow run locally on the tiny config (once per test session)."""
    workdir = copy_repo(tmp_path_factory.mktemp("tiny"))
    snakemake(workdir, "--cores", "2")
    return workdir


def _toy_particles(n: int, seed: int) -> ak.Array:
    """n events of 20 massless visible pions and one neutrino each, px/py/pz/e in GeV."""
    rng = np.random.default_rng(seed)
    pt = rng.exponential(30.0, size=(n, 21)) + 1
    eta = rng.uniform(-2, 2, size=(n, 21))
    phi = rng.uniform(-np.pi, np.pi, size=(n, 21))
    pid = np.tile(np.r_[np.full(20, 211), 12], (n, 1))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2)
    counts = np.full(n, 21)
    f = lambda a: ak.unflatten(a.ravel(), counts)  # noqa: E731
    status = np.ones_like(pid)
    return ak.zip(
        {
            "pid": f(pid),
            "status": f(status),
            "px": f(px),
            "py": f(py),
            "pz": f(pz),
            "e": f(e),
            "mass": f(np.zeros_like(e)),
        }
    )


CARD = Path(__file__).resolve().parents[1] / "config" / "cards" / "cms.yaml"


@pytest.fixture
def ntuples(tmp_path) -> list[Path]:
    """Two chunk ntuples of 50 toy events each (generator weight 1, 2 pb), through the CMS card."""
    from phenoflow.detector.card import load_card
    from phenoflow.detector.ntuple import delphes_branches, write_ntuple
    from phenoflow.detector.simulation import simulate

    paths = []
    for i in range(2):
        objects = simulate(_toy_particles(50, i), load_card(CARD), seed=i)
        path = tmp_path / f"chunk{i}.root"
        write_ntuple(path, delphes_branches(objects, np.ones(50), 2.0, 0.1))
        paths.append(path)
    return paths
