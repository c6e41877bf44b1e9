"""Delphes-layout ROOT ntuples: write our chunks, read ours and real Delphes files alike.

The tree is called ``Delphes``; each collection is a branch family named like Delphes' own
(``Jet.PT``, ``FatJet.Mass``, ``MissingET.MET``, ``Event.Weight``) with a ``<Name>_size`` counter.
``Event``, ``MissingET`` and ``ScalarHT`` hold one entry per event, as in Delphes. Units: GeV, rad.
"""

from __future__ import annotations

import os
from typing import Iterator, Sequence

import awkward as ak
import numpy as np
import uproot
import vector

from phenoflow.io import atomic_path

vector.register_awkward()

TREE = "Delphes"

#: Per collection: the Delphes branch fields the analysis reads and the record field each becomes.
READ_FIELDS = {
    "Jet": {"PT": "pt", "Eta": "eta", "Phi": "phi", "Mass": "mass", "BTag": "btag"},
    "FatJet": {"PT": "pt", "Eta": "eta", "Phi": "phi", "Mass": "mass"},
    "Electron": {"PT": "pt", "Eta": "eta", "Phi": "phi", "Charge": "charge"},
    "Muon": {"PT": "pt", "Eta": "eta", "Phi": "phi", "Charge": "charge"},
    "Photon": {"PT": "pt", "Eta": "eta", "Phi": "phi"},
}
#: The EFlow collections (Delphes' particle-flow objects) and the name of their pT field; together
#: they are the constituents of jets for substructure and images.
EFLOW = {"EFlowTrack": "PT", "EFlowPhoton": "ET", "EFlowNeutralHadron": "ET"}
EFLOW_BRANCHES = tuple(f"{name}.{field}" for name, pt in EFLOW.items() for field in (pt, "Eta", "Phi"))
#: Branches the analysis reads from any Delphes-layout file.
READ_BRANCHES = (
    "Event.Weight",
    *(f"{name}.{field}" for name, fields in READ_FIELDS.items() for field in fields),
    "MissingET.MET", "MissingET.Phi",
    "ScalarHT.HT",
)  # fmt: skip


def _one_per_event(values: np.ndarray) -> ak.Array:
    values = np.asarray(values)
    return ak.unflatten(values, np.ones(len(values), dtype=np.int64))


def _f32(values: ak.Array) -> ak.Array:
    return ak.values_astype(values, np.float32)


def _i32(values: ak.Array) -> ak.Array:
    return ak.values_astype(values, np.int32)


def _kinematics(p4: ak.Array, pt_name: str = "PT", **extra: ak.Array) -> ak.Array:
    """Delphes fields of a jagged Momentum4D collection: PT (or ET), Eta, Phi, Mass/E, extras."""
    fields = {pt_name: _f32(p4.pt), "Eta": _f32(p4.eta), "Phi": _f32(p4.phi)}
    if pt_name == "PT":
        fields["Mass"] = _f32(p4.mass)
    else:
        fields["E"] = _f32(p4.E)
    return ak.zip({**fields, **extra})


def _met(met: ak.Array) -> ak.Array:
    n = len(met)
    return ak.zip(
        {
            "MET": _one_per_event(ak.to_numpy(met.rho).astype(np.float32)),
            "Eta": _one_per_event(np.zeros(n, dtype=np.float32)),
            "Phi": _one_per_event(ak.to_numpy(met.phi).astype(np.float32)),
        }
    )


def delphes_branches(
    objects: dict[str, ak.Array], weights: np.ndarray, sigma_pb: float, sigma_err_pb: float, first_event: int = 0
) -> dict[str, ak.Array]:
    """Map detector-level objects (see :func:`phenoflow.detector.simulate`) to Delphes branches.

    ``weights``: generator weight per event; ``sigma_pb``, ``sigma_err_pb``: the chunk's cross
    section and error (pb), written to every event as Delphes' ``Event.CrossSection`` does.
    Field names and types follow Delphes' classes (``Jet.BTag``, ``Electron.Charge``,
    ``EFlowPhoton.ET``, ...); kinematics are float32 as in Delphes.
    """
    n = len(weights)
    jets = objects["Jet"]
    photons = objects["Photon"]
    return {
        "Event": ak.zip(
            {
                "Number": _one_per_event(np.arange(first_event, first_event + n, dtype=np.int64)),
                # float64 (Delphes uses float32): the sum of the stored weights must equal the
                # sum the cross-section bookkeeping uses, to the last digit
                "Weight": _one_per_event(np.asarray(weights, dtype=np.float64)),
                "CrossSection": _one_per_event(np.full(n, sigma_pb, dtype=np.float32)),
                "CrossSectionError": _one_per_event(np.full(n, sigma_err_pb, dtype=np.float32)),
            }
        ),
        "Jet": _kinematics(jets, BTag=_i32(jets.btag), Flavor=_i32(jets.flavor)),
        "FatJet": _kinematics(objects["FatJet"]),
        "GenJet": _kinematics(objects["GenJet"]),
        **{
            name: _kinematics(objects[name], Charge=_i32(objects[name].charge), IsolationVar=_f32(objects[name].isolation))
            for name in ("Electron", "Muon")
        },
        "Photon": ak.zip({"PT": _f32(photons.pt), "Eta": _f32(photons.eta), "Phi": _f32(photons.phi),
                          "E": _f32(photons.E), "IsolationVar": _f32(photons.isolation)}),  # fmt: skip
        "EFlowTrack": ak.zip(
            {
                "PID": _i32(objects["EFlowTrack"].pid),
                "Charge": _i32(objects["EFlowTrack"].charge),
                "PT": _f32(objects["EFlowTrack"].pt),
                "Eta": _f32(objects["EFlowTrack"].eta),
                "Phi": _f32(objects["EFlowTrack"].phi),
            }
        ),
        "EFlowPhoton": _kinematics(objects["EFlowPhoton"], "ET"),
        "EFlowNeutralHadron": _kinematics(objects["EFlowNeutralHadron"], "ET"),
        "MissingET": _met(objects["MissingET"]),
        "GenMissingET": _met(objects["GenMissingET"]),
        "ScalarHT": ak.zip({"HT": _one_per_event(np.asarray(objects["ScalarHT"], dtype=np.float32))}),
    }


def write_ntuple(path: str | os.PathLike, branches: dict[str, ak.Array]) -> None:
    """Write Delphes-layout branches to a ROOT file atomically (``Jet.PT`` naming, ``Jet_size`` counters)."""
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp, compression=uproot.ZSTD(1)) as out:
            out.mktree(
                TREE,
                branches,
                title="Analysis tree (Delphes layout)",
                field_name=lambda outer, inner: f"{outer}.{inner}",
                counter_name=lambda counted: f"{counted}_size",
            )


def _eflow(arrays: ak.Array) -> ak.Array:
    """All EFlow objects of each event as massless Momentum4D (tracks, photons, neutral hadrons)."""

    def joined(field: str) -> ak.Array:
        parts = [arrays[f"{name}.{pt if field == 'PT' else field}"] for name, pt in EFLOW.items()]
        return ak.to_packed(ak.concatenate(parts, axis=1))

    pt = joined("PT")
    return ak.zip({"pt": pt, "eta": joined("Eta"), "phi": joined("Phi"), "mass": ak.zeros_like(pt)}, with_name="Momentum4D")


def _events_from_arrays(arrays: ak.Array, constituents: bool = False) -> ak.Array:
    """Analysis record per event from raw Delphes branches: weight, jet, fatjet, electron, muon,
    photon (Momentum4D; leptons and photons massless), met (Momentum2D), ht, and with
    ``constituents`` the EFlow objects ``eflow``."""

    def collection(name: str) -> ak.Array:
        fields = {field: arrays[f"{name}.{branch}"] for branch, field in READ_FIELDS[name].items()}
        if "mass" not in fields:
            fields["mass"] = ak.zeros_like(fields["pt"])
        return ak.zip(fields, with_name="Momentum4D")

    return ak.zip(
        {
            "weight": ak.values_astype(arrays["Event.Weight"][:, 0], np.float64),
            **{name.lower(): collection(name) for name in READ_FIELDS},
            "met": ak.zip({"pt": arrays["MissingET.MET"][:, 0], "phi": arrays["MissingET.Phi"][:, 0]}, with_name="Momentum2D"),
            "ht": arrays["ScalarHT.HT"][:, 0],
            **({"eflow": _eflow(arrays)} if constituents else {}),
        },
        depth_limit=1,
    )


def iterate_events(
    paths: Sequence[str | os.PathLike], step_size: str | int = "100 MB", constituents: bool = False
) -> Iterator[ak.Array]:
    """Yield analysis records (see :func:`read_events`) in bounded chunks from Delphes-layout files;
    with ``constituents`` they also carry the EFlow objects (``eflow``)."""
    files = [f"{p}:{TREE}" for p in paths]
    branches = [*READ_BRANCHES, *(EFLOW_BRANCHES if constituents else ())]
    try:
        for arrays in uproot.iterate(files, filter_name=branches, step_size=step_size, library="ak"):
            yield _events_from_arrays(arrays, constituents)
    except (OSError, ValueError, uproot.exceptions.KeyInFileError) as err:
        raise ValueError(f"cannot read Delphes-layout tree from {', '.join(map(str, paths))}: {err}") from err


def read_events(paths: Sequence[str | os.PathLike], constituents: bool = False) -> ak.Array:
    """All events of the files as records: ``weight`` (generator weight), ``jet``, ``fatjet``,
    ``electron``, ``muon``, ``photon`` (Momentum4D, pT-ordered, GeV), ``met`` (Momentum2D,
    GeV), ``ht`` (GeV), and with ``constituents`` ``eflow`` (massless Momentum4D, GeV)."""
    chunks = list(iterate_events(paths, constituents=constituents))
    return ak.concatenate(chunks) if chunks else ak.Array([])
