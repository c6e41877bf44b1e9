"""Throughput of the vectorised jet images against a per-particle Python loop.

Run: ``.venv/bin/python benchmarks/images.py [--jets N] [--constituents M] [--loop-jets K]``

Builds N synthetic jets with on average M constituents (Poisson), axes spread over the whole
(eta, phi) plane so that the phi = ±pi boundary is crossed, and times

- ``jet_images`` with the default spec (centre on the axis, 33 × 33, no preprocessing) over all
  N jets, best of three;
- a naive loop over jets and particles filling the same image, over the first K jets only (its
  inputs converted to Python lists beforehand, outside the timing), extrapolated to a rate;
- for information, ``jet_images`` with the full preprocessing (leading kT subjet, rotation, flip,
  max normalisation), including the fastjet reclustering.

It checks that the two default-spec images are identical on the K jets and prints the rates and
their ratio; it does not assert timings.
"""

from __future__ import annotations

import argparse
import math
import time

import awkward as ak
import numpy as np

from phenoflow.images import ImageSpec, jet_images


def synthetic_jets(n_jets: int, mean_constituents: float, seed: int = 7) -> tuple[ak.Array, np.ndarray, np.ndarray]:
    """Two-prong-like jets: constituents (events × var pt, eta, phi; GeV, rad) and axes (n_jets,)."""
    rng = np.random.default_rng(seed)
    counts = np.maximum(rng.poisson(mean_constituents, n_jets), 1)
    n = counts.sum()
    event = np.repeat(np.arange(n_jets), counts)
    axis_eta = rng.uniform(-2.0, 2.0, n_jets)
    axis_phi = rng.uniform(-np.pi, np.pi, n_jets)
    # a second prong at 0.2-0.8 rad in a random direction takes ~30% of the constituents
    prong_r, prong_angle = rng.uniform(0.2, 0.8, n_jets), rng.uniform(-np.pi, np.pi, n_jets)
    in_prong = rng.random(n) < 0.3
    offset_eta = np.where(in_prong, (prong_r * np.cos(prong_angle))[event], 0.0) + rng.normal(0, 0.15, n)
    offset_phi = np.where(in_prong, (prong_r * np.sin(prong_angle))[event], 0.0) + rng.normal(0, 0.15, n)
    wide = rng.random(n) < 0.1  # soft wide-angle radiation, partly outside the window
    offset_eta = np.where(wide, rng.uniform(-2.0, 2.0, n), offset_eta)
    offset_phi = np.where(wide, rng.uniform(-2.0, 2.0, n), offset_phi)
    pt = rng.exponential(10.0, n) + 0.5
    eta = axis_eta[event] + offset_eta
    phi = (axis_phi[event] + offset_phi + np.pi) % (2 * np.pi) - np.pi
    constituents = ak.unflatten(ak.zip({"pt": pt, "eta": eta, "phi": phi}), counts)
    return constituents, axis_eta, axis_phi


def naive_images(jets: list[list[dict]], axis_eta: list[float], axis_phi: list[float], spec: ImageSpec) -> np.ndarray:
    """Reference: loop over jets and particles, centring on the axis; float32 (n_jets, n_eta, n_phi)."""
    width_eta, width_phi = spec.pixel_size
    images = np.zeros((len(jets), spec.n_eta, spec.n_phi))
    for k, (jet, jet_eta, jet_phi) in enumerate(zip(jets, axis_eta, axis_phi)):
        image = images[k]
        for particle in jet:
            deta = particle["eta"] - jet_eta
            dphi = (particle["phi"] - jet_phi + math.pi) % (2 * math.pi) - math.pi
            i = (deta + spec.half_width_eta) / width_eta
            j = (dphi + spec.half_width_phi) / width_phi
            if 0 <= i < spec.n_eta and 0 <= j < spec.n_phi:
                image[int(i), int(j)] += particle["pt"]
    return images.astype(np.float32)


def best_time(function, repeat: int) -> tuple[float, object]:
    """Shortest wall time (s) of ``repeat`` calls and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=20_000)
    parser.add_argument("--constituents", type=float, default=50.0)
    parser.add_argument("--loop-jets", type=int, default=500)
    args = parser.parse_args()

    constituents, axis_eta, axis_phi = synthetic_jets(args.jets, args.constituents)
    spec = ImageSpec()
    full = ImageSpec(centre="leading_subjet", rotate=True, flip=True, normalise="max")
    n_loop = min(args.loop_jets, args.jets)
    n_particles = int(ak.sum(ak.num(constituents)))
    print(f"{args.jets} jets, {n_particles} constituents ({n_particles / args.jets:.1f} per jet), image {spec.shape}")

    jet_images(constituents[:10], axis_eta[:10], axis_phi[:10], full)  # warm-up (fastjet banner, imports)
    t_vec, images = best_time(lambda: jet_images(constituents, axis_eta, axis_phi, spec), repeat=3)

    t_convert, subset = best_time(lambda: constituents[:n_loop].to_list(), repeat=3)
    sub_eta, sub_phi = axis_eta[:n_loop].tolist(), axis_phi[:n_loop].tolist()
    t_loop, reference = best_time(lambda: naive_images(subset, sub_eta, sub_phi, spec), repeat=3)
    t_full, _ = best_time(lambda: jet_images(constituents, axis_eta, axis_phi, full), repeat=1)

    rate_vec, rate_full = args.jets / t_vec, args.jets / t_full
    rate_loop, rate_loop_convert = n_loop / t_loop, n_loop / (t_loop + t_convert)

    def row(label: str, value: str, note: str) -> None:
        print(f"{label:<32}{value:>16}   {note}")

    row("vectorised, default spec", f"{rate_vec:,.0f} images/s", f"{t_vec:.3f} s for {args.jets} jets, best of 3")
    row("naive loop over Python lists", f"{rate_loop:,.0f} images/s", f"{t_loop:.3f} s for {n_loop} jets, best of 3")
    row("  + awkward -> list conversion", f"{rate_loop_convert:,.0f} images/s", f"conversion {t_convert:.3f} s more")
    row("speed-up vs loop alone", f"{rate_vec / rate_loop:.1f} x", "goal >= 50 x")
    row("speed-up vs loop + conversion", f"{rate_vec / rate_loop_convert:.1f} x", "")
    row("vectorised, full preprocessing", f"{rate_full:,.0f} images/s",
        f"{t_full:.3f} s; leading kT subjet, rotate, flip, max (fastjet included)")
    difference = np.abs(images[:n_loop] - reference).max()
    print(f"identical images on the {n_loop} looped jets: {np.array_equal(images[:n_loop], reference)}"
          f" (max |difference| {difference:.3g} GeV; {reference.sum():.6g} GeV of pT in these images)")


if __name__ == "__main__":
    main()
