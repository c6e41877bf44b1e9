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

from phenoflow.arrays import momenta
from phenoflow.io import atomic_path

vector.register_awkward()

TREE = "Delphes"

#: Branches the analysis reads from any Delphes-layout file.
READ_BRANCHES = (
    "Event.Weight",
    "Jet.PT", "Jet.Eta", "Jet.Phi", "Jet.Mass", "Jet.BTag",
    "FatJet.PT", "FatJet.Eta", "FatJet.Phi", "FatJet.Mass",
    "MissingET.MET", "MissingET.Phi",
    "ScalarHT.HT",
)  # fmt: skip


def _one_per_event(values: np.ndarray) -> ak.Array:
    values = np.asarray(values)
    return ak.unflatten(values, np.ones(len(values), dtype=np.int64))


def _jets(p4: ak.Array, btag: ak.Array | None = None) -> ak.Array:
    fields = {
        "PT": ak.values_astype(p4.pt, np.float32),
        "Eta": ak.values_astype(p4.eta, np.float32),
        "Phi": ak.values_astype(p4.phi, np.float32),
        "Mass": ak.values_astype(p4.mass, np.float32),
    }
    if btag is not None:
        fields["BTag"] = ak.values_astype(btag, np.int32)
    return ak.zip(fields)


def delphes_branches(
    objects: dict[str, ak.Array], weights: np.ndarray, sigma_pb: float, sigma_err_pb: float, first_event: int = 0
) -> dict[str, ak.Array]:
    """Map detector-level objects (see :func:`phenoflow.detector.reconstruct`) to Delphes branches.

    ``weights``: generator weight per event; ``sigma_pb``, ``sigma_err_pb``: the chunk's cross
    section and error (pb), written to every event as Delphes' ``Event.CrossSection`` does.
    """
    n = len(weights)
    particles = objects["Particle"]
    p4 = momenta(particles)
    met = objects["MissingET"]
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
        "Jet": _jets(objects["Jet"], ak.zeros_like(objects["Jet"].px, dtype=np.int32)),
        "FatJet": _jets(objects["FatJet"]),
        "MissingET": ak.zip(
            {
                "MET": _one_per_event(ak.to_numpy(met.rho).astype(np.float32)),
                "Eta": _one_per_event(np.zeros(n, dtype=np.float32)),
                "Phi": _one_per_event(ak.to_numpy(met.phi).astype(np.float32)),
            }
        ),
        "ScalarHT": ak.zip({"HT": _one_per_event(ak.to_numpy(objects["ScalarHT"]).astype(np.float32))}),
        "Particle": ak.zip(
            {
                "PID": ak.values_astype(particles.pid, np.int32),
                "Status": ak.values_astype(ak.ones_like(particles.pid), np.int32),
                "PT": ak.values_astype(p4.pt, np.float32),
                "Eta": ak.values_astype(p4.eta, np.float32),
                "Phi": ak.values_astype(p4.phi, np.float32),
                "Mass": ak.values_astype(particles.mass, np.float32),
            }
        ),
    }


def write_ntuple(path: str | os.PathLike, branches: dict[str, ak.Array]) -> None:
    """Write Delphes-layout branches to a ROOT file atomically (``Jet.PT`` naming, ``Jet_size`` counters)."""
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp, compression=uproot.ZLIB(4)) as out:
            out.mktree(
                TREE,
                branches,
                title="Analysis tree (Delphes layout)",
                field_name=lambda outer, inner: f"{outer}.{inner}",
                counter_name=lambda counted: f"{counted}_size",
            )


def _events_from_arrays(arrays: ak.Array) -> ak.Array:
    """Analysis record per event from raw Delphes branches: weight, jet, fatjet, met, ht."""

    def jets(name: str, with_btag: bool) -> ak.Array:
        fields = {
            "pt": arrays[f"{name}.PT"],
            "eta": arrays[f"{name}.Eta"],
            "phi": arrays[f"{name}.Phi"],
            "mass": arrays[f"{name}.Mass"],
        }
        if with_btag:
            fields["btag"] = arrays[f"{name}.BTag"]
        return ak.zip(fields, with_name="Momentum4D")

    return ak.zip(
        {
            "weight": ak.values_astype(arrays["Event.Weight"][:, 0], np.float64),
            "jet": jets("Jet", True),
            "fatjet": jets("FatJet", False),
            "met": ak.zip({"pt": arrays["MissingET.MET"][:, 0], "phi": arrays["MissingET.Phi"][:, 0]}, with_name="Momentum2D"),
            "ht": arrays["ScalarHT.HT"][:, 0],
        },
        depth_limit=1,
    )


def iterate_events(paths: Sequence[str | os.PathLike], step_size: str | int = "100 MB") -> Iterator[ak.Array]:
    """Yield analysis records (see :func:`read_events`) in bounded chunks from Delphes-layout files."""
    files = [f"{p}:{TREE}" for p in paths]
    try:
        for arrays in uproot.iterate(files, filter_name=list(READ_BRANCHES), step_size=step_size, library="ak"):
            yield _events_from_arrays(arrays)
    except (OSError, ValueError, uproot.exceptions.KeyInFileError) as err:
        raise ValueError(f"cannot read Delphes-layout tree from {', '.join(map(str, paths))}: {err}") from err


def read_events(paths: Sequence[str | os.PathLike]) -> ak.Array:
    """All events of the files as records: ``weight`` (generator weight), ``jet``/``fatjet``
    (Momentum4D, pT-ordered, GeV), ``met`` (Momentum2D, GeV), ``ht`` (GeV)."""
    chunks = list(iterate_events(paths))
    return ak.concatenate(chunks) if chunks else ak.Array([])
