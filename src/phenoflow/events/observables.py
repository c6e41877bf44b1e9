"""Named observables over analysis events, addressed by a string syntax.

Syntax (all momenta GeV, angles rad):

- ``met``, ``met.phi``, ``ht``; multiplicities ``n_jets``, ``n_fatjets``, ``n_bjets`` (b-tagged
  jets), ``n_electrons``, ``n_muons``, ``n_leptons`` (electrons + muons), ``n_photons``
- ``<collection><index>.<quantity>``: e.g. ``fatjet0.mass``, ``jet1.pt``, ``electron0.pt``;
  collections ``jet``, ``fatjet``, ``electron``, ``muon``, ``photon``; quantities
  ``pt eta phi mass e px py pz``, ``btag`` for jets and ``charge`` for electrons and muons
- substructure of fat jets: ``fatjet0.tau1`` .. ``tau3``, ``tau21``, ``tau32`` (N-subjettiness)
  and ``fatjet0.msoftdrop`` (soft-drop mass, GeV), computed from the constituents: the EFlow
  objects within ``Substructure.radius`` of the jet axis (one code path for our files and real
  Delphes files, whose constituent references uproot cannot follow); see
  :mod:`phenoflow.events.substructure`
- ``<object>,<object>.<pair quantity>``: e.g. ``jet0,jet1.delta_r``, ``fatjet0,met.delta_phi``;
  pair quantities ``delta_r delta_phi delta_eta mass pt`` (``met`` only with ``delta_phi``)
- ``<collection>[:N],met.min_delta_phi``: the smallest |Δφ| in [0, π] between the missing
  momentum and any of the N leading (highest-pT) objects of the collection, e.g.
  ``jet[:4],met.min_delta_phi``; ``<collection>[:]`` takes all of them. The anti-QCD requirement
  of MET + jets searches: in QCD multijets the missing momentum comes from a mismeasured jet (or
  neutrinos in a jet) and points along one of the leading jets, so they pile up at small values.
  CMS monojet / mono-V (CMS-EXO-16-048, Phys. Rev. D 97 (2018) 092005) require > 0.5 over the
  four leading jets with pT > 30 GeV; ATLAS (e.g. Eur. Phys. J. C 77 (2017) 765) > 0.4 over the
  four leading jets with pT > 30 GeV. The objects are the collection as the detector card makes
  it (``jets.jet``: pT > 20 GeV and |η| < 5 in config/cards/cms.yaml), with no threshold of their
  own. An event with fewer than N objects takes the minimum over those it has; an event with none
  gives ``fill``, so in a selection (where ``fill`` is NaN) ``jet[:4],met.min_delta_phi > 0.5``
  fails an event without jets: write ``n_jets == 0 or jet[:4],met.min_delta_phi > 0.5`` to keep it.

An object missing in an event (``jet1`` in a one-jet event) gives ``fill`` for that event.
Every function is vectorised over events; the result is a float64 array of shape (n_events,).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import awkward as ak
import numpy as np
import vector

from phenoflow.defaults import default
from phenoflow.kinematics import delta_phi

vector.register_awkward()

#: Collections of the analysis events and the fields each has beyond pt, eta, phi, mass.
COLLECTIONS = {"jet": ("btag",), "fatjet": (), "electron": ("charge",), "muon": ("charge",), "photon": ()}
QUANTITIES = ("pt", "eta", "phi", "mass", "e", "px", "py", "pz", "btag", "charge")
PAIR_QUANTITIES = ("delta_r", "delta_phi", "delta_eta", "mass", "pt")
SUBSTRUCTURE = ("tau1", "tau2", "tau3", "tau21", "tau32", "msoftdrop")
#: Quantities that are vector coordinates, read from the field of that name where records store it.
_STORED = ("pt", "eta", "phi", "mass")


@dataclass(frozen=True)
class Substructure:
    """How fat-jet substructure is computed (the config's ``substructure`` block).

    ``radius``: constituents are EFlow objects within this ΔR of the jet axis, and the R0 of
    N-subjettiness; ``beta``: N-subjettiness angular exponent; ``z_cut``, ``softdrop_beta``:
    the soft-drop condition.
    """

    radius: float = default("substructure.radius")
    beta: float = default("substructure.nsubjettiness_beta")
    z_cut: float = default("substructure.softdrop.z_cut")
    softdrop_beta: float = default("substructure.softdrop.beta")

    @classmethod
    def from_config(cls, cfg: dict) -> Substructure:
        """From the config's ``substructure`` block; a key it does not set keeps the default
        (the config schema's)."""
        softdrop = cfg.get("softdrop", {})
        return cls(
            cfg.get("radius", cls.radius),
            cfg.get("nsubjettiness_beta", cls.beta),
            softdrop.get("z_cut", cls.z_cut),
            softdrop.get("beta", cls.softdrop_beta),
        )


def needs_constituents(names: Iterable[str]) -> bool:
    """Whether any of the observables (or selection expressions) uses fat-jet substructure."""
    return any(re.search(rf"\.({'|'.join(SUBSTRUCTURE)})\b", name) for name in names)


_OBJECT = re.compile(r"^(jet|fatjet|electron|muon|photon)(\d+)$")
#: The leading objects of a collection, ``jet[:4]`` (the first four) or ``jet[:]`` (all).
_LEADING = re.compile(r"^(jet|fatjet|electron|muon|photon)\[:(\d*)\]$")
_MIN_DELTA_PHI_FORM = "write e.g. jet[:4],met.min_delta_phi"


def _to_numpy(values: ak.Array | np.ndarray, fill: float) -> np.ndarray:
    """Flat ``values`` as float64, None → ``fill`` (``ak.fill_none`` only where there can be a None)."""
    if isinstance(values, ak.Array) and values.layout.is_option:
        values = ak.fill_none(values, fill)
    return np.asarray(ak.to_numpy(values) if isinstance(values, ak.Array) else values, dtype=np.float64)


def _counts(collection: ak.Array) -> np.ndarray:
    """Objects per event, shape (n_events,), int64: the differences of the list offsets where the
    layout has them (the usual one), else ``ak.num``."""
    layout = collection.layout
    if isinstance(layout, ak.contents.ListOffsetArray):
        return np.diff(np.asarray(layout.offsets.data, dtype=np.int64))
    return np.asarray(ak.to_numpy(ak.num(collection, axis=1)), dtype=np.int64)


def _nth(values: ak.Array, index: int, fill: float) -> np.ndarray:
    """Entry ``index`` of each event's list in jagged ``values``, ``fill`` where the list is too short
    (or the entry None); float64 (n_events,). The numpy equivalent of ``ak.pad_none(values, index
    + 1)[:, index]``, without awkward's per-call overhead: the entries are flattened once (no copy for
    the usual layout) and picked at each event's start + ``index``."""
    counts = _counts(values)
    layout = values.layout
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.NumpyArray):
        flat, starts = layout.content.data, np.asarray(layout.offsets.data[:-1], dtype=np.int64)
    else:
        flat, starts = ak.flatten(values, axis=1), np.cumsum(counts) - counts
    present = counts > index
    result = np.full(len(counts), fill, dtype=np.float64)
    result[present] = _to_numpy(flat[starts[present] + index], fill)
    return result


def _object(events: ak.Array, name: str) -> ak.Array:
    """The ``name``-th object per event (option type: None where missing)."""
    if name == "met":
        return events.met
    match = _object_match(name)
    collection, index = events[match.group(1)], int(match.group(2))
    return ak.pad_none(collection, index + 1, axis=1)[:, index]


def _object_match(name: str) -> re.Match:
    """``name`` split into collection and index, e.g. ``fatjet0``; ``KeyError`` if it is no such name."""
    match = _OBJECT.match(name)
    if not match and "[" in name:
        raise KeyError(f"'{name}': leading objects enter only min_delta_phi with met ({_MIN_DELTA_PHI_FORM})")
    if not match:
        raise KeyError(f"unknown object '{name}' (expected met or one of {', '.join(f'{c}N' for c in COLLECTIONS)})")
    return match


def constituents(events: ak.Array, jet: ak.Array, radius: float) -> ak.Array:
    """EFlow objects of each event within ``radius`` of the jet axis (none where the jet is missing)."""
    eflow = events.eflow
    eta = ak.fill_none(jet.eta, np.nan)
    phi = ak.fill_none(jet.phi, np.nan)
    near = np.hypot(eflow.eta - eta, delta_phi(eflow.phi, phi)) < radius
    return eflow[near]


def _substructure(events: ak.Array, jet: ak.Array, quantity: str, name: str, settings: Substructure) -> np.ndarray:
    from phenoflow.events import substructure

    if not name.startswith("fatjet"):
        raise KeyError(f"'{name}': substructure is computed for fat jets only")
    if "eflow" not in events.fields:
        raise KeyError(f"'{name}' needs the EFlow constituents, which these events do not carry")
    parts = substructure.cartesian(constituents(events, jet, settings.radius))
    if quantity == "msoftdrop":
        return substructure.softdrop_mass(parts, settings.z_cut, settings.softdrop_beta, settings.radius)
    taus = substructure.nsubjettiness(parts, 3, settings.beta, settings.radius)
    if quantity.startswith("tau") and len(quantity) == 4:
        return taus[:, int(quantity[3]) - 1]
    return substructure.ratios(taus)[quantity]


def _quantity(obj: ak.Array, quantity: str, name: str) -> ak.Array:
    if quantity in ("btag", "charge"):
        if quantity not in obj.fields:
            raise KeyError(f"'{name}' has no {quantity}")
        return obj[quantity]
    if quantity not in QUANTITIES:
        raise KeyError(f"unknown quantity '{quantity}' (expected one of {', '.join(QUANTITIES)})")
    if quantity in _STORED and quantity in obj.fields:  # vector returns a stored coordinate unchanged
        return obj[quantity]
    return getattr(obj, "E" if quantity == "e" else quantity)  # only the one asked for


def _pair(events: ak.Array, names: list[str], quantity: str) -> ak.Array:
    if len(names) != 2:
        raise KeyError(f"pair observables take two objects, got {len(names)}")
    a, b = (_object(events, n) for n in names)
    if quantity == "delta_phi":
        return delta_phi(a.phi, b.phi)
    if "met" in names:
        raise KeyError("with met only delta_phi is defined")
    if quantity == "delta_eta":
        return a.eta - b.eta
    if quantity == "delta_r":
        return np.hypot(a.eta - b.eta, delta_phi(a.phi, b.phi))
    if quantity in ("mass", "pt"):
        total = a + b
        return total.mass if quantity == "mass" else total.pt
    raise KeyError(
        f"unknown pair quantity '{quantity}' (expected one of {', '.join(PAIR_QUANTITIES)}, or min_delta_phi)"
    )


def _min_delta_phi(events: ak.Array, names: list[str]) -> ak.Array:
    """min over the leading objects ``names[0]`` (e.g. ``jet[:4]``) of |Δφ(object, MET)|, rad in
    [0, π]; option type of shape (n_events,), None for an event without any of the objects."""
    if len(names) != 2 or names[1] != "met":
        raise KeyError(f"min_delta_phi is taken between leading objects and met ({_MIN_DELTA_PHI_FORM})")
    match = _LEADING.match(names[0])
    if not match:
        raise KeyError(
            f"'{names[0]}': min_delta_phi takes the leading objects of a collection, the first N as "
            f"<collection>[:N] or all as <collection>[:] ({_MIN_DELTA_PHI_FORM})"
        )
    collection, count = match.groups()
    if count and int(count) == 0:
        raise KeyError(f"'{names[0]}' holds no object (N must be at least 1)")
    phi = events[collection].phi
    if count:
        phi = phi[:, : int(count)]
    return ak.min(np.abs(delta_phi(phi, events.met.phi)), axis=1)


def observable(
    events: ak.Array, name: str, fill: float = np.nan, settings: Substructure = Substructure()
) -> np.ndarray:
    """Evaluate the observable ``name`` for every event; ``fill`` where an object is missing.

    ``settings`` say how substructure observables are computed.
    Raises ``KeyError`` with the offending part of ``name`` if it is not valid syntax.
    """
    name = name.strip()
    scalars = {
        "met": lambda: _quantity(events.met, "pt", name),
        "met.pt": lambda: _quantity(events.met, "pt", name),
        "met.phi": lambda: _quantity(events.met, "phi", name),
        "ht": lambda: events.ht,
        "n_jets": lambda: _counts(events.jet),
        "n_fatjets": lambda: _counts(events.fatjet),
        "n_bjets": lambda: ak.sum(events.jet.btag != 0, axis=1),
        "n_electrons": lambda: _counts(events.electron),
        "n_muons": lambda: _counts(events.muon),
        "n_leptons": lambda: _counts(events.electron) + _counts(events.muon),
        "n_photons": lambda: _counts(events.photon),
    }
    try:
        if name in scalars:
            return _to_numpy(scalars[name](), fill)
        objects, _, quantity = name.rpartition(".")
        if not objects:
            raise KeyError(f"'{name}' has no quantity (write e.g. '{name}.pt')")
        names = objects.split(",")
        if quantity == "min_delta_phi":
            values = _min_delta_phi(events, names)
        elif len(names) > 1:
            values = _pair(events, names, quantity)
        elif quantity in SUBSTRUCTURE:
            values = _substructure(events, _object(events, names[0]), quantity, names[0], settings)
            return np.where(np.isnan(values), fill, values)
        elif names[0] != "met":  # the index-th object of a collection
            match = _object_match(names[0])
            return _nth(_quantity(events[match.group(1)], quantity, name), int(match.group(2)), fill)
        else:
            values = _quantity(events.met, quantity, name)
        return _to_numpy(values, fill)
    except KeyError as err:
        raise KeyError(f"observable '{name}': {err.args[0]}") from None


def empty_events() -> ak.Array:
    """One event with every collection empty, in the layout of :func:`phenoflow.detector.ntuple.read_events`."""
    none = ak.Array([[]], with_name=None)
    fields = {
        name: ak.zip({k: none for k in ("pt", "eta", "phi", "mass", *extra)}, with_name="Momentum4D")
        for name, extra in COLLECTIONS.items()
    }
    fields["eflow"] = ak.zip({k: none for k in ("pt", "eta", "phi", "mass")}, with_name="Momentum4D")
    met = ak.zip({"pt": np.zeros(1), "phi": np.zeros(1)}, with_name="Momentum2D")
    return ak.zip({**fields, "met": met, "ht": np.zeros(1)}, depth_limit=1)


def check(name: str) -> None:
    """Raise ``KeyError`` if ``name`` is not valid observable syntax (without any events)."""
    observable(empty_events(), name)
