"""How long the refusal of an absurd sample size takes: `processes.qcd.events:
10000000000` in the default config, 4 000 000 generation chunks of 2 500.

Run: .venv/bin/python benchmarks/config_guard.py [--repeat 5]

Prints, each as the shortest and the longest of ``repeat`` rounds: the config check alone
(phenoflow.config.check_config, in this process), a dry run `snakemake -n` refused by it (a new
Python process: Snakemake's start, its plugins, the Snakefile up to the check) and, for scale, a
dry run of the valid default config that plans its whole DAG. The dry runs work in a temporary
copy of workflow/, src/ and config/. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from phenoflow.config import ConfigError, check_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
TYPO_EVENTS = 10_000_000_000


def timed(function, repeat: int) -> tuple[float, float, object]:
    """Shortest and longest wall time (s) of ``repeat`` calls of ``function`` and its last result."""
    spent, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        spent.append(time.perf_counter() - start)
    return min(spent), max(spent), result


def refused(config: dict) -> str:
    """The config check's message for ``config`` (empty if it passes)."""
    try:
        check_config(config, SCHEMA)
    except ConfigError as err:
        return str(err)
    return ""


def dry_run(workdir: Path, configfile: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "--configfile", configfile],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    typo = copy.deepcopy(default)
    typo["processes"]["qcd"]["events"] = TYPO_EVENTS
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    os.chdir(REPO)  # the config's file paths are relative to the working directory
    low, high, message = timed(lambda: refused(typo), args.repeat)
    print(f"config check refusing {TYPO_EVENTS} qcd events: {low:.3f} - {high:.3f} s")
    print("  " + message.splitlines()[-1].strip())
    with tempfile.TemporaryDirectory(prefix="phenoflow-guard-") as tmp:
        workdir = Path(tmp)
        for name in ("workflow", "src", "config"):
            shutil.copytree(REPO / name, workdir / name)
        (workdir / "typo.yaml").write_text(yaml.safe_dump(typo, sort_keys=False, allow_unicode=True))
        low, high, proc = timed(lambda: dry_run(workdir, "typo.yaml"), args.repeat)
        ok = proc.returncode != 0 and "4000000 generation chunks" in proc.stdout + proc.stderr
        print(f"snakemake -n refusing it: {low:.2f} - {high:.2f} s (refused with the chunk count: {ok})")
        low, high, proc = timed(lambda: dry_run(workdir, "config/config.yaml"), args.repeat)
        print(
            f"snakemake -n of the valid default config (whole DAG): {low:.2f} - {high:.2f} s (exit {proc.returncode})"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
