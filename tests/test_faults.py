"""Faults: a workflow killed with SIGKILL resumes to the same results (after ``--unlock``), and
a generation job killed with SIGKILL is retried on its own. Both start from empty results and
compare with the uninterrupted tiny run: ntuple arrays and features, and for the killed workflow
also the jet images and the BDT's scores, so that two runs from scratch are compared even where
the SLURM test (which compares every file) is skipped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import awkward as ak
import pandas as pd
import pytest
import uproot
from workflow_helpers import SNAKEMAKE, copy_repo, snakemake

pytestmark = pytest.mark.workflow
TARGET = "results/features/features.parquet"
#: What the killed workflow is run to: features, images and the BDT's test scores.
TARGETS = (TARGET, "results/features/images.npy", "results/evaluation/bdt/scores.parquet")


def _start(workdir: Path, *args: str) -> subprocess.Popen:
    """Snakemake in its own process group (so the whole workflow can be killed at once)."""
    return subprocess.Popen(
        [*SNAKEMAKE, *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for(condition, what: str, timeout: float = 600.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _job_pids(workdir: Path, script: str) -> list[int]:
    """PIDs of running processes of this workdir whose command line runs ``script``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if script in cmdline and cwd == str(workdir):
            pids.append(int(entry.name))
    return pids


def _same_results(workdir: Path, reference: Path, targets: tuple[str, ...] = (TARGET,)) -> None:
    for target in targets:
        if target.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(workdir / target), pd.read_parquet(reference / target))
        else:
            assert (workdir / target).read_bytes() == (reference / target).read_bytes(), target
    for ntuple in sorted((reference / "results" / "generate").glob("*/chunk*.root")):
        ours = uproot.open(workdir / ntuple.relative_to(reference))["Delphes"].arrays()
        theirs = uproot.open(ntuple)["Delphes"].arrays()
        assert ak.to_list(ours) == ak.to_list(theirs), ntuple.name


def test_sigkill_of_the_workflow_then_the_same_command_again(tiny, tmp_path):
    workdir = copy_repo(tmp_path)
    run = _start(workdir, "--cores", "2", *TARGETS)
    # kill everything once the first chunk is written and others are still running
    _wait_for(lambda: any((workdir / "results" / "generate").glob("*/chunk*.json")), "a first generation chunk")
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not (workdir / TARGET).exists()
    # Snakemake cannot tell a killed run's lock from a live one: it asks for --unlock, after
    # which the default profile's rerun-incomplete redoes the jobs the kill interrupted
    locked = snakemake(workdir, "--cores", "2", *TARGETS, check=False)
    assert locked.returncode != 0 and "--unlock" in locked.stderr
    snakemake(workdir, "--unlock")
    again = snakemake(workdir, "--cores", "2", *TARGETS, check=False)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    _same_results(workdir, tiny, TARGETS)


def test_a_killed_generation_job_is_retried_alone(tiny, tmp_path):
    workdir = copy_repo(tmp_path)
    run = _start(workdir, "--cores", "1", TARGET)
    _wait_for(lambda: _job_pids(workdir, "generate_chunk"), "a running generation job")
    victim = _job_pids(workdir, "generate_chunk")
    for pid in victim:
        os.kill(pid, signal.SIGKILL)
    output, _ = run.communicate(timeout=900)
    assert run.returncode == 0, output[-4000:]
    assert "Trying to restart job" in output  # the rule's retries
    # the killed chunk ran twice, every other chunk once
    n_chunks = len(list((tiny / "results" / "generate").glob("*/chunk*.root")))
    assert len(re.findall(r"^(?:local)?rule generate_chunk:$", output, re.MULTILINE)) == n_chunks + 1  # starts
    assert output.count("(Rule: generate_chunk)") == n_chunks  # completions
    # the retry asks for twice the memory (the first attempt may have died of running out)
    starts = re.findall(r"^(?:local)?rule generate_chunk:\n(?:    .*\n)*?    resources: (.*)$", output, re.MULTILINE)
    memory = sorted(int(re.search(r"\bmem_mb=(\d+)", text)[1]) for text in starts)
    assert memory == [2000] * n_chunks + [4000], memory
    _same_results(workdir, tiny)
