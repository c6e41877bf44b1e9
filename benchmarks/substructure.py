"""Throughput of N-subjettiness (tau_1..tau_3) and the soft-drop mass on synthetic boosted jets.

Run: ``.venv/bin/python benchmarks/substructure.py [--jets N] [--constituents M] [--repeat K]``

Builds N synthetic jets of about 500 GeV with on average M massless constituents (Poisson): two or
three hard prongs (a W- or top-like jet) of collimated particles plus ~15% soft wide-angle
radiation within ΔR < 0.8, axes spread over the whole (eta, phi) plane so that phi = ±pi is
crossed. It times, best of K,

- ``nsubjettiness`` (n_max = 3, beta = 1, R0 = 0.8): one kT clustering, three exclusive-jet
  extractions and the flat numpy distances;
- ``softdrop_mass`` (z_cut = 0.1, beta = 0, R0 = 0.8): C/A clustering, tree rebuilt from the
  clustering history, declustering vectorised over jets;
- both together (the goal: >= 2000 jets/s), and, for information, the ``cartesian`` conversion
  from (pt, eta, phi), fastjet contrib's own Nsubjettiness (KT_Axes, normalised measure) and
  fastjet's own soft drop (``exclusive_jets_softdrop_grooming``, on the first R jets only as it
  is slow), whose taus and masses it checks against ours.

All of it runs in one thread (fastjet's multi-event loop is serial). No timings are asserted.
"""

from __future__ import annotations

import argparse
import os
import warnings

import awkward as ak
import fastjet
import numpy as np
from timing import best_time

from phenoflow.events.substructure import cartesian, nsubjettiness, ratios, softdrop_mass


def synthetic_jets(n_jets: int, mean_constituents: float, seed: int = 7) -> ak.Array:
    """Boosted two- and three-prong jets: events × var records pt (GeV), eta, phi (rad)."""
    rng = np.random.default_rng(seed)
    counts = np.maximum(rng.poisson(mean_constituents, n_jets), 1)
    n = counts.sum()
    event = np.repeat(np.arange(n_jets), counts)
    jet_pt = rng.uniform(400.0, 600.0, n_jets)
    axis_eta, axis_phi = rng.uniform(-2.0, 2.0, n_jets), rng.uniform(-np.pi, np.pi, n_jets)
    # prongs: up to three, at 0.1-0.5 rad from the axis, with random momentum shares
    n_prongs = rng.choice([2, 3], n_jets)
    prong_r = rng.uniform(0.1, 0.5, (n_jets, 3))
    prong_angle = rng.uniform(-np.pi, np.pi, (n_jets, 3))
    prong_share = rng.dirichlet([3.0, 2.0, 1.5], n_jets)
    prong_share[n_prongs == 2, 2] = 0.0
    prong_share /= prong_share.sum(axis=1, keepdims=True)
    prong = _draw(rng, prong_share, event)
    wide = rng.random(n) < 0.15
    spread = np.where(wide, 0.0, 0.04 + 0.04 * rng.random(n))
    deta = prong_r[event, prong] * np.cos(prong_angle[event, prong]) + rng.normal(0.0, 1.0, n) * spread
    dphi = prong_r[event, prong] * np.sin(prong_angle[event, prong]) + rng.normal(0.0, 1.0, n) * spread
    wide_r, wide_angle = 0.8 * np.sqrt(rng.random(n)), rng.uniform(-np.pi, np.pi, n)
    deta = np.where(wide, wide_r * np.cos(wide_angle), deta)
    dphi = np.where(wide, wide_r * np.sin(wide_angle), dphi)
    # momentum: an exponential share of the prong, soft (1-5 GeV) for wide-angle radiation
    weight = rng.exponential(1.0, n)
    prong_sum = np.bincount(event * 3 + prong, np.where(wide, 0.0, weight), minlength=3 * n_jets)
    hard = jet_pt[event] * 0.95 * prong_share[event, prong] * weight / np.maximum(prong_sum[event * 3 + prong], 1e-12)
    pt = np.where(wide, rng.uniform(1.0, 5.0, n), hard) + 0.1
    eta = axis_eta[event] + deta
    phi = (axis_phi[event] + dphi + np.pi) % (2 * np.pi) - np.pi
    return ak.unflatten(ak.zip({"pt": pt, "eta": eta, "phi": phi}), counts)


def _draw(rng: np.random.Generator, shares: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Prong index (0..2) of every constituent, drawn with its jet's prong shares."""
    cumulative = np.cumsum(shares, axis=1)[event]
    return np.minimum((rng.random(len(event))[:, None] > cumulative).sum(axis=1), 2)


def contrib_taus(constituents: ak.Array) -> np.ndarray:
    """tau_1..tau_3 from fastjet contrib Nsubjettiness (KT_Axes, NormalizedMeasure beta 1, R0 0.8)."""
    sequence = fastjet.ClusterSequence(constituents, fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0))
    return sequence.njettiness(
        measure_definition="NormalizedMeasure", axes_definition="KT_Axes", njets=[1, 2, 3], beta=1.0, R0=0.8
    ).to_numpy()


def fastjet_softdrop(constituents: ak.Array) -> np.ndarray:
    """Soft-drop mass (GeV, z_cut 0.1, beta 0, R0 0.8) from fastjet's SoftDrop, negative m → 0."""
    sequence = fastjet.ClusterSequence(constituents, fastjet.JetDefinition(fastjet.cambridge_algorithm, 1000.0))
    groomed = sequence.exclusive_jets_softdrop_grooming(njets=1, beta=0.0, symmetry_cut=0.1, R0=0.8)
    return np.maximum(groomed.msoftdrop.to_numpy(), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=2000)
    parser.add_argument("--constituents", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-jets", type=int, default=500)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="dcut and exclusive jets")

    polar = synthetic_jets(args.jets, args.constituents)
    n_particles = int(ak.sum(ak.num(polar)))
    print(
        f"{args.jets} jets, {n_particles} constituents ({n_particles / args.jets:.1f} per jet); "
        f"{os.cpu_count()} CPUs visible, single-threaded code"
    )

    softdrop_mass(cartesian(polar[:5]))  # warm-up: fastjet banner, imports
    t_convert, constituents = best_time(lambda: cartesian(polar), args.repeat)
    t_tau, taus = best_time(lambda: nsubjettiness(constituents, n_max=3), args.repeat)
    t_sd, masses = best_time(lambda: softdrop_mass(constituents, z_cut=0.1, beta=0.0), args.repeat)
    t_both, _ = best_time(lambda: (nsubjettiness(constituents, n_max=3), softdrop_mass(constituents)), args.repeat)
    t_contrib, reference = best_time(lambda: contrib_taus(constituents), args.repeat)
    n_ref = min(args.reference_jets, args.jets)
    t_fj_sd, fj_masses = best_time(lambda: fastjet_softdrop(constituents[:n_ref]), 1)

    def row(label: str, seconds: float, note: str = "", n_jets: int = args.jets) -> None:
        print(f"{label:<40}{n_jets / seconds:>12,.0f} jets/s   {seconds * 1e3:8.1f} ms  {note}")

    row("cartesian (pt, eta, phi) -> px..E", t_convert)
    row("nsubjettiness tau_1..tau_3", t_tau, "kT axes, beta 1, R0 0.8")
    row("softdrop_mass", t_sd, "z_cut 0.1, beta 0, R0 0.8")
    row("tau_1..3 + soft drop together", t_both, "goal >= 2000 jets/s")
    row("(fastjet contrib Nsubjettiness, info)", t_contrib, "KT_Axes, all in C++")
    row("(fastjet soft drop, info)", t_fj_sd, f"exclusive_jets_softdrop_grooming, {n_ref} jets", n_ref)
    print(
        f"max |tau - contrib tau| = {np.abs(taus - reference).max():.2e}; "
        f"max |m_SD - fastjet m_SD| = {np.abs(masses[:n_ref] - fj_masses).max():.2e} GeV on {n_ref} jets"
    )
    tau21 = ratios(taus)["tau21"]
    ungroomed = softdrop_mass(constituents, z_cut=0.0)
    lighter = np.mean(masses < ungroomed - 1e-9)
    print(
        f"median tau21 {np.nanmedian(tau21):.3f}, median soft-drop mass {np.median(masses):.1f} GeV "
        f"(ungroomed {np.median(ungroomed):.1f} GeV), groomed lighter in {lighter:.0%} of jets"
    )


if __name__ == "__main__":
    main()
