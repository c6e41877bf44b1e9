"""Benchmark the whole workflow on the default config: a run from empty results on 2 cores (goal
<= 10 min), a no-op rerun (goal <= 10 s), and the run after one training parameter changes.

Run: .venv/bin/python benchmarks/workflow.py [--cores 2] [--keep] [--config tests/data/tiny_config.yaml]
Copies the repository's workflow (workflow/, src/, config/
with the default config/config.yaml) to a temporary directory, runs Snakemake there three times
and prints each wall time, the CPU time its jobs used and the load average around it (the
machine may be shared: CPU time well below cores x wall, or a load above the cores, means
contention). The third run changes classifiers.bdt.max_depth and lists the jobs that reran.
Also prints how long Snakemake takes to start here, since every run pays it. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
COPIED = ("workflow", "src", "config")
GOALS = {"default run": 600.0, "no-op rerun": 10.0}


def copy_workflow(dest: Path, config_file: Path) -> None:
    """The workflow with ``config_file`` as its config, plus any LHE file or card the config names."""
    for name in COPIED:
        src = REPO / name
        if src.is_symlink():
            (dest / name).symlink_to(os.readlink(src))
        elif src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    shutil.copy2(config_file, dest / "config" / "config.yaml")
    config = yaml.safe_load(config_file.read_text())
    for process in config["processes"].values():
        for path in (process.get("lhe", {}).get("file"), process.get("madgraph", {}).get("delphes_card")):
            if path and not Path(path).is_absolute() and not (dest / path).exists():
                (dest / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / path, dest / path)


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s" if seconds >= 60 else f"{seconds:.1f} s"


def run(workdir: Path, label: str, *args: str) -> str:
    """Run Snakemake, print wall time, the jobs' CPU time and the load; return its output."""
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([*SNAKEMAKE, *args], check=False, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(f"{label}: snakemake {' '.join(args)} failed:\n{output[-4000:]}")
    goal = GOALS.get(label)
    verdict = f" (goal <= {minutes(goal)}: {'met' if wall <= goal else 'MISSED'})" if goal else ""
    print(f"{label}: {minutes(wall)} wall{verdict}")
    load_after = os.getloadavg()[0]
    print(f"    CPU time of Snakemake and jobs {minutes(cpu)}; load {load_before:.2f} before, {load_after:.2f} after")
    return output


def jobs_run(output: str) -> Counter:
    """Rule -> number of jobs Snakemake finished, from its log."""
    return Counter(re.findall(r"^Finished jobid: \d+ \(Rule: (\w+)\)", output, re.MULTILINE))


def startup_cost() -> None:
    """What every Snakemake call pays before it looks at the workflow."""
    start = time.perf_counter()
    subprocess.run([*SNAKEMAKE, "--version"], capture_output=True, check=True)
    version = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import snakemake_executor_plugin_slurm"], capture_output=True, check=True)
    slurm = time.perf_counter() - start
    print(f"startup: `snakemake --version` {version:.1f} s; of which importing the slurm executor plugin {slurm:.1f} s")
    if slurm > 3 and shutil.which("scontrol"):
        print("    (the plugin runs `scontrol show config` on import, waiting up to 10 s for a SLURM controller"
              " that is not running here)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary workflow copy and print its path")
    default = REPO / "config" / "config.yaml"
    parser.add_argument("--config", type=Path, default=default, help="another config (the tiny one: a quick check)")
    args = parser.parse_args()
    cores = ["--cores", str(args.cores)]

    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f}; config {args.config.name}, {' '.join(cores)}")
    startup_cost()
    workdir = Path(tempfile.mkdtemp(prefix="phenoflow-bench-workflow-"))
    try:
        copy_workflow(workdir, args.config.resolve())
        output = run(workdir, "default run", *cores)
        print(f"    jobs: {dict(sorted(jobs_run(output).items()))}")
        output = run(workdir, "no-op rerun", *cores)
        nothing = " (Nothing to be done)" if "Nothing to be done" in output else ""
        print(f"    jobs: {dict(jobs_run(output)) or 'none'}{nothing}")

        path = workdir / "config" / "config.yaml"
        config = yaml.safe_load(path.read_text())
        old = config["classifiers"]["bdt"].get("max_depth", default("$defs.bdt.max_depth"))
        config["classifiers"]["bdt"]["max_depth"] = old + 1
        path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        output = run(workdir, f"after classifiers.bdt.max_depth {old} -> {old + 1}", *cores)
        print(f"    jobs that reran: {dict(sorted(jobs_run(output).items()))}")
    finally:
        if args.keep:
            print(f"workflow copy kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
