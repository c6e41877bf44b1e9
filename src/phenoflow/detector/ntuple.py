"""Delphes-layout ROOT ntuples: write our chunks, read ours and real Delphes files alike.

The tree is called ``Delphes``; each collection is a branch family named like Delphes' own
(``Jet.PT``, ``FatJet.Mass``, ``MissingET.MET``, ``Event.Weight``) with a ``<Name>_size`` counter.
``Event``, ``MissingET`` and ``ScalarHT`` hold one entry per event, as in Delphes. A chunk with
theory variations also has Delphes' ``Weight`` collection: per event one entry per variation,
``Weight.Weight`` its weight and ``Weight.ID`` its index in the chunk's list of variations (kept in
the chunk's JSON); the reader gives them, when asked for by name, as the events' fields
``weight:<name>`` beside the nominal ``weight``. Units: GeV, rad.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

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
    objects: dict[str, ak.Array],
    weights: np.ndarray,
    sigma_pb: float,
    sigma_err_pb: float,
    first_event: int = 0,
    variation_weights: np.ndarray | None = None,
) -> dict[str, ak.Array]:
    """Map detector-level objects (see :func:`phenoflow.detector.simulation.simulate`) to Delphes branches.

    ``weights``: generator weight per event; ``sigma_pb``, ``sigma_err_pb``: the chunk's cross
    section and error (pb), written to every event as Delphes' ``Event.CrossSection`` does.
    Field names and types follow Delphes' classes (``Jet.BTag``, ``Electron.Charge``,
    ``EFlowPhoton.ET``, ...); kinematics are float32 as in Delphes. ``variation_weights`` (n_events,
    n_variations), in the units of ``weights``: the theory variations' weights, as the ``Weight``
    collection (float64, like ``Event.Weight``); none without variations.
    """
    n = len(weights)
    jets = objects["Jet"]
    photons = objects["Photon"]
    variation = {}
    if variation_weights is not None and np.shape(variation_weights)[1:] != (0,):
        variation_weights = np.asarray(variation_weights, dtype=np.float64)
        if variation_weights.ndim != 2 or len(variation_weights) != n:
            raise ValueError(f"variation weights of shape {variation_weights.shape} for {n} events")
        k = variation_weights.shape[1]
        variation["Weight"] = ak.zip(
            {
                "Weight": ak.unflatten(variation_weights.ravel(), np.full(n, k, dtype=np.int64)),
                "ID": ak.unflatten(np.tile(np.arange(k, dtype=np.int32), n), np.full(n, k, dtype=np.int64)),
            }
        )
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
            name: _kinematics(
                objects[name], Charge=_i32(objects[name].charge), IsolationVar=_f32(objects[name].isolation)
            )
            for name in ("Electron", "Muon")
        },
        "Photon": ak.zip(
            {
                "PT": _f32(photons.pt),
                "Eta": _f32(photons.eta),
                "Phi": _f32(photons.phi),
                "E": _f32(photons.E),
                "IsolationVar": _f32(photons.isolation),
            }
        ),  # fmt: skip
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
        **variation,
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


def _jagged(arrays: ak.Array, branch: str) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (n_events + 1,) from 0 and flat entries of one jagged branch read by uproot.

    uproot's layout (list offsets over a numpy array) is read from its buffers without copying;
    anything else goes through ``ak.num`` and ``ak.flatten``.
    """
    record = arrays.layout
    layout = record.content(branch) if isinstance(record, ak.contents.RecordArray) else None
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.NumpyArray):
        offsets = np.asarray(layout.offsets.data, dtype=np.int64)
        return offsets - offsets[0], layout.content.data[offsets[0] : offsets[-1]]
    values = arrays[branch]
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(ak.to_numpy(ak.num(values, axis=1)), out=offsets[1:])
    return offsets, ak.to_numpy(ak.flatten(values, axis=1))


def _branches(arrays: ak.Array, name: str, fields: dict[str, str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The branches ``<name>.<branch>`` of one collection: their common offsets and flat entries by field."""
    offsets, values = None, {}
    for branch, field in fields.items():
        branch_offsets, values[field] = _jagged(arrays, f"{name}.{branch}")
        if offsets is None:
            offsets = branch_offsets
        elif not np.array_equal(offsets, branch_offsets):
            raise ValueError(f"branch {name}.{branch} has other entries per event than {name}.{next(iter(fields))}")
    return offsets, values


def _one_each(arrays: ak.Array, branch: str) -> np.ndarray:
    """The first entry per event of a branch that holds one (``Event``, ``MissingET``, ``ScalarHT``)."""
    offsets, values = _jagged(arrays, branch)
    if np.any(offsets[1:] == offsets[:-1]):
        raise ValueError(f"branch {branch} has no entry in some events")
    return values[offsets[:-1]]


def _lists_of_records(offsets: np.ndarray, fields: dict[str, np.ndarray], name: str) -> ak.contents.Content:
    """Per event, a list of records ``name`` (e.g. Momentum4D): the layout of ``ak.zip(fields,
    with_name=name)`` for jagged fields with these ``offsets``, built without awkward's broadcasting."""
    records = ak.contents.RecordArray(
        [ak.contents.NumpyArray(values) for values in fields.values()], list(fields), parameters={"__record__": name}
    )
    return ak.contents.ListOffsetArray(ak.index.Index64(offsets), records)


def _eflow(arrays: ak.Array) -> ak.contents.Content:
    """All EFlow objects of each event as massless Momentum4D: tracks, then photons, then neutral hadrons.

    The per-event concatenation of the three collections, done on their flat entries: each entry is
    written to its position in the joined lists (its event's start, plus the entries of the
    collections before it in that event, plus its own rank).
    """
    parts = [_branches(arrays, name, {pt: "pt", "Eta": "eta", "Phi": "phi"}) for name, pt in EFLOW.items()]
    offsets = sum(part_offsets for part_offsets, _ in parts)
    start = offsets[:-1].copy()  # of the next collection's entries, per event
    fields = {
        field: np.empty(offsets[-1], dtype=np.result_type(*(values[field] for _, values in parts)))
        for field in ("pt", "eta", "phi")
    }
    for part_offsets, values in parts:
        counts = np.diff(part_offsets)
        position = np.arange(part_offsets[-1]) + np.repeat(start - part_offsets[:-1], counts)
        for field, joined in fields.items():
            joined[position] = values[field]
        start += counts
    fields["mass"] = np.zeros_like(fields["pt"])
    return _lists_of_records(offsets, fields, "Momentum4D")


#: The branches of Delphes' ``Weight`` collection, where a chunk keeps its theory variations' weights.
WEIGHT_BRANCHES = ("Weight.Weight", "Weight.ID")
#: The events' field of a variation's generator weights: ``weight:<name>``.
VARIATION_FIELD_PREFIX = "weight:"


def _variation_matrix(arrays: ak.Array) -> np.ndarray:
    """The ``Weight`` collection of ``arrays`` as float64 (n_events, n_variations), column i the
    variation of ``Weight.ID`` i; ValueError unless every event holds the variations 0 .. n-1 in order."""
    offsets, values = _jagged(arrays, "Weight.Weight")
    ids = _jagged(arrays, "Weight.ID")[1]
    counts = np.diff(offsets)
    k = int(counts[0]) if len(counts) else 0
    if np.any(counts != k) or not np.array_equal(ids, np.tile(np.arange(k), len(counts))):
        raise ValueError("the Weight collection does not hold the same variations 0..n-1 in every event")
    return values.astype(np.float64).reshape(len(counts), k)


def _variation_fields(arrays: ak.Array, variations: Sequence[str]) -> dict[str, np.ndarray]:
    """The generator weights of the named ``variations`` (n_events,) by field ``weight:<name>``,
    from the ``Weight`` collection, whose IDs 0 .. n-1 are these variations in this order;
    ValueError if it holds another number of them or is missing."""
    if not variations:
        return {}
    if "Weight.Weight" not in arrays.fields:
        raise ValueError(
            f"no Weight collection, but the process's variations are {list(variations)}; regenerate the chunk"
        )
    matrix = _variation_matrix(arrays)
    if not len(matrix):
        matrix = np.zeros((0, len(variations)))
    if matrix.shape[1] != len(variations):
        raise ValueError(
            f"the Weight collection holds {matrix.shape[1]} variations per event, the process's summary"
            f" lists {len(variations)} ({', '.join(variations)}); regenerate the chunk or merge the process again"
        )
    return {VARIATION_FIELD_PREFIX + name: np.ascontiguousarray(matrix[:, i]) for i, name in enumerate(variations)}


def _events_from_arrays(
    arrays: ak.Array, constituents: bool = False, variations: dict[str, np.ndarray] | None = None
) -> ak.Array:
    """Analysis record per event from raw Delphes branches: weight, jet, fatjet, electron, muon,
    photon (Momentum4D; leptons and photons massless), met (Momentum2D), ht, and with
    ``constituents`` the EFlow objects ``eflow``; ``variations`` (field -> (n_events,)) go after
    ``weight``.

    The records are assembled from the branches' numpy buffers (the layout ``ak.zip`` would make,
    without its per-field broadcasting, a third of the cost of the whole skim otherwise).
    """

    def collection(name: str) -> ak.contents.Content:
        offsets, fields = _branches(arrays, name, READ_FIELDS[name])
        if "mass" not in fields:
            fields["mass"] = np.zeros_like(fields["pt"])
        return _lists_of_records(offsets, fields, "Momentum4D")

    met = {"pt": _one_each(arrays, "MissingET.MET"), "phi": _one_each(arrays, "MissingET.Phi")}
    contents = {
        "weight": ak.contents.NumpyArray(_one_each(arrays, "Event.Weight").astype(np.float64)),
        **{field: ak.contents.NumpyArray(values) for field, values in (variations or {}).items()},
        **{name.lower(): collection(name) for name in READ_FIELDS},
        "met": ak.contents.RecordArray(
            [ak.contents.NumpyArray(values) for values in met.values()],
            list(met),
            parameters={"__record__": "Momentum2D"},
        ),
        "ht": ak.contents.NumpyArray(_one_each(arrays, "ScalarHT.HT")),
        **({"eflow": _eflow(arrays)} if constituents else {}),
    }
    return ak.Array(ak.contents.RecordArray(list(contents.values()), list(contents), length=len(arrays)))


def iterate_events(
    paths: Sequence[str | os.PathLike],
    step_size: str | int = "100 MB",
    constituents: bool = False,
    variations: Sequence[str] = (),
) -> Iterator[ak.Array]:
    """Yield analysis records (see :func:`read_events`) in bounded chunks from Delphes-layout files,
    file after file; with ``constituents`` they also carry the EFlow objects (``eflow``). With
    ``variations`` (the names of the chunks' theory variations, in the order of their ``Weight.ID``)
    each variation's generator weights come along as the field ``weight:<name>`` (float64), read
    in the same chunks; a file whose ``Weight`` collection holds other variations is a ValueError
    naming it. Without, the ``Weight`` collection is not read. A file that cannot be read is a
    ValueError naming it."""
    branches = [*READ_BRANCHES, *(EFLOW_BRANCHES if constituents else ()), *(WEIGHT_BRANCHES if variations else ())]
    for path in paths:  # one file at a time, so that an error names the file at fault
        try:
            for arrays in uproot.iterate(f"{path}:{TREE}", filter_name=branches, step_size=step_size, library="ak"):
                yield _events_from_arrays(arrays, constituents, _variation_fields(arrays, variations))
        except (OSError, ValueError, uproot.exceptions.KeyInFileError) as err:
            raise ValueError(f"cannot read Delphes-layout tree from {path}: {err}") from err


def read_events(paths: Sequence[str | os.PathLike], constituents: bool = False) -> ak.Array:
    """All events of the files as records: ``weight`` (generator weight), ``jet``, ``fatjet``,
    ``electron``, ``muon``, ``photon`` (Momentum4D, pT-ordered, GeV), ``met`` (Momentum2D,
    GeV), ``ht`` (GeV), and with ``constituents`` ``eflow`` (massless Momentum4D, GeV)."""
    chunks = list(iterate_events(paths, constituents=constituents))
    return ak.concatenate(chunks) if chunks else ak.Array([])


def read_variation_weights(path: str | os.PathLike) -> np.ndarray:
    """The theory variations' weights of a Delphes-layout file (the ``Weight`` collection
    :func:`delphes_branches` writes), shape (n_events, n_variations), column i the variation of
    ``Weight.ID`` i; (n_events, 0) for a file without the collection. ValueError naming the file
    if its events do not all hold the variations 0 .. n-1 in order."""
    try:
        with uproot.open(f"{path}:{TREE}") as tree:
            if "Weight.Weight" not in tree:
                return np.zeros((tree.num_entries, 0))
            arrays = tree.arrays(list(WEIGHT_BRANCHES), library="ak")
    except (OSError, ValueError, uproot.exceptions.KeyInFileError) as err:
        raise ValueError(f"cannot read Delphes-layout tree from {path}: {err}") from err
    try:
        return _variation_matrix(arrays)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
