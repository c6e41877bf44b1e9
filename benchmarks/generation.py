"""Benchmark the generation stage: Pythia8 time per event, detector simulation + clustering +
ntuple writing time per event, their ratio (goal <= 0.20), and events/s with 1 and 2 chunks
running in parallel processes (goal >= 1.8x).

Run: .venv/bin/python benchmarks/generation.py [--events 1000] [--process zvv_jets]
The process settings come from config/config.yaml. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import yaml

from phenoflow.detector.card import load_card
from phenoflow.detector.ntuple import delphes_branches, write_ntuple
from phenoflow.detector.simulation import simulate
from phenoflow.generation import generate_chunk

REPO = Path(__file__).resolve().parents[1]


def one_chunk(args: tuple[dict, int, int, float, str]) -> dict:
    """Generate, simulate the detector and write one chunk; wall times of each part (s)."""
    process, n_events, seed, sqrt_s, card = args
    t0 = time.perf_counter()
    chunk, _ = generate_chunk(process, n_events, 0, seed, sqrt_s)
    t1 = time.perf_counter()
    objects = simulate(chunk.particles, load_card(REPO / card), seed + 1)
    branches = delphes_branches(objects, chunk.weights, chunk.sigma_pb, chunk.sigma_err_pb)
    with tempfile.TemporaryDirectory() as tmp:
        write_ntuple(Path(tmp) / "chunk.root", branches)
    t2 = time.perf_counter()
    return {
        # events Pythia generated in full: a decay filter's vetoed hard processes were not
        "generated": chunk.info.get("n_generated", n_events) - chunk.info.get("n_vetoed", 0),
        "events": n_events,
        "pythia": t1 - t0,
        "detector": t2 - t1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="events per chunk")
    parser.add_argument("--process", default="zvv_jets", help="process of config/config.yaml")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    process = {k: v for k, v in config["processes"][args.process].items() if k in ("pythia", "decay_filter", "lhe")}
    job = (process, args.events, 12345, config["collider"]["sqrt_s_gev"], config["detector"]["card"])

    single = one_chunk(job)
    pythia_ms = 1e3 * single["pythia"] / single["generated"]
    detector_ms = 1e3 * single["detector"] / single["events"]
    print(f"process {args.process}, {args.events} events per chunk ({single['generated']} generated)")
    print(f"Pythia8 (incl. init and columnar export): {pythia_ms:.2f} ms/generated event")
    print(f"fast detector simulation + jets + ntuple:  {detector_ms:.2f} ms/event")
    print(f"ratio detector / Pythia (per kept event):  {single['detector'] / single['pythia']:.3f}  (goal <= 0.20)")

    rate1 = single["events"] / (single["pythia"] + single["detector"])
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        start = time.perf_counter()
        pool.map(one_chunk, [job, (*job[:2], 54321, *job[3:])])
        wall = time.perf_counter() - start
    rate2 = 2 * args.events / wall
    print(f"1 chunk:             {rate1:.1f} events/s")
    print(f"2 chunks in parallel: {rate2:.1f} events/s (incl. process start-up)")
    print(f"speed-up:            {rate2 / rate1:.2f}x  (goal >= 1.8x)")


if __name__ == "__main__":
    main()
