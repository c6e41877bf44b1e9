"""Detector-level objects from generator final states.

This is the truth-level stage of the detector model: visible final-state particles inside the
calorimeter acceptance, anti-kT jets (R = 0.4) and fat jets (R = 0.8) clustered from them with
fastjet, missing transverse momentum and scalar HT. The Delphes-like fast simulation (tracking,
calorimeter smearing, particle flow, isolation, b-tagging) replaces ``visible`` in its own module;
everything downstream reads the same Delphes-layout branches.

All momenta in GeV, angles in radians.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import fastjet
import numpy as np
import vector

from phenoflow.arrays import isin, momenta

vector.register_awkward()

#: |PDG id| of particles that leave no trace in the detector (neutrinos, the lightest neutralino).
INVISIBLE_PDG = (12, 14, 16, 1000022)


@dataclass(frozen=True)
class JetSpec:
    """Anti-kT jet definition: radius, minimum pT (GeV) and maximum |eta| of the kept jets."""

    radius: float
    pt_min: float
    eta_max: float


@dataclass(frozen=True)
class TruthDetector:
    """Truth-level detector: acceptance and jet definitions (from the config's ``detector`` block)."""

    eta_max: float = 4.9
    particle_pt_min: float = 0.5
    jet: JetSpec = JetSpec(0.4, 20.0, 5.0)
    fatjet: JetSpec = JetSpec(0.8, 200.0, 5.0)

    @classmethod
    def from_config(cls, cfg: dict) -> "TruthDetector":
        return cls(
            eta_max=cfg["eta_max"],
            particle_pt_min=cfg["particle_pt_min"],
            jet=JetSpec(**cfg["jet"]),
            fatjet=JetSpec(**cfg["fatjet"]),
        )


def visible(particles: ak.Array, eta_max: float) -> ak.Array:
    """Final-state particles the detector sees: not invisible, within |eta| < eta_max."""
    p4 = momenta(particles)
    seen = ~isin(abs(particles.pid), INVISIBLE_PDG) & (abs(p4.eta) < eta_max) & (p4.pt > 0)
    return particles[seen]


def cluster(particles: ak.Array, spec: JetSpec) -> ak.Array:
    """Anti-kT jets of every event, sorted by decreasing pT; Momentum4D records (GeV).

    ``particles``: events × var records with px, py, pz, e. Clustering runs over all events in
    one fastjet call (no Python event loop).
    """
    sequence = fastjet.ClusterSequence(momenta(particles), fastjet.JetDefinition(fastjet.antikt_algorithm, spec.radius))
    jets = sequence.inclusive_jets(min_pt=spec.pt_min)
    jets = ak.zip({"px": jets.px, "py": jets.py, "pz": jets.pz, "E": jets.E}, with_name="Momentum4D")
    jets = jets[abs(jets.eta) < spec.eta_max]
    return jets[ak.argsort(jets.pt, axis=1, ascending=False)]


def missing_et(particles: ak.Array) -> ak.Array:
    """Missing transverse momentum: minus the vector sum of the visible pT. Momentum2D per event."""
    px = -ak.sum(particles.px, axis=1)
    py = -ak.sum(particles.py, axis=1)
    return ak.zip({"px": px, "py": py}, with_name="Momentum2D")


def reconstruct(particles: ak.Array, detector: TruthDetector) -> dict[str, ak.Array]:
    """Detector-level collections of a chunk, keyed by Delphes branch name.

    Returns events × var Momentum4D arrays for ``Jet``, ``FatJet`` and ``Particle`` (visible
    particles above ``particle_pt_min``, kept for jet images), a Momentum2D ``MissingET`` and
    the scalar ``ScalarHT`` (sum of jet pT), one value per event.
    """
    seen = visible(particles, detector.eta_max)
    jets = cluster(seen, detector.jet)
    fatjets = cluster(seen, detector.fatjet)
    kept = seen[momenta(seen).pt > detector.particle_pt_min]
    return {
        "Jet": jets,
        "FatJet": fatjets,
        "Particle": kept,
        "MissingET": missing_et(seen),
        "ScalarHT": ak.sum(jets.pt, axis=1),
    }
