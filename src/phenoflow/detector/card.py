"""Detector cards: the YAML parameters of the fast detector simulation, read and checked.

A card (``config/cards/*.yaml``) has one block per stage of the simulation, each modelled on a
Delphes module (see the comments in ``config/cards/cms.yaml``). :func:`load_card` reads it into
frozen dataclasses with compiled formulas; any problem is a :class:`CardError` that names the card
file and the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from phenoflow.detector.formula import Formula, FormulaError, compile_formula


class CardError(ValueError):
    """A detector card that is missing a key or has a bad value."""


@dataclass(frozen=True)
class JetSpec:
    """Anti-kT jet definition: radius, minimum pT (GeV) and maximum |eta| of the kept jets."""

    radius: float
    pt_min: float
    eta_max: float


@dataclass(frozen=True)
class Propagator:
    """Solenoid and calorimeter surface: radius and half length (m), field along +z (T)."""

    radius_m: float
    half_length_m: float
    bz_tesla: float


@dataclass(frozen=True)
class TowerGrid:
    """Calorimeter towers: contiguous eta rings, each split into equal phi bins.

    ``eta_edges``: shape (n_rings + 1,), increasing; ``phi_bins``: shape (n_rings,).
    Tower ids run ring by ring; ``offsets[r]`` is the first id of ring ``r``.
    """

    eta_edges: np.ndarray
    phi_bins: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.phi_bins)])

    @property
    def n_towers(self) -> int:
        return int(self.phi_bins.sum())


@dataclass(frozen=True)
class Calorimeter:
    """One calorimeter (SimpleCalorimeter): towers, thresholds, resolution, energy fractions."""

    towers: TowerGrid
    energy_min: float
    significance_min: float
    smear_tower_center: bool
    resolution: Formula
    fraction_default: float
    fractions: dict[int, float]

    def fraction(self, abs_pid: np.ndarray) -> np.ndarray:
        """Fraction of a particle's energy deposited here, by |PDG id|; shape of ``abs_pid``."""
        result = np.full(np.shape(abs_pid), self.fraction_default, dtype=np.float64)
        for pid, value in self.fractions.items():
            result[abs_pid == pid] = value
        return result


@dataclass(frozen=True)
class Isolation:
    """Isolation: pT sum of EFlow objects above ``pt_min`` within ``delta_r_max`` over the
    candidate's pT must be at most ``pt_ratio_max``."""

    delta_r_max: float
    pt_min: float
    pt_ratio_max: float


@dataclass(frozen=True)
class Identified:
    """Efficiency and isolation of photons, electrons or muons."""

    efficiency: Formula
    isolation: Isolation


@dataclass(frozen=True)
class BTagging:
    """Jet flavour association and tagging efficiency per flavour (0 light, 4 c, 5 b)."""

    delta_r: float
    parton_pt_min: float
    parton_eta_max: float
    efficiency: dict[int, Formula]


@dataclass(frozen=True)
class DetectorCard:
    """Everything the fast simulation needs; see ``config/cards/cms.yaml``."""

    name: str
    propagator: Propagator
    tracking_efficiency: dict[str, Formula]
    tracking_resolution: dict[str, Formula]
    ecal: Calorimeter
    hcal: Calorimeter
    photons: Identified
    electrons: Identified
    muons: Identified
    jet: JetSpec
    fatjet: JetSpec
    jet_energy_scale: Formula
    btagging: BTagging


TRACK_KINDS = ("charged_hadron", "electron", "muon")
_FLAVOURS = {"light": 0, "c": 4, "b": 5}


def load_card(path: str | os.PathLike) -> DetectorCard:
    """Read and check a detector card; a :class:`CardError` names the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise CardError(f"detector card {path}: cannot read it ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise CardError(f"detector card {path}: not valid YAML: {err}") from None
    try:
        return parse_card(raw)
    except CardError as err:
        raise CardError(f"detector card {path}: {err}") from None


def parse_card(raw: object) -> DetectorCard:
    """Build a :class:`DetectorCard` from the card's parsed YAML (a mapping)."""
    card = _Reader(raw, "")
    tracking = card.block("tracking")
    calos = card.block("calorimeters")
    jets = card.block("jets")
    btag = card.block("btagging")
    efficiency = btag.block("efficiency")
    return DetectorCard(
        name=str(card.get("name", "")),
        propagator=Propagator(
            *(card.block("propagator").positive(k) for k in ("radius_m", "half_length_m", "bz_tesla"))
        ),
        tracking_efficiency={k: tracking.block("efficiency").formula(k) for k in TRACK_KINDS},
        tracking_resolution={k: tracking.block("resolution").formula(k) for k in TRACK_KINDS},
        ecal=_calorimeter(calos.block("ecal")),
        hcal=_calorimeter(calos.block("hcal")),
        photons=_identified(card.block("photons")),
        electrons=_identified(card.block("electrons")),
        muons=_identified(card.block("muons")),
        jet=_jet(jets.block("jet")),
        fatjet=_jet(jets.block("fatjet")),
        jet_energy_scale=jets.formula("energy_scale"),
        btagging=BTagging(
            delta_r=btag.positive("delta_r"),
            parton_pt_min=btag.number("parton_pt_min"),
            parton_eta_max=btag.positive("parton_eta_max"),
            efficiency={pid: efficiency.formula(name) for name, pid in _FLAVOURS.items()},
        ),
    )


class _Reader:
    """Typed access to a mapping of the card, naming the dotted key in every error."""

    def __init__(self, raw: object, where: str):
        if not isinstance(raw, dict):
            raise CardError(f"{where or 'the card'}: expected a mapping, got {type(raw).__name__}")
        self.raw, self.where = raw, where

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, default: object = None) -> object:
        return self.raw.get(name, default)

    def need(self, name: str) -> object:
        if name not in self.raw:
            raise CardError(f"{self.key(name)}: missing")
        return self.raw[name]

    def block(self, name: str) -> _Reader:
        return _Reader(self.need(name), self.key(name))

    def number(self, name: str) -> float:
        value = self.need(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CardError(f"{self.key(name)}: expected a number, got {value!r}")
        return float(value)

    def positive(self, name: str) -> float:
        value = self.number(name)
        if value <= 0:
            raise CardError(f"{self.key(name)}: must be positive, got {value}")
        return value

    def formula(self, name: str) -> Formula:
        try:
            return compile_formula(self.need(name), self.key(name))
        except FormulaError as err:
            raise CardError(str(err)) from None


def _jet(block: _Reader) -> JetSpec:
    return JetSpec(radius=block.positive("radius"), pt_min=block.number("pt_min"), eta_max=block.positive("eta_max"))


def _identified(block: _Reader) -> Identified:
    iso = block.block("isolation")
    return Identified(
        efficiency=block.formula("efficiency"),
        isolation=Isolation(iso.positive("delta_r_max"), iso.number("pt_min"), iso.positive("pt_ratio_max")),
    )


def _calorimeter(block: _Reader) -> Calorimeter:
    fractions = block.block("energy_fraction")
    values: dict[int, float] = {}
    for pid, value in fractions.raw.items():
        if pid == "default":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise CardError(f"{fractions.key(str(pid))}: expected a fraction in [0, 1], got {value!r}")
        try:
            values[abs(int(pid))] = float(value)
        except ValueError:
            raise CardError(f"{fractions.key(str(pid))}: keys are PDG ids or 'default'") from None
    return Calorimeter(
        towers=_towers(block),
        energy_min=block.number("energy_min"),
        significance_min=block.number("significance_min"),
        smear_tower_center=bool(block.get("smear_tower_center", True)),
        resolution=block.formula("resolution"),
        fraction_default=fractions.number("default"),
        fractions=values,
    )


def _towers(block: _Reader) -> TowerGrid:
    rings = block.need("towers")
    if not isinstance(rings, list) or not rings:
        raise CardError(f"{block.key('towers')}: expected a list of eta rings")
    edges: list[float] = []
    bins: list[int] = []
    for i, raw in enumerate(rings):
        ring = _Reader(raw, f"{block.key('towers')}[{i}]")
        if "eta_edges" in ring.raw:
            ring_edges = np.asarray(ring.raw["eta_edges"], dtype=np.float64)
        else:
            low, high = ring.need("eta_range")
            step = ring.positive("eta_step")
            n = max(int(round((high - low) / step)), 1)
            ring_edges = np.linspace(low, high, n + 1)
        if len(ring_edges) < 2 or np.any(np.diff(ring_edges) <= 0):
            raise CardError(f"{ring.key('eta_edges')}: need at least two increasing edges")
        if edges and not np.isclose(ring_edges[0], edges[-1]):
            raise CardError(
                f"{ring.key('eta_edges')}: starts at {ring_edges[0]}, not where the previous ring ends ({edges[-1]})"
            )
        phi_bins = ring.positive("phi_bins")
        if phi_bins != int(phi_bins):
            raise CardError(f"{ring.key('phi_bins')}: expected a whole number, got {phi_bins}")
        edges.extend(ring_edges[1:] if edges else ring_edges)
        bins.extend([int(phi_bins)] * (len(ring_edges) - 1))
    return TowerGrid(np.asarray(edges), np.asarray(bins, dtype=np.int64))
