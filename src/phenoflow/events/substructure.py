"""Jet substructure: N-subjettiness and the soft-drop groomed mass, vectorised over events.

Input everywhere: the constituents of ONE jet per event, an events × var awkward array of records
with fields ``px``, ``py``, ``pz``, ``E`` (GeV). :func:`cartesian` converts records with ``pt``,
``eta``, ``phi`` (and optionally ``E`` or ``mass``) to this form. An event without constituents
(an empty list, or None) gives ``fill`` (NaN by default), never an error.

Conventions (those of FastJet and FastJet contrib):

- angular distance ΔR = sqrt(Δy² + Δφ²) with the rapidity y = ½ ln((E + pz) / (E − pz)), not the
  pseudorapidity, and Δφ wrapped to [−π, π);
- N-subjettiness (normalised measure):
  tau_N = Σ_k pT_k min_j ΔR_jk^beta / (Σ_k pT_k R0^beta), R0 = ``radius``, with axes j = the N
  exclusive kT subjets (E-scheme). A jet with at most N constituents has tau_N = 0, as in the
  Nsubjettiness contrib (every constituent is its own axis);
- soft drop: the constituents are reclustered with Cambridge/Aachen with R = 1000 (FastJet's
  ``max_allowable_R``, as the SoftDrop contrib does) so that they always form a single jet, which is
  declustered following the harder (larger pT) branch until
  min(pT1, pT2) / (pT1 + pT2) > z_cut (ΔR12 / R0)^beta; the groomed jet is the node that passes
  (a single constituent if none does: grooming mode, as the SoftDrop contrib).

Each quantity costs one multi-event fastjet clustering (all jets at once, each jet being one
"event" for fastjet). N-subjettiness takes the axes from ``exclusive_jets_up_to(N)`` and computes
distances on flat numpy arrays with the jet index of every constituent. Soft drop rebuilds the C/A
trees from ``jets()`` and ``unique_history_order()`` and declusters all jets together, one numpy
step per declustering depth: fastjet's own ``exclusive_jets_softdrop_grooming`` gives the same
masses but its export of the groomed constituents costs O(n²) per jet (~2 ms for 60 constituents).
There is no Python loop over jets or particles.
"""

from __future__ import annotations

import warnings

import awkward as ak
import fastjet
import numpy as np

from phenoflow.defaults import default
from phenoflow.kinematics import delta_phi

#: FastJet's largest jet radius: with it C/A and kT never merge with the beam before each other.
_R_MAX = 1000.0
#: |rapidity| given to momenta along the beam (FastJet uses 1e5 + |pz|).
_MAX_RAPIDITY = 1e5


def cartesian(constituents: ak.Array) -> ak.Array:
    """Records with px, py, pz, E (float64, GeV), same events × var structure as ``constituents``.

    ``constituents``: records with ``pt`` (GeV), ``eta``, ``phi`` (rad) and, optionally, ``E`` or
    else ``mass`` (GeV); massless if neither is present.
    """
    fields = ak.fields(constituents)
    pt = ak.values_astype(constituents.pt, np.float64)
    eta = ak.values_astype(constituents.eta, np.float64)
    phi = ak.values_astype(constituents.phi, np.float64)
    pz = pt * np.sinh(eta)
    if "E" in fields:
        energy = ak.values_astype(constituents.E, np.float64)
    elif "mass" in fields:
        mass = ak.values_astype(constituents.mass, np.float64)
        energy = np.sqrt(pt**2 + pz**2 + mass**2)
    else:
        energy = pt * np.cosh(eta)
    return ak.zip({"px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": pz, "E": energy})


def _rapidity(pz: np.ndarray, energy: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Rapidity ½ ln((E + pz) / (E − pz)) of momenta (GeV, any shape), computed as FastJet does.

    Negative m² counts as 0; a momentum along the beam gets ±1e5, a zero four-vector 0.
    """
    m2 = np.maximum(energy**2 - pt**2 - pz**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.copysign(np.log((energy + np.abs(pz)) / np.sqrt(pt**2 + m2)), pz)
    return np.nan_to_num(np.clip(y, -_MAX_RAPIDITY, _MAX_RAPIDITY), nan=0.0)


def nsubjettiness(
    constituents: ak.Array,
    n_max: int = 3,
    beta: float = default("substructure.nsubjettiness_beta"),
    radius: float = default("substructure.radius"),
    fill: float = np.nan,
) -> np.ndarray:
    """tau_1 .. tau_n_max per event: float64 array (n_events, n_max), dimensionless.

    ``constituents``: events × var records px, py, pz, E (GeV), one jet per event. Axes are the
    exclusive kT subjets, ΔR uses rapidity and φ, ``beta`` > 0 is the angular exponent and
    ``radius`` the R0 of the normalisation Σ pT R0^beta (see the module docstring). tau_N = 0 for a
    jet with at most N constituents; a jet without constituents (or with Σ pT = 0) gets ``fill``.
    """
    if n_max < 1:
        raise ValueError(f"n_max must be at least 1, got {n_max}")
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    counts, (px, py, pz, energy) = _flat_momenta(constituents)
    n_events = len(counts)
    taus = np.full((n_events, n_max), fill, dtype=np.float64)
    event = np.repeat(np.arange(n_events), counts)
    pt = np.hypot(px, py)
    y, phi = _rapidity(pz, energy, pt), np.arctan2(py, px)
    normalisation = np.bincount(event, pt, minlength=n_events) * radius**beta
    valid = normalisation > 0
    if not valid.any():
        return taus

    sequence = _cluster(counts, px, py, pz, energy, fastjet.kt_algorithm)
    for n in range(1, n_max + 1):
        with warnings.catch_warnings():  # fastjet warns about exclusive jets even for kT
            warnings.filterwarnings("ignore", message="dcut and exclusive jets", category=UserWarning)
            axes = sequence.exclusive_jets_up_to(n)  # min(n, n_constituents) axes per event
        axis_pz, axis_energy = _padded(axes.pz, n), _padded(axes.E, n)
        axis_px, axis_py = _padded(axes.px, n), _padded(axes.py, n)
        axis_y = _rapidity(axis_pz, axis_energy, np.hypot(axis_px, axis_py))
        axis_phi = np.arctan2(axis_py, axis_px)
        min_dr2 = np.full(len(pt), np.inf)
        for j in range(n):  # over the n axes, vectorised over all constituents of all jets
            dr2 = (y - axis_y[event, j]) ** 2 + delta_phi(phi, axis_phi[event, j]) ** 2
            min_dr2 = np.fmin(min_dr2, dr2)  # fmin skips the NaN padding of missing axes
        numerator = np.bincount(event, pt * min_dr2 ** (beta / 2), minlength=n_events)
        taus[valid, n - 1] = numerator[valid] / normalisation[valid]
    return taus


def ratios(taus: np.ndarray, fill: float = np.nan) -> dict[str, np.ndarray]:
    """Ratios tau_{N+1} / tau_N of consecutive columns of ``taus`` (n_events, n_max), shape (n_events,).

    Keys ``"tau21"``, ``"tau32"``, ... up to n_max. A zero denominator gives ``fill`` (0/0 for a
    jet with one constituent, or all constituents collinear); NaN taus stay NaN.
    """
    taus = np.asarray(taus, dtype=np.float64)
    if taus.ndim != 2:
        raise ValueError(f"taus must have shape (n_events, n_max), got {taus.shape}")
    out = {}
    for n in range(1, taus.shape[1]):
        numerator, denominator = taus[:, n], taus[:, n - 1]
        ratio = np.full(len(taus), fill, dtype=np.float64)
        np.divide(numerator, denominator, out=ratio, where=denominator != 0)  # NaN / x stays NaN
        out[f"tau{n + 1}{n}"] = ratio
    return out


def softdrop_mass(
    constituents: ak.Array,
    z_cut: float = default("substructure.softdrop.z_cut"),
    beta: float = default("substructure.softdrop.beta"),
    radius: float = default("substructure.radius"),
    fill: float = np.nan,
) -> np.ndarray:
    """Soft-drop groomed jet mass (GeV) per event: float64 array (n_events,).

    ``constituents``: events × var records px, py, pz, E (GeV), one jet per event. C/A
    declustering along the harder branch until min(pT1, pT2) / (pT1 + pT2) > ``z_cut`` (ΔR12 /
    ``radius``)^``beta``, with ``beta`` ≥ 0 (grooming mode; ``beta`` = 0 is the modified mass-drop
    tagger) and ΔR in rapidity and φ; the mass is that of the first node that passes, or of the
    last constituent reached. Rounding that makes m² < 0 (one massless constituent left) gives 0.
    A jet without constituents gets ``fill``, as does a jet with a constituent of pT = 0 (its
    rapidity is undefined and C/A then splits the jet in two).
    """
    if not z_cut >= 0:
        raise ValueError(f"z_cut must be non-negative, got {z_cut}")
    if not beta >= 0:
        raise ValueError(f"beta must be non-negative (grooming mode), got {beta}")
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    counts, momenta = _flat_momenta(constituents)
    masses = np.full(len(counts), fill, dtype=np.float64)
    present = counts > 0
    if not present.any():
        return masses
    n_constituents = counts[present]
    sequence = _cluster(n_constituents, *momenta, fastjet.cambridge_algorithm)
    nodes = sequence.jets()  # per jet: its constituents, then the merged pseudojets in clustering order
    n_nodes = np.asarray(ak.to_numpy(ak.num(nodes, axis=1)), dtype=np.int64)
    order = sequence.unique_history_order()
    parent_a, parent_b, root, complete = _ca_tree(n_constituents, n_nodes, order)
    px, py, pz, energy = (
        np.asarray(ak.to_numpy(ak.flatten(nodes[field], axis=1)), dtype=np.float64) for field in ("px", "py", "pz", "E")
    )
    groomed = _decluster(root[complete], parent_a, parent_b, px, py, pz, energy, z_cut, beta, radius)
    mass2 = energy[groomed] ** 2 - px[groomed] ** 2 - py[groomed] ** 2 - pz[groomed] ** 2
    jet_masses = np.full(len(n_constituents), fill, dtype=np.float64)
    jet_masses[complete] = np.sqrt(np.maximum(mass2, 0.0))
    masses[present] = jet_masses
    return masses


def _flat_momenta(constituents: ak.Array) -> tuple[np.ndarray, list[np.ndarray]]:
    """Constituents per event (None → 0) and the flat float64 px, py, pz, E (GeV) of all of them."""
    missing = [field for field in ("px", "py", "pz", "E") if field not in ak.fields(constituents)]
    if missing:
        raise ValueError(f"constituents need fields px, py, pz, E (GeV), missing {', '.join(missing)}; see cartesian()")
    counts = np.asarray(ak.to_numpy(ak.fill_none(ak.num(constituents, axis=1), 0)), dtype=np.int64)
    flat = [
        np.asarray(ak.to_numpy(ak.flatten(constituents[field], axis=1)), dtype=np.float64)
        for field in ("px", "py", "pz", "E")
    ]
    return counts, flat


def _cluster(
    counts: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, energy: np.ndarray, algorithm: int
) -> fastjet.ClusterSequence:
    """One multi-event fastjet clustering with R = 1000 of the flat momenta split by ``counts``."""
    inputs = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": energy}), counts)  # packed
    return fastjet.ClusterSequence(inputs, fastjet.JetDefinition(algorithm, _R_MAX))


def _ca_tree(
    n_constituents: np.ndarray, n_nodes: np.ndarray, order: ak.Array
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parents of every node of the C/A trees, from fastjet's ``unique_history_order``.

    For jet i, node (history index) h < n_constituents[i] is a constituent and h < 2 n - 1 a
    merging, all stored in ``ClusterSequence.jets()`` at flat index offset_i + h; the history entry
    2 n - 1 is the final merging with the beam. ``order`` (jets × 2 n) lists each node after all the
    nodes it is made of (a post-order traversal), so with the stack height after every entry the
    parents of a merging at position q are the entry at q - 1 and the last earlier entry with the
    same height. Returns flat ``parent_a``, ``parent_b`` (-1 for constituents), the flat index of
    each jet's root and whether the jet was clustered into one tree (False when fastjet merged a
    subjet with the beam before the end, which only a constituent with pT = 0 can cause).
    """
    n_jets = len(n_constituents)
    offsets = np.concatenate([[0], np.cumsum(n_nodes)])
    complete = n_nodes == 2 * n_constituents - 1
    history = np.asarray(ak.to_numpy(ak.flatten(order, axis=1)), dtype=np.int64)
    jet = np.repeat(np.arange(n_jets), ak.to_numpy(ak.num(order, axis=1)))
    keep = complete[jet] & (history < 2 * n_constituents[jet] - 1)  # drops the beam entry
    history, jet = history[keep], jet[keep]
    node = offsets[jet] + history
    is_leaf = history < n_constituents[jet]
    height = np.cumsum(np.where(is_leaf, 1, -1))  # a merging pops two nodes and pushes one
    block = np.bincount(jet, minlength=n_jets)
    before = np.concatenate([[0], height])[np.concatenate([[0], np.cumsum(block)[:-1]])]
    height -= np.repeat(before, block)
    by_height = np.lexsort((height, jet))  # stable: positions in order within each (jet, height)
    previous = np.full(len(node), -1)
    same = (jet[by_height[1:]] == jet[by_height[:-1]]) & (height[by_height[1:]] == height[by_height[:-1]])
    previous[by_height[1:][same]] = by_height[:-1][same]
    merging = np.flatnonzero(~is_leaf)
    if (previous[merging] < 0).any():
        raise RuntimeError("fastjet's unique_history_order is not a post-order traversal of the C/A tree")
    parent_a = np.full(offsets[-1], -1, dtype=np.int64)
    parent_b = np.full(offsets[-1], -1, dtype=np.int64)
    parent_a[node[merging]] = node[previous[merging]]
    parent_b[node[merging]] = node[merging - 1]
    root = offsets[:-1] + 2 * n_constituents - 2
    return parent_a, parent_b, root, complete


def _decluster(
    current: np.ndarray,
    parent_a: np.ndarray,
    parent_b: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    energy: np.ndarray,
    z_cut: float,
    beta: float,
    radius: float,
) -> np.ndarray:
    """Flat index of the soft-drop node of each tree, starting from the roots ``current``.

    One iteration per declustering depth, vectorised over the jets still declustering: stop at a
    constituent or where the soft-drop condition holds, else follow the harder parent (larger pT²;
    ``parent_a`` on an exact tie).
    """
    pt2 = px**2 + py**2
    y, phi = _rapidity(pz, energy, np.sqrt(pt2)), np.arctan2(py, px)
    current = current.copy()
    active = np.arange(len(current))
    while active.size:
        node = current[active]
        a, b = parent_a[node], parent_b[node]
        leaf = a < 0
        a, b = np.where(leaf, node, a), np.where(leaf, node, b)
        pt_a, pt_b = np.sqrt(pt2[a]), np.sqrt(pt2[b])
        dr2 = (y[a] - y[b]) ** 2 + delta_phi(phi[a], phi[b]) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.minimum(pt_a, pt_b) / (pt_a + pt_b)
        passes = z > z_cut * (dr2 / radius**2) ** (beta / 2)  # False for 0 / 0
        stop = leaf | passes
        current[active] = np.where(stop, node, np.where(pt2[a] < pt2[b], b, a))
        active = active[~stop]
    return current


def _padded(values: ak.Array, n: int) -> np.ndarray:
    """Jagged events × var values as a float64 (n_events, n) array, NaN-padded."""
    return np.asarray(ak.to_numpy(ak.fill_none(ak.pad_none(values, n, axis=1, clip=True), np.nan)), dtype=np.float64)
