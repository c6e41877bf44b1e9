"""Fast detector simulation modelled on Delphes, driven by a detector card (:mod:`phenoflow.detector.card`).

From the generator's stable particles of a chunk of events to Delphes' reconstructed objects,
in the order of Delphes' CMS execution path (docs/detector.md has the details):

1. *ParticlePropagator*: charged particles follow a helix to the calorimeter surface; the point
   where they hit it decides their tower. Neutral particles go straight.
2. *Tracking efficiency and momentum smearing* for charged hadrons, electrons and muons.
3. *ECAL and HCAL* (SimpleCalorimeter): deposits summed in eta-phi towers, smeared log-normally
   with the card's resolution, thresholds; particle flow subtracts the tracks' energy and turns a
   significant excess into an EFlow photon (ECAL) or neutral hadron (HCAL).
4. *Photons, electrons, muons*: efficiency and isolation against the EFlow objects.
5. *Jets* (anti-kT, fastjet) and *fat jets* from all EFlow objects, the jet energy scale, jet
   flavour from nearby b and c quarks and b-tagging by flavour; jets containing an isolated
   photon or lepton are removed (UniqueObjectFinder).
6. *MissingET* from all EFlow objects; *ScalarHT* from jets, leptons and photons; *GenJet* and
   *GenMissingET* from the stable visible generator particles.

Everything is vectorised: particles of all events are handled as flat numpy arrays with an
event index, towers are summed with ``np.bincount`` over (event, tower) keys, and each jet
collection is one multi-event fastjet call. Momenta in GeV, angles in rad, lengths in m.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import fastjet
import numpy as np
import vector
from particle.pdgid import charge as pdg_charge

from phenoflow.detector.card import Calorimeter, DetectorCard, Identified, JetSpec, Propagator, TowerGrid
from phenoflow.kinematics import wrap_phi

vector.register_awkward()

#: |PDG id| of particles that leave no trace in the detector (neutrinos, the lightest neutralino).
INVISIBLE_PDG = (12, 14, 16, 1000022)
#: Speed of light factor: a track of pT (GeV) in a field B (T) has radius pT / (C_LIGHT * B) m.
C_LIGHT = 0.299792458
_KIND_PID = {"electron": 11, "muon": 13}


@dataclass(frozen=True)
class Flat:
    """Flat per-object arrays of a chunk: event index and kinematics (all shape (n,))."""

    event: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray

    def __len__(self) -> int:
        return len(self.event)

    def take(self, index: np.ndarray) -> Flat:
        return Flat(self.event[index], self.pt[index], self.eta[index], self.phi[index], self.mass[index])

    @property
    def energy(self) -> np.ndarray:
        return np.sqrt((self.pt * np.cosh(self.eta)) ** 2 + self.mass**2)


def lognormal(rng: np.random.Generator, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Draw from log-normal distributions with the given means and standard deviations, as
    Delphes smears energies and momenta (always positive); a mean <= 0 gives 0."""
    mean = np.asarray(mean, dtype=np.float64)
    positive = mean > 0
    safe = np.where(positive, mean, 1.0)
    s2 = np.log1p((np.asarray(sigma) / safe) ** 2)
    draw = np.exp(np.log(safe) - s2 / 2 + np.sqrt(s2) * rng.standard_normal(mean.shape))
    return np.where(positive, draw, 0.0)


def charges(pid: np.ndarray) -> np.ndarray:
    """Electric charge (units of e) of PDG ids, looked up once per distinct id with ``particle``."""
    unique, inverse = np.unique(pid, return_inverse=True)
    table = np.array([pdg_charge(int(p)) or 0.0 for p in unique], dtype=np.float64)
    return table[inverse].reshape(np.shape(pid))


def calorimeter_position(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, charge: np.ndarray, propagator: Propagator
) -> tuple[np.ndarray, np.ndarray]:
    """Where particles from the origin hit the calorimeter surface: (eta, phi) of the point.

    Neutral particles keep their direction. A charged particle of transverse radius
    r = pT / (C_LIGHT |Bz|) has turned by alpha = 2 asin(R / 2r) when it reaches the barrel
    radius R, at z = (pz / pT) r alpha, and by alpha = |Bz| C_LIGHT L / |pz| when it reaches an
    endcap at |z| = L, at radius 2 r |sin(alpha / 2)|; the point lies at azimuth
    phi - sign(q Bz) alpha / 2. A particle that never reaches the surface gets eta = nan.
    """
    radius, half = propagator.radius_m, propagator.half_length_m
    charged = charge != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        r = pt / (C_LIGHT * abs(propagator.bz_tesla))
        ratio = np.sinh(eta)  # pz / pT
        alpha_barrel = 2 * np.arcsin(np.clip(radius / (2 * r), 0.0, 1.0))
        z_barrel = ratio * r * alpha_barrel
        barrel = (2 * r >= radius) & (np.abs(z_barrel) <= half)
        alpha_end = half / (r * np.abs(ratio))
        rho_end = 2 * r * np.abs(np.sin(alpha_end / 2))
        eta_end = np.where(rho_end > 0, np.sign(ratio) * np.arcsinh(half / rho_end), np.nan)
        eta_hit = np.where(barrel, np.arcsinh(z_barrel / radius), eta_end)
        alpha = np.where(barrel, alpha_barrel, alpha_end)
        phi_hit = wrap_phi(phi - np.sign(charge * propagator.bz_tesla) * alpha / 2)
    return np.where(charged, eta_hit, eta), np.where(charged, phi_hit, phi)


def tower_index(grid: TowerGrid, eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Tower id of each (eta, phi); -1 outside the towers' eta range. Shape of ``eta``."""
    ring = np.searchsorted(grid.eta_edges, eta, side="right") - 1
    inside = (ring >= 0) & (ring < len(grid.phi_bins)) & np.isfinite(eta)
    ring = np.where(inside, ring, 0)
    n_phi = grid.phi_bins[ring]
    column = np.minimum(np.floor((wrap_phi(phi) + np.pi) / (2 * np.pi) * n_phi).astype(np.int64), n_phi - 1)
    return np.where(inside, grid.offsets[ring] + column, -1)


def tower_geometry(grid: TowerGrid, tower: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centre (eta, phi) and widths (d_eta, d_phi) of towers given by id."""
    ring = np.searchsorted(grid.offsets, tower, side="right") - 1
    n_phi = grid.phi_bins[ring]
    d_phi = 2 * np.pi / n_phi
    low, high = grid.eta_edges[ring], grid.eta_edges[ring + 1]
    return (low + high) / 2, -np.pi + (tower - grid.offsets[ring] + 0.5) * d_phi, high - low, d_phi


def particle_flow(
    calo: Calorimeter,
    deposits: Flat,
    abs_pid: np.ndarray,
    hit: tuple[np.ndarray, np.ndarray],
    track_energy: np.ndarray,
    track_sigma: np.ndarray,
    rng: np.random.Generator,
) -> Flat:
    """Towers of one calorimeter and the neutral EFlow objects they leave after track subtraction.

    ``deposits``: every stable visible particle (true energy); ``hit``: where each hits the
    calorimeter; ``track_energy``/``track_sigma``: the particle's track energy and its error
    (0 if it has no track). Returns the neutral objects (massless, at the tower centre, smeared
    within the tower if the card says so), sorted by event.
    """
    fraction = calo.fraction(abs_pid)
    tower = tower_index(calo.towers, *hit)
    use = (tower >= 0) & (fraction > 0)
    key = deposits.event[use] * calo.towers.n_towers + tower[use]
    keys, inverse = np.unique(key, return_inverse=True)
    f = fraction[use]
    e_tower = np.bincount(inverse, weights=deposits.energy[use] * f, minlength=len(keys))
    e_track = np.bincount(inverse, weights=track_energy[use] * f, minlength=len(keys))
    var_track = np.bincount(inverse, weights=(track_sigma[use] * f) ** 2, minlength=len(keys))

    event, tower_id = keys // calo.towers.n_towers, keys % calo.towers.n_towers
    eta, phi, d_eta, d_phi = tower_geometry(calo.towers, tower_id)
    sigma = calo.resolution(pt=e_tower / np.cosh(eta), eta=eta, phi=phi, energy=e_tower)
    measured = lognormal(rng, e_tower, sigma)
    measured = np.where((measured < calo.energy_min) | (measured < calo.significance_min * sigma), 0.0, measured)
    neutral = np.maximum(measured - e_track, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        significance = neutral / np.sqrt(var_track + sigma**2)
    keep = (neutral > calo.energy_min) & (significance > calo.significance_min)
    eta, phi = eta[keep], phi[keep]
    if calo.smear_tower_center:
        eta = eta + (rng.random(len(eta)) - 0.5) * d_eta[keep]
        phi = wrap_phi(phi + (rng.random(len(phi)) - 0.5) * d_phi[keep])
    return Flat(event[keep], neutral[keep] / np.cosh(eta), eta, phi, np.zeros(len(eta)))


def isolated(
    candidates: Flat, others: Flat, rule, n_events: int, self_in_others: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Isolation of candidates: (mask of the isolated ones, pT sum ratio), both shape (n_cand,).

    Sums the pT of ``others`` above ``rule.pt_min`` within ``rule.delta_r_max`` of each candidate
    in its event; if ``self_in_others``, the candidate's own pT is taken out of the sum.
    """
    cand = _jagged(candidates, n_events)
    iso = _jagged(others, n_events)
    iso = iso[iso.pt > rule.pt_min]
    pairs = ak.cartesian([cand, iso], axis=1, nested=True)
    c, o = ak.unzip(pairs)
    d_r = np.hypot(c.eta - o.eta, wrap_phi(c.phi - o.phi))
    total = ak.to_numpy(ak.flatten(ak.sum(ak.where(d_r < rule.delta_r_max, o.pt, 0.0), axis=-1), axis=None))
    if self_in_others:
        total = total - np.where(candidates.pt > rule.pt_min, candidates.pt, 0.0)
    ratio = np.maximum(total, 0.0) / candidates.pt
    return ratio <= rule.pt_ratio_max, ratio


def simulate(particles: ak.Array, card: DetectorCard, seed: int) -> dict[str, ak.Array]:
    """Detector-level collections of a chunk of events, keyed by Delphes branch name.

    ``particles``: events × var records (pid, status, px, py, pz, e, mass; GeV): stable
    particles (status > 0) and the b and c quarks of the event record (status < 0) used for jet
    flavour. Returns events × var Momentum4D arrays ``Jet`` (with ``btag``, ``flavor``),
    ``FatJet``, ``GenJet``, ``Electron``/``Muon`` (with ``charge``, ``isolation``), ``Photon``
    (with ``isolation``), ``EFlowTrack`` (with ``charge``, ``pid``), ``EFlowPhoton``,
    ``EFlowNeutralHadron``; Momentum2D ``MissingET`` and ``GenMissingET``, and ``ScalarHT``
    (numpy, one value per event).
    """
    rng = np.random.default_rng(seed)
    n_events = len(particles)
    stable = particles[particles.status > 0]
    event = np.repeat(np.arange(n_events), ak.to_numpy(ak.num(stable)))
    flat = {k: ak.to_numpy(ak.flatten(stable[k])) for k in ("pid", "px", "py", "pz", "e", "mass")}
    p3 = vector.array({"px": flat["px"], "py": flat["py"], "pz": flat["pz"]})
    visible_mask = ~np.isin(np.abs(flat["pid"]), INVISIBLE_PDG) & (p3.rho > 0)
    truth = Flat(event, p3.rho, p3.eta, p3.phi, flat["mass"]).take(np.flatnonzero(visible_mask))
    pid = flat["pid"][visible_mask]
    abs_pid = np.abs(pid)
    charge = charges(pid)

    # tracking: efficiency, then log-normal pT smearing
    kind = np.where(abs_pid == 11, "electron", np.where(abs_pid == 13, "muon", "charged_hadron"))
    efficiency = np.zeros(len(truth))
    resolution = np.zeros(len(truth))
    kin = {"pt": truth.pt, "eta": truth.eta, "phi": truth.phi, "energy": truth.energy}
    for name in ("charged_hadron", "electron", "muon"):
        sel = kind == name
        efficiency[sel] = card.tracking_efficiency[name](**{k: v[sel] for k, v in kin.items()})
        resolution[sel] = card.tracking_resolution[name](**{k: v[sel] for k, v in kin.items()})
    tracked = (charge != 0) & (rng.random(len(truth)) < efficiency)
    track_pt = np.where(tracked, lognormal(rng, truth.pt, resolution * truth.pt), 0.0)
    tracks = Flat(truth.event, track_pt, truth.eta, truth.phi, truth.mass)
    track_energy = np.where(tracked, tracks.energy, 0.0)
    track_sigma = resolution * track_energy

    # calorimeters and particle flow
    hit = calorimeter_position(truth.pt, truth.eta, truth.phi, charge, card.propagator)
    photons_flow = particle_flow(card.ecal, truth, abs_pid, hit, track_energy, track_sigma, rng)
    neutral_hadrons = particle_flow(card.hcal, truth, abs_pid, hit, track_energy, track_sigma, rng)
    track_index = np.flatnonzero(tracked)
    tracks = tracks.take(track_index)
    track_pid, track_charge = pid[track_index], charge[track_index]

    # EFlow: tracks, then photons, then neutral hadrons of each event, in event order
    eflow, order = _merge(n_events, tracks, photons_flow, neutral_hadrons)
    n_tracks = len(tracks)

    # photons, electrons, muons: efficiency, then isolation against EFlow without e and mu
    is_lepton_track = np.isin(np.abs(track_pid), (11, 13))
    iso_objects = eflow.take(np.flatnonzero(~np.isin(order, np.flatnonzero(is_lepton_track))))
    photon_ids, photon_ratio = _identify(card.photons, photons_flow, iso_objects, n_events, rng, self_in_others=True)
    leptons = {}
    for name, identified in (("electron", card.electrons), ("muon", card.muons)):
        candidates = np.flatnonzero(np.abs(track_pid) == _KIND_PID[name])
        keep, ratio = _identify(identified, tracks.take(candidates), iso_objects, n_events, rng, self_in_others=False)
        leptons[name] = (candidates[keep], ratio)

    # jets from EFlow; a jet that contains an isolated photon or lepton is not a jet
    unique = np.zeros(len(eflow), dtype=bool)
    position = np.empty(len(eflow), dtype=np.int64)
    position[order] = np.arange(len(eflow))
    unique[position[n_tracks + photon_ids]] = True
    for chosen, _ in leptons.values():
        unique[position[chosen]] = True
    eflow_jagged = _jagged(eflow, n_events)
    jets, contains = _cluster(eflow_jagged, card.jet, unique)
    jets = jets[~contains]
    jets = _scale(jets, card.jet_energy_scale)
    jets = jets[ak.argsort(jets.pt, axis=1, ascending=False)]
    flavour = _flavour(jets, particles, card)
    efficiency = ak.zeros_like(jets.pt)
    for value, formula in card.btagging.efficiency.items():
        efficiency = ak.where(flavour == value, _evaluate_jagged(formula, jets), efficiency)
    btag = _uniform_like(rng, jets.pt) < efficiency
    fatjets, _ = _cluster(eflow_jagged, card.fatjet)
    genjets, _ = _cluster(_jagged(truth, n_events), card.jet)

    electron, electron_iso = leptons["electron"]
    muon, muon_iso = leptons["muon"]
    electrons = _jagged(tracks.take(electron), n_events, charge=track_charge[electron], isolation=electron_iso)
    muons = _jagged(tracks.take(muon), n_events, charge=track_charge[muon], isolation=muon_iso)
    photons = _jagged(photons_flow.take(photon_ids), n_events, isolation=photon_ratio)
    ht = ak.sum(jets.pt, axis=1) + ak.sum(electrons.pt, axis=1) + ak.sum(muons.pt, axis=1) + ak.sum(photons.pt, axis=1)
    return {
        "Jet": _with(jets, btag=btag, flavor=flavour),
        "FatJet": fatjets,
        "GenJet": genjets,
        "Electron": electrons,
        "Muon": muons,
        "Photon": photons,
        "EFlowTrack": _jagged(tracks, n_events, charge=track_charge, pid=track_pid),
        "EFlowPhoton": _jagged(photons_flow, n_events),
        "EFlowNeutralHadron": _jagged(neutral_hadrons, n_events),
        "MissingET": _missing(eflow, n_events),
        "GenMissingET": _missing(truth, n_events),
        "ScalarHT": ak.to_numpy(ht),
    }


def _identify(identified: Identified, candidates: Flat, iso_objects: Flat, n_events: int, rng, self_in_others: bool):
    """Indices (into ``candidates``) that pass efficiency and isolation, and their isolation ratio."""
    efficiency = identified.efficiency(
        pt=candidates.pt, eta=candidates.eta, phi=candidates.phi, energy=candidates.energy
    )
    found = np.flatnonzero(rng.random(len(candidates)) < efficiency)
    keep, ratio = isolated(candidates.take(found), iso_objects, identified.isolation, n_events, self_in_others)
    return found[keep], ratio[keep]


def _merge(n_events: int, *parts: Flat) -> tuple[Flat, np.ndarray]:
    """Concatenate flat collections and order them by event (stable, so each event keeps the
    parts' order); returns the merged collection and, per merged object, its concatenated index."""
    joined = Flat(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("event", "pt", "eta", "phi", "mass")))
    order = np.argsort(joined.event, kind="stable")
    return joined.take(order), order


def _counts(event: np.ndarray, n_events: int) -> np.ndarray:
    return np.bincount(event, minlength=n_events)


def _jagged(objects: Flat, n_events: int, **extra: np.ndarray) -> ak.Array:
    """Momentum4D events × var array from flat objects sorted by event, with ``extra`` fields."""
    counts = _counts(objects.event, n_events)
    fields = {"pt": objects.pt, "eta": objects.eta, "phi": objects.phi, "mass": objects.mass, **extra}
    return ak.unflatten(ak.zip(fields, with_name="Momentum4D"), counts)


def _with(objects: ak.Array, **fields: ak.Array) -> ak.Array:
    for name, values in fields.items():
        objects = ak.with_field(objects, values, name)
    return objects


def _cluster(objects: ak.Array, spec: JetSpec, flagged: np.ndarray | None = None) -> tuple[ak.Array, ak.Array | None]:
    """Anti-kT jets of every event (one fastjet call), sorted by decreasing pT.

    If ``flagged`` (one bool per flat input object) is given, also return per jet whether it
    contains a flagged object.
    """
    p4 = ak.zip({"px": objects.px, "py": objects.py, "pz": objects.pz, "E": objects.E}, with_name="Momentum4D")
    sequence = fastjet.ClusterSequence(p4, fastjet.JetDefinition(fastjet.antikt_algorithm, spec.radius))
    raw = sequence.inclusive_jets(min_pt=spec.pt_min)
    jets = ak.zip({"px": raw.px, "py": raw.py, "pz": raw.pz, "E": raw.E}, with_name="Momentum4D")
    contains = None
    if flagged is not None:
        index = sequence.constituent_index(min_pt=spec.pt_min)
        offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(objects)))])[:-1]
        global_index = index + ak.Array(offsets)
        flat = ak.to_numpy(ak.flatten(global_index, axis=None))
        hit = ak.unflatten(ak.unflatten(flagged[flat], ak.flatten(ak.num(index, axis=2))), ak.num(index, axis=1))
        contains = ak.any(hit, axis=2)
    keep = abs(jets.eta) < spec.eta_max
    jets, contains = jets[keep], (contains[keep] if contains is not None else None)
    order = ak.argsort(jets.pt, axis=1, ascending=False)
    return jets[order], (contains[order] if contains is not None else None)


def _evaluate_jagged(formula, objects: ak.Array) -> ak.Array:
    counts = ak.num(objects)
    flat = ak.flatten(objects)
    values = formula(
        pt=ak.to_numpy(flat.pt), eta=ak.to_numpy(flat.eta), phi=ak.to_numpy(flat.phi), energy=ak.to_numpy(flat.E)
    )
    return ak.unflatten(values, counts)


def _scale(jets: ak.Array, formula) -> ak.Array:
    """Four-momenta multiplied by the card's energy scale factor (jagged Momentum4D)."""
    factor = _evaluate_jagged(formula, jets)
    return ak.zip(
        {"px": jets.px * factor, "py": jets.py * factor, "pz": jets.pz * factor, "E": jets.E * factor},
        with_name="Momentum4D",
    )


def _flavour(jets: ak.Array, particles: ak.Array, card: DetectorCard) -> ak.Array:
    """Jet flavour: 5 if a b quark, else 4 if a c quark, lies within ``delta_r`` (else 0)."""
    spec = card.btagging
    quarks = particles[(particles.status < 0) & ((abs(particles.pid) == 4) | (abs(particles.pid) == 5))]
    p4 = ak.zip({"px": quarks.px, "py": quarks.py, "pz": quarks.pz, "E": quarks.e}, with_name="Momentum4D")
    near = (p4.pt > spec.parton_pt_min) & (abs(p4.eta) < spec.parton_eta_max)
    p4, pid = p4[near], abs(quarks.pid[near])
    jet, quark = ak.unzip(ak.cartesian([jets, p4], axis=1, nested=True))
    _, flavour = ak.unzip(ak.cartesian([jets.pt, pid], axis=1, nested=True))
    close = jet.deltaR(quark) < spec.delta_r
    return ak.values_astype(ak.fill_none(ak.max(ak.where(close, flavour, 0), axis=2), 0), np.int32)


def _uniform_like(rng: np.random.Generator, values: ak.Array) -> ak.Array:
    return ak.unflatten(rng.random(int(ak.sum(ak.num(values)))), ak.num(values))


def _missing(objects: Flat, n_events: int) -> ak.Array:
    """Minus the vector sum of the objects' pT per event: Momentum2D (GeV)."""
    px = np.bincount(objects.event, weights=objects.pt * np.cos(objects.phi), minlength=n_events)
    py = np.bincount(objects.event, weights=objects.pt * np.sin(objects.phi), minlength=n_events)
    return ak.zip({"px": -px, "py": -py}, with_name="Momentum2D")
