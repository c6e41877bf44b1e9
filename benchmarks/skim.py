"""Benchmark the skim: events/s against a raw uproot read of the same branches (goal >= 0.8), and memory.

Run: .venv/bin/python benchmarks/skim.py [--events 2000] [--copies 10] [--repeat 5] [--regenerate] [--no-memory]
Input: a zvv_jets chunk of config/config.yaml (Pythia8 + detector card), a Delphes-layout ROOT file cached
in /tmp/phenoflow-bench-skim/ (~30 s to make; --regenerate rebuilds it), listed --copies times. Below
a ratio of 0.8, a cProfile of skim() names what costs most beyond uproot's reading. Memory: peak RSS
(ru_maxrss) of the streaming part and of the full skim() for 1x and --copies x the input, each in a
fresh process. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import pstats
import resource
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
import yaml
from timing import best_times

import phenoflow
from phenoflow.detector.ntuple import (
    EFLOW_BRANCHES,
    READ_BRANCHES,
    TREE,
    delphes_branches,
    iterate_events,
    write_ntuple,
)
from phenoflow.events.selection import parse
from phenoflow.events.skim import WeightNorm, physical_weights, skim

REPO = Path(__file__).resolve().parents[1]
CACHE = Path("/tmp/phenoflow-bench-skim")
STEP_SIZE = inspect.signature(iterate_events).parameters["step_size"].default  # what skim() reads with
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
CUTS = CONFIG["selection"]["cuts"]


def input_file(n_events: int, regenerate: bool) -> Path:
    """The cached zvv_jets ntuple of ``n_events`` events; generated (Pythia8 + detector) if absent."""
    path = CACHE / f"zvv_jets_{n_events}.root"
    if path.exists() and not regenerate:
        return path
    from phenoflow.detector.card import load_card  # generation and detector only here: lighter memory runs
    from phenoflow.detector.simulation import simulate
    from phenoflow.generation import generate_chunk

    process = {k: v for k, v in CONFIG["processes"]["zvv_jets"].items() if k in ("pythia", "decay_filter", "lhe")}
    chunk, _ = generate_chunk(process, n_events, 0, 12345, CONFIG["collider"]["sqrt_s_gev"])
    objects = simulate(chunk.particles, load_card(REPO / CONFIG["detector"]["card"]), 12346)
    CACHE.mkdir(parents=True, exist_ok=True)
    write_ntuple(path, delphes_branches(objects, chunk.weights, chunk.sigma_pb, chunk.sigma_err_pb))
    return path


def bookkeeping(path: Path, copies: int) -> tuple[float, float]:
    """Cross section (pb) and sum of generator weights of the file listed ``copies`` times, for skim()."""
    arrays = uproot.open(f"{path}:{TREE}").arrays(["Event.Weight", "Event.CrossSection"], library="np")
    return float(arrays["Event.CrossSection"][0][0]), copies * float(np.concatenate(arrays["Event.Weight"]).sum())


def run_skim(paths: list[Path], constituents: bool, norm: tuple[float, float]) -> ak.Array:
    """The full skim() with the default config's cuts and luminosity; ``norm``: (sigma_pb, sum_gen_weights)."""
    return skim(paths, CUTS, WeightNorm(*norm, CONFIG["luminosity_fb"]), "zvv_jets", constituents=constituents)[0]


def raw_read(paths: list[Path], constituents: bool) -> None:
    """uproot.iterate over the branches skim() reads, with its step size; nothing else."""
    branches = [*READ_BRANCHES, *(EFLOW_BRANCHES if constituents else ())]
    for _ in uproot.iterate([f"{p}:{TREE}" for p in paths], filter_name=branches, step_size=STEP_SIZE, library="ak"):
        pass


def stream(paths: list[Path], constituents: bool) -> int:
    """skim()'s loop without keeping events: records, physical weights, cut masks; number passing."""
    cuts, n_kept = [parse(c) for c in CUTS], 0
    for events in iterate_events(paths, constituents=constituents):
        events = ak.with_field(events, physical_weights(ak.to_numpy(events.weight), 1.0, 1.0, 1.0), "weight_phys")
        keep = np.ones(len(events), dtype=bool)
        for cut in cuts:
            keep &= cut.mask(events)
        n_kept += int(keep.sum())
    return n_kept


def memory_run(path: Path, copies: int, constituents: bool, full: bool) -> dict:
    """Peak RSS (MB, ru_maxrss) after imports, and after streaming (or the full skim) of ``copies`` x the file."""
    paths, norm = [path] * copies, bookkeeping(path, copies)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    events = run_skim(paths, constituents, norm) if full else None
    kept = len(events) if full else stream(paths, constituents)
    result = {"kept": kept, "before": before, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if full:  # nbytes counts every buffer the result holds; packed, only what the kept events need
        result.update(returned_mb=events.nbytes / 2**20, packed_mb=ak.to_packed(events).nbytes / 2**20)
    return result


def extra_costs(paths: list[Path], constituents: bool, norm: tuple[float, float], top: int = 3) -> list[str]:
    """cProfile skim(); per phenoflow function, its own time plus that of the non-phenoflow calls it
    makes (so nothing is counted twice), uproot's reading excluded; the ``top`` largest."""
    profile = cProfile.Profile()
    profile.runcall(run_skim, paths, constituents, norm)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    ours, reading = str(Path(phenoflow.__file__).parent), 0.0
    costs: dict[tuple, float] = {k: v[2] for k, v in stats.items() if k[0].startswith(ours)}  # own time
    for callee, (*_, callers) in filter(lambda item: not item[0][0].startswith(ours), stats.items()):
        for caller, (*_, cumulative) in filter(lambda item: item[0][0].startswith(ours), callers.items()):
            if "uproot" in callee[0]:
                reading += cumulative
            else:
                costs[caller] += cumulative
    total = next(v[3] for k, v in stats.items() if k[2] == "skim" and k[0].startswith(ours))
    return [f"skim() {total:.2f} s under cProfile, of which uproot reading {reading:.2f} s; most of the rest:"] + [
        f"{Path(file).name}:{line} {name}: {seconds:.2f} s ({100 * seconds / total:.0f}% of skim)"
        for (file, line, name), seconds in sorted(costs.items(), key=lambda item: -item[1])[:top]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events in the cached input file")
    parser.add_argument("--copies", type=int, default=10, help="times the file is listed (timing, 10x memory)")
    parser.add_argument("--regenerate", action="store_true", help="regenerate the cached input file")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the timing, skim and raw read taking turns")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--memory-run", nargs=3, type=int, help=argparse.SUPPRESS)  # copies constituents full
    args = parser.parse_args()
    path = input_file(args.events, args.regenerate)
    if args.memory_run:
        copies, constituents, full = args.memory_run
        print(json.dumps(memory_run(path, copies, bool(constituents), bool(full))))
        return

    paths, per_file = [path] * args.copies, uproot.open(f"{path}:{TREE}").num_entries
    n, norm = args.copies * per_file, bookkeeping(path, args.copies)
    print(f"input {path} ({path.stat().st_size / 2**20:.1f} MB, {per_file} events) listed {args.copies} times:"
          f" {n} events; cuts {CUTS}; step_size {STEP_SIZE!r}; best of {args.repeat}, skim and raw read taking"
          " turns")  # fmt: skip
    for constituents in (False, True):
        (t_skim, _), (t_raw, _) = best_times(
            lambda c=constituents: run_skim(paths, c, norm),
            lambda c=constituents: raw_read(paths, c),
            repeat=args.repeat,
        )
        print(f"{'with' if constituents else 'no  '} constituents: skim {n / t_skim:7,.0f} events/s, raw uproot.iterate"
              f" {n / t_raw:7,.0f} events/s, skim / raw {t_raw / t_skim:.2f}  (goal >= 0.8)")  # fmt: skip
        if t_raw / t_skim < 0.8:
            print("\n".join(f"  {line}" for line in extra_costs(paths, constituents, norm)))

    if args.no_memory:
        return
    print(
        "peak RSS (ru_maxrss), each in a fresh process (in brackets: after imports); streaming = iterate_events"
        " + cut masks, kept events dropped; full skim() returns the kept events (awkward nbytes, and packed):"
    )
    for constituents, full in ((0, 0), (1, 0), (0, 1), (1, 1)):
        peaks = []
        for copies in (1, args.copies):  # via sh, which forks: a direct exec would inherit our ru_maxrss
            flags = ["--events", str(args.events), "--memory-run", str(copies), str(constituents), str(full)]
            output = subprocess.run(["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, __file__, *flags],
                                    check=True, capture_output=True, text=True).stdout  # fmt: skip
            peaks.append((result := json.loads(output.splitlines()[-1]))["peak"])
            returns = f", returns {result['returned_mb']:3.0f} MB, {result['packed_mb']:2.0f} MB packed" if full else ""
            print(f"  {'full skim()' if full else 'streaming  '} {'with' if constituents else 'no  '} EFlow {copies:2}x"
                  f" ({copies * per_file:6} events, {result['kept']:5} kept{returns}): {result['peak']:4.0f} MB"
                  f" ({result['before']:.0f})")  # fmt: skip
        print(f"    {args.copies}x / 1x: {peaks[1] / peaks[0]:.2f}")


if __name__ == "__main__":
    main()
