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
