"""Throughput of the vectorised jet images against per-particle Python loops, and streaming memory.

Run: ``.venv/bin/python benchmarks/images.py [--jets N] [--constituents M] [--loop-jets K] [--chunk C]``

Builds N synthetic jets with on average M constituents (Poisson), axes spread over the whole
(eta, phi) plane so that the phi = ±pi boundary is crossed, and times three pipelines, each on both
sides: ``jet_images`` over all N jets against a naive Python loop over jets and particles over the
first K jets (best of three each, the two sides taking turns so that changes in the machine's load
fall on both; the loop's inputs are converted to Python lists beforehand, outside the timing, which
favours the loop; the row "with loop's ak->list" adds that conversion back for pipeline 1),
extrapolated to images per second:

1. pixelisation only: relative coordinates (delta eta, wrapped delta phi), pixel index, pT summed
   into a numpy image; no preprocessing on either side;
2. centroid, principal axis, flip, max: translation to the pT centroid, rotation of the principal
   axis downwards, flip and max-normalisation; no reclustering on either side;
3. kT subjets: centring on the leading kT (R = 0.3) subjet, second subjet rotated downwards (else
   the principal axis), flip, max. The vectorised side makes one multi-event fastjet call per
   4096 jets; the loop calls fastjet once per jet (classic PseudoJet interface), as a user writing
   the loop would, with the same jet definition. The fastjet clustering alone is timed too.

Floors: work that any vectorised implementation does, timed alone (best of three), with the
speed-up over the loop each would allow if the pipeline did nothing else: a fresh float32 image
array with every page touched (the kernel zeroes ~87 MB for 20 000 images); that plus one
``np.add.at`` of every constituent's pT into its pixel, the pixels computed beforehand (a floor for
pipeline 1); the fastjet reclustering alone (a floor for pipeline 3).

The loops compute the same quantities in the same order, in float64, so the images must agree up
to float32 rounding: the vectorised side sums pixels in float32 (~1e-7 of a pixel), with pixelisation
only in float32 coordinates too (a constituent within ~1e-6 rad of a pixel edge may land in the
neighbouring pixel), and with preprocessing ulp-level differences of numpy and ``math`` trigonometry;
the script prints how many pixels differ and by how much. It does not assert timings.

Memory: ``write_jet_images`` streams C-jet chunks, generated on the fly, of the full preprocessing
(pipeline 3) into a ``.npy`` file for N (1×) and 10 N (10×) jets, each in a fresh subprocess, and
reports the peak resident set size (VmHWM, which includes fastjet's C++ memory), its excess over the
level after imports and warm-up, and the tracemalloc peak (numpy and Python allocations). Flat
memory means about the same figures for 1× and 10×, while the file grows tenfold.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import awkward as ak
import fastjet
import numpy as np
from timing import best_time, best_times

from phenoflow.features.images import ImageSpec, jet_images, kt_subjet_definition, kt_subjets, write_jet_images

PIXELS_ONLY = ImageSpec()
CENTROID = ImageSpec(centre="centroid", rotate=True, rotate_to="principal_axis", flip=True, normalise="max")
SUBJETS = ImageSpec(centre="leading_subjet", rotate=True, flip=True, normalise="max")


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


def wrap(angle: float) -> float:
    """Angle (rad) wrapped to [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


def naive_images(jets: list[list[dict]], axis_eta: list[float], axis_phi: list[float], spec: ImageSpec) -> np.ndarray:
    """Reference 1: loop over jets and particles, centring on the axis; float32 (n_jets, n_eta, n_phi)."""
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


def naive_preprocessed_images(
    jets: list[list[dict]],
    axis_eta: list[float],
    axis_phi: list[float],
    spec: ImageSpec,
    definition: fastjet.JetDefinition | None = None,
) -> np.ndarray:
    """References 2 and 3: loop over jets and particles with the full preprocessing of ``spec``.

    Centre on the pT centroid or (with a jet ``definition``) on the leading kT subjet from one
    fastjet call per jet; rotate the second subjet, else the principal axis, downwards; pixelise;
    flip; normalise by the maximum. float32 (n_jets, n_eta, n_phi).
    """
    width_eta, width_phi = spec.pixel_size
    half = spec.n_eta // 2
    images = np.zeros((len(jets), spec.n_eta, spec.n_phi), dtype=np.float32)
    for k, (jet, jet_eta, jet_phi) in enumerate(zip(jets, axis_eta, axis_phi)):
        pts = [particle["pt"] for particle in jet]
        xs = [particle["eta"] - jet_eta for particle in jet]
        ys = [wrap(particle["phi"] - jet_phi) for particle in jet]
        total = sum(pts)
        second = None
        if definition is not None:
            pseudojets = [
                fastjet.PseudoJet(p * math.cos(phi), p * math.sin(phi), p * math.sinh(eta), p * math.cosh(eta))
                for p, eta, phi in ((particle["pt"], particle["eta"], particle["phi"]) for particle in jet)
            ]
            sequence = fastjet.ClusterSequence(pseudojets, definition)
            subjets = fastjet.sorted_by_pt(sequence.inclusive_jets())
            centre_x, centre_y = subjets[0].eta() - jet_eta, wrap(subjets[0].phi_std() - jet_phi)
            if len(subjets) > 1:
                second = (subjets[1].eta() - jet_eta - centre_x, wrap(wrap(subjets[1].phi_std() - jet_phi) - centre_y))
        else:
            centre_x = sum(p * x for p, x in zip(pts, xs)) / total
            centre_y = sum(p * y for p, y in zip(pts, ys)) / total
        xs = [x - centre_x for x in xs]
        ys = [wrap(y - centre_y) for y in ys]

        direction = None
        if second is not None and math.hypot(*second) > 1e-12:
            direction = math.atan2(second[1], second[0])
        else:  # principal axis of the pT-weighted covariance, towards the larger signed spread
            mean_x = sum(p * x for p, x in zip(pts, xs)) / total
            mean_y = sum(p * y for p, y in zip(pts, ys)) / total
            var_x = sum(p * (x - mean_x) ** 2 for p, x in zip(pts, xs)) / total
            var_y = sum(p * (y - mean_y) ** 2 for p, y in zip(pts, ys)) / total
            cov_xy = sum(p * (x - mean_x) * (y - mean_y) for p, x, y in zip(pts, xs, ys)) / total
            if math.hypot(2 * cov_xy, var_x - var_y) > 1e-12:
                direction = 0.5 * math.atan2(2 * cov_xy, var_x - var_y)
                c, s = math.cos(direction), math.sin(direction)
                spread = sum(p * (x * c + y * s) * abs(x * c + y * s) for p, x, y in zip(pts, xs, ys))
                if spread < 0:
                    direction += math.pi
        if direction is not None:
            angle = -math.pi / 2 - direction
            c, s = math.cos(angle), math.sin(angle)
            xs, ys = [x * c - y * s for x, y in zip(xs, ys)], [x * s + y * c for x, y in zip(xs, ys)]

        image = np.zeros((spec.n_eta, spec.n_phi))
        for p, x, y in zip(pts, xs, ys):
            i = (x + spec.half_width_eta) / width_eta
            j = (y + spec.half_width_phi) / width_phi
            if 0 <= i < spec.n_eta and 0 <= j < spec.n_phi:
                image[int(i), int(j)] += p
        pixels = image.astype(np.float32)
        if pixels[:half].sum(dtype=np.float64) > pixels[spec.n_eta - half :].sum(dtype=np.float64):
            pixels = pixels[::-1]
        largest = pixels.max()
        images[k] = pixels / largest if largest > 0 else 0.0
    return images


def compare(images: np.ndarray, reference: np.ndarray) -> str:
    """How the vectorised ``images`` differ from the loop's ``reference`` (same shape)."""
    difference = np.abs(images.astype(np.float64) - reference)
    scale = max(float(np.abs(reference).max()), 1e-300)
    differing = int((difference > 1e-6 * scale).sum())
    if np.array_equal(images, reference):
        return f"identical ({reference.size} pixels)"
    return f"{differing} of {reference.size} pixels differ by > 1e-6 of the largest, max by {difference.max():.3g}"


def floor_times(
    constituents: ak.Array, axis_eta: np.ndarray, axis_phi: np.ndarray, spec: ImageSpec
) -> tuple[float, float]:
    """Best-of-3 wall times (s) of two parts of pixelisation that any vectorised implementation does.

    (a) a fresh float32 image array (n_jets, n_eta, n_phi) with every 4 kB page written once;
    (b) that plus one ``np.add.at`` of every constituent's pT into its pixel, accumulated in float32,
    with the pixel indices computed beforehand, outside the timing.
    """
    counts = ak.to_numpy(ak.num(constituents))
    event = np.repeat(np.arange(len(counts)), counts)
    flat = ak.flatten(constituents)
    width_eta, width_phi = spec.pixel_size
    delta_phi = (ak.to_numpy(flat.phi) - axis_phi[event] + np.pi) % (2 * np.pi) - np.pi
    i = np.floor((ak.to_numpy(flat.eta) - axis_eta[event] + spec.half_width_eta) / width_eta)
    j = np.floor((delta_phi + spec.half_width_phi) / width_phi)
    inside = (i >= 0) & (i < spec.n_eta) & (j >= 0) & (j < spec.n_phi)
    index = ((event * spec.n_eta + i) * spec.n_phi + j)[inside].astype(np.intp)
    pt = ak.to_numpy(flat.pt)[inside].astype(np.float32)
    shape = (len(counts), *spec.shape)

    def fresh() -> np.ndarray:
        images = np.zeros(shape, dtype=np.float32)
        images.reshape(-1)[::1024] = 0.0  # one float32 per 4 kB page
        return images

    def scatter() -> np.ndarray:
        images = np.zeros(shape, dtype=np.float32)
        np.add.at(images.reshape(-1), index, pt)
        return images

    return best_time(fresh, repeat=3)[0], best_time(scatter, repeat=3)[0]


def resident_mb() -> tuple[float, float]:
    """Current and peak resident set size of this process (MB), from /proc (Linux) or getrusage."""
    try:
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        return float(status["VmRSS"].split()[0]) / 1024, float(status["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak


def memory_run(n_jets: int, mean_constituents: float, chunk: int) -> dict:
    """Stream n_jets synthetic jets in chunks through write_jet_images (pipeline 3); memory in MB."""
    jet_images(*synthetic_jets(100, mean_constituents, seed=1), SUBJETS)  # imports, fastjet banner, caches
    baseline, _ = resident_mb()
    sizes = {first: min(chunk, n_jets - first) for first in range(0, n_jets, chunk)}
    chunks = (synthetic_jets(size, mean_constituents, seed=first) for first, size in sizes.items())
    tracemalloc.start()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "images.npy"
        shape = write_jet_images(path, chunks, SUBJETS)
        seconds = time.perf_counter() - start
        assert np.load(path, mmap_mode="r").shape == shape == (n_jets, *SUBJETS.shape)
        size = path.stat().st_size / 2**20
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    _, peak = resident_mb()
    return {
        "jets": n_jets,
        "baseline": baseline,
        "peak": peak,
        "traced_peak": traced_peak,
        "seconds": seconds,
        "file": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=20_000)
    parser.add_argument("--constituents", type=float, default=50.0)
    parser.add_argument("--loop-jets", type=int, default=500)
    parser.add_argument("--chunk", type=int, default=2_000, help="jets per chunk in the memory runs")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--memory-run", type=int, help=argparse.SUPPRESS)  # internal: one memory run
    args = parser.parse_args()
    if args.memory_run is not None:
        print(json.dumps(memory_run(args.memory_run, args.constituents, args.chunk)))
        return

    constituents, axis_eta, axis_phi = synthetic_jets(args.jets, args.constituents)
    n_loop = min(args.loop_jets, args.jets)
    n_particles = int(ak.sum(ak.num(constituents)))
    print(
        f"{args.jets} jets, {n_particles} constituents ({n_particles / args.jets:.1f} per jet),"
        f" image {PIXELS_ONLY.shape}"
    )
    jet_images(constituents[:10], axis_eta[:10], axis_phi[:10], SUBJETS)  # warm-up (fastjet banner, imports)

    t_convert, subset = best_time(lambda: constituents[:n_loop].to_list(), repeat=3)
    sub_eta, sub_phi = axis_eta[:n_loop].tolist(), axis_phi[:n_loop].tolist()
    definition = kt_subjet_definition(SUBJETS.subjet_radius, n_particles / args.jets)
    pipelines = [
        ("1 pixelisation only", PIXELS_ONLY, lambda: naive_images(subset, sub_eta, sub_phi, PIXELS_ONLY)),
        (
            "2 centroid+princ.axis+flip+max",
            CENTROID,
            lambda: naive_preprocessed_images(subset, sub_eta, sub_phi, CENTROID),
        ),
        (
            "3 kT subjets+flip+max",
            SUBJETS,
            lambda: naive_preprocessed_images(subset, sub_eta, sub_phi, SUBJETS, definition),
        ),
    ]

    def row(label: str, vectorised: str, loop: str, ratio: str) -> None:
        print(f"{label:<32}{vectorised:>16}{loop:>16}{ratio:>12}")

    row("pipeline (images per second)", "vectorised", "Python loop", "speed-up")
    agreement, loop_rates, rate_pixels = [], {}, 0.0
    for label, spec, loop in pipelines:
        vectorised = lambda spec=spec: jet_images(constituents, axis_eta, axis_phi, spec)  # noqa: E731
        (t_vec, images), (t_loop, reference) = best_times(vectorised, loop, repeat=3)
        rate_vec, loop_rates[spec] = args.jets / t_vec, n_loop / t_loop
        row(label, f"{rate_vec:,.0f} /s", f"{loop_rates[spec]:,.0f} /s", f"{rate_vec / loop_rates[spec]:.1f} x")
        agreement.append(f"  {label}: {compare(images[:n_loop], reference)}")
        if spec == PIXELS_ONLY:
            rate_pixels, t_pixels_loop = rate_vec, t_loop
    rate_convert = n_loop / (t_pixels_loop + t_convert)
    row("1 with loop's ak->list", "", f"{rate_convert:,.0f} /s", f"{rate_pixels / rate_convert:.1f} x")
    print(
        f"(images per second; vectorised: best of 3 over {args.jets} jets; loop: best of 3 over {n_loop} jets,"
        f" taking turns with the vectorised side; converted to lists beforehand in {t_convert:.3f} s, except in"
        f" the 'with ak->list' row; goal >= 50 x)"
    )
    t_fresh, t_scatter = floor_times(constituents, axis_eta, axis_phi, PIXELS_ONLY)
    t_kt, _ = best_time(lambda: kt_subjets(constituents, SUBJETS.subjet_radius), repeat=3)
    print("floors: work any vectorised implementation does, and the speed-up over the loop each alone allows:")
    for label, seconds, spec in (
        ("fresh image array", t_fresh, PIXELS_ONLY),
        ("+ np.add.at per pT (1's floor)", t_scatter, PIXELS_ONLY),
        ("fastjet alone (3's floor)", t_kt, SUBJETS),
    ):
        row(f"  {label}", f"{args.jets / seconds:,.0f} /s", "", f"<= {args.jets / seconds / loop_rates[spec]:.0f} x")
    print(f"agreement with the loops on the {n_loop} looped jets:")
    print("\n".join(agreement))

    if args.no_memory:
        return
    print(f"streaming memory, write_jet_images, pipeline 3, chunks of {args.chunk} jets, each run in a fresh process:")
    for factor in (1, 10):
        command = [
            sys.executable,
            __file__,
            "--memory-run",
            str(factor * args.jets),
            "--chunk",
            str(args.chunk),
            "--constituents",
            str(args.constituents),
        ]
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        print(
            f"  {factor:>2} x ({result['jets']:>7} jets, {result['file']:4.0f} MB file):"
            f" peak RSS {result['peak']:4.0f} MB,"
            f" {result['peak'] - result['baseline']:+4.0f} MB over the {result['baseline']:.0f} MB after warm-up;"
            f" tracemalloc peak {result['traced_peak']:3.0f} MB;"
            f" {result['jets'] / result['seconds']:,.0f} images/s with chunk generation and file writing"
        )


if __name__ == "__main__":
    main()
