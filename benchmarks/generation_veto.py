"""Benchmark the decay filter: kept signal events/s and peak memory when every event is generated in
full and filtered afterwards (before) and when the hard process is vetoed before the shower (after).

Run: .venv/bin/python benchmarks/generation_veto.py [--events 300] [--process zz_qqvv]
The process (it needs a decay_filter) comes from config/config.yaml. Each way runs in a fresh
process: Pythia8 generation only (with its initialisation and the columnar export of the kept
particles), no detector simulation. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def one_run(process: dict, n_events: int, sqrt_s: float, veto: bool) -> dict:
    """Generate ``n_events`` kept events; wall time (s), events offered to the filter, the size of the
    kept particles and the peak RSS (MB)."""
    from phenoflow.generation.pythia import DecayFilter, generate, pythia_settings

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    decay_filter = DecayFilter(
        process["decay_filter"]["mother"], tuple(map(tuple, process["decay_filter"]["channels"]))
    )
    start = time.perf_counter()
    chunk = generate(pythia_settings(process["pythia"], sqrt_s, 12345), n_events, decay_filter, veto=veto)
    return {
        "seconds": time.perf_counter() - start,
        "kept": chunk.n_accepted,
        "offered": chunk.info["n_generated"],
        "sigma_pb": chunk.sigma_pb,
        "sigma_err_pb": chunk.sigma_err_pb,
        "held_mb": chunk.particles.nbytes / 2**20,
        "before_mb": before,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="kept events per run")
    parser.add_argument("--process", default="zz_qqvv", help="process of config/config.yaml with a decay_filter")
    parser.add_argument("--run", choices=("after", "veto"), help=argparse.SUPPRESS)  # one run, in this process
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    process, sqrt_s = config["processes"][args.process], config["collider"]["sqrt_s_gev"]
    if "decay_filter" not in process:
        raise SystemExit(f"config/config.yaml: processes.{args.process} has no decay_filter")
    if args.run:
        print(json.dumps(one_run(process, args.events, sqrt_s, veto=args.run == "veto")))
        return

    print(f"process {args.process}, {args.events} kept events per run, each in a fresh process;"
          f" load average before {os.getloadavg()[0]:.1f}")  # fmt: skip
    results = {}
    for way, title in (("after", "generate all, filter after"), ("veto", "veto before the shower")):
        command = [sys.executable, __file__, "--events", str(args.events), "--process", args.process, "--run", way]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        r = results[way] = json.loads(output.splitlines()[-1])
        print(f"  {title:27} {r['kept'] / r['seconds']:6.1f} kept events/s ({r['kept']} kept of {r['offered']}"
              f" offered to the filter in {r['seconds']:.1f} s), sigma x eff {r['sigma_pb']:.4f} +- "
              f"{r['sigma_err_pb']:.4f} pb, peak RSS {r['peak_mb']:.0f} MB ({r['before_mb']:.0f} after imports,"
              f" kept particles {r['held_mb']:.0f} MB)")  # fmt: skip
    speed_up = results["after"]["seconds"] / results["veto"]["seconds"]
    print(f"  speed-up {speed_up:.2f}x; load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
