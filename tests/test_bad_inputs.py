"""Bad inputs at workflow level, in copies of the finished tiny run.

A truncated ntuple and a damaged LHE file fail the one job that reads them, once, with an error
that names the file; the failed job leaves no output behind and every other result is kept as it
was. An LHE file without a readable header is refused before any job. A chunk Pythia cannot
initialise fails naming Pythia's errors, and its retry fails at once.
Process names that look like shell are rejected before any job runs, naming the key; file
paths with spaces, ``;``, backticks and ``$()`` are plain paths that work and never reach a
shell (the library tests cover the same readers on their own: test_skim, test_lhe, test_config).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import awkward as ak
import pandas as pd
import pytest
import uproot
from workflow_helpers import NLO_LHE, copy_repo, edit_config, result_files, snakemake

pytestmark = pytest.mark.workflow

TRUNCATED = "results/generate/qcd/chunk1.root"
LHE = NLO_LHE  # the tiny config's LHE process zz_madgraph
#: Shell syntax that would leave a file named PWNED behind if any of it were run by a shell.
SHELL = "; touch PWNED; $(touch PWNED) `touch PWNED`"


def _copy_finished(tiny: Path, dest: Path) -> Path:
    """A copy of the finished tiny run, results and Snakemake's metadata included."""
    shutil.copytree(tiny, dest, symlinks=True, ignore=shutil.ignore_patterns("report.html"))
    return dest


def _hashes(workdir: Path) -> dict[str, str]:
    """sha256 of every file under results/ (job logs and records aside), by path relative to ``workdir``."""
    return {str(f): hashlib.sha256((workdir / f).read_bytes()).hexdigest() for f in sorted(result_files(workdir))}


def _output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def _failed_jobs(out: str) -> list[tuple[str, tuple[str, ...]]]:
    """The 'Error in rule ...' blocks Snakemake printed, as (rule, outputs of the job)."""
    blocks = re.findall(r"^Error in rule (\w+):\n((?:    .*\n)*)", out, re.MULTILINE)
    outputs = [re.search(r"^    output: (.*)$", body, re.MULTILINE).group(1) for _, body in blocks]
    return [(rule, tuple(files.split(", "))) for (rule, _), files in zip(blocks, outputs)]


def _value_errors(out: str) -> set[str]:
    """The distinct ValueError messages (first line) in Snakemake's output."""
    return set(re.findall(r"^ValueError: (.*)$", out, re.MULTILINE))


def _no_shell_ran(*roots: Path) -> None:
    for root in roots:
        assert not [p for p in root.rglob("PWNED*")], f"a shell ran under {root}"


# ------------------------------------------------------------------------- truncated ntuple


@pytest.fixture(scope="module")
def truncated_run(tiny, tmp_path_factory):
    """The finished tiny run with one generated chunk cut in half, run again: (workdir, the
    results' hashes before, the failed run)."""
    workdir = _copy_finished(tiny, tmp_path_factory.mktemp("truncated") / "work")
    chunk = workdir / TRUNCATED
    data = chunk.read_bytes()
    cut = chunk.with_name("cut.tmp")
    cut.write_bytes(data[: len(data) // 2])
    cut.replace(chunk)  # newer than the skim, so Snakemake reruns it
    before = _hashes(workdir)
    proc = snakemake(workdir, "--cores", "2", check=False)
    return workdir, before, proc


def test_a_truncated_ntuple_fails_its_skim_once_naming_the_file(truncated_run):
    workdir, _, proc = truncated_run
    out = _output(proc)
    assert proc.returncode != 0
    ((rule, outputs),) = _failed_jobs(out)
    assert rule == "skim" and "results/skim/qcd.parquet" in outputs
    (message,) = _value_errors(out)
    assert TRUNCATED in message, message
    assert TRUNCATED in (workdir / "results/logs/skim/qcd.log").read_text()
    assert "rule generate_chunk" not in out  # the broken input is reported, not regenerated


def test_a_truncated_ntuple_leaves_no_partial_output_and_keeps_every_other_result(truncated_run, tiny):
    workdir, before, proc = truncated_run
    after = _hashes(workdir)
    ((_, skim_outputs),) = _failed_jobs(_output(proc))
    assert {"results/skim/qcd.parquet", "results/skim/qcd.cutflow.csv"} <= set(skim_outputs)
    assert not set(skim_outputs) & set(after)
    # nothing new, nothing else changed: the intact chunks, the other processes' skims and every
    # downstream result (stale now, but kept) are exactly as before
    assert after == {path: digest for path, digest in before.items() if path not in skim_outputs}
    # with the chunk restored, the skim runs again to the tiny run's result
    shutil.copy2(tiny / TRUNCATED, workdir / TRUNCATED)
    snakemake(workdir, "--cores", "2", "results/skim/qcd.parquet")
    skimmed = "results/skim/qcd.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(workdir / skimmed), pd.read_parquet(tiny / skimmed))


def test_the_error_of_a_truncated_ntuple_names_that_chunk_only(truncated_run):
    _, _, proc = truncated_run
    (message,) = _value_errors(_output(proc))
    assert "results/generate/qcd/chunk0.root" not in message, message


# --------------------------------------------------------------------------- garbage LHE


def _cut_events(lhe: bytes) -> bytes:
    """The gzipped LHE file cut in the middle of its events: header and <init> intact."""
    text = gzip.decompress(lhe)
    return gzip.compress(text[: text.index(b"<event>") + (len(text) - text.index(b"<event>")) // 2])


@pytest.mark.parametrize(
    "garbage",
    [gzip.compress(b"<LesHouchesEvents>\nthis is no event record\n" * 200), b"\x00\x8b not even gzip \xff" * 200],
    ids=["gzipped-text", "not-gzip"],
)
def test_a_garbage_lhe_file_is_refused_before_any_job(tmp_path, garbage):
    workdir = copy_repo(tmp_path)
    (workdir / LHE).write_bytes(garbage)
    proc = snakemake(workdir, "--cores", "1", check=False)
    out = _output(proc)
    assert proc.returncode != 0
    assert f"processes.zz_madgraph.lhe.file: {LHE}: not a valid LHE file (" in out, out[-2000:]
    assert "rule scan_lhe" not in out and not (workdir / "results").exists()


def test_a_damaged_lhe_file_fails_its_scan_once_naming_the_file(tiny, tmp_path):
    """Its header passes the config check (which reads no event); the scan finds the damage."""
    workdir = _copy_finished(tiny, tmp_path / "work")
    (workdir / LHE).write_bytes(_cut_events((workdir / LHE).read_bytes()))  # newer than the scan
    before = _hashes(workdir)
    proc = snakemake(workdir, "--cores", "2", check=False)
    out = _output(proc)
    assert proc.returncode != 0
    # one failing job, run once: the scan, which has no retries (the chunks keep theirs for lost
    # nodes); no chunk started
    ((rule, outputs),) = _failed_jobs(out)
    assert rule == "scan_lhe" and "results/generate/zz_madgraph/lhe.json" in outputs
    assert "Trying to restart job" not in out and "rule generate_chunk" not in out
    (message,) = {message for message in _value_errors(out) if LHE in message}
    assert message.startswith(f"{LHE}: not a valid LHE file ("), message
    assert f"{LHE}: not a valid LHE file" in (workdir / "results/logs/generate/zz_madgraph/scan_lhe.log").read_text()
    # no partial chunk; everything else kept as it was
    after = _hashes(workdir)
    assert not set(outputs) & set(after)
    assert after == {path: digest for path, digest in before.items() if path not in outputs}


# ------------------------------------------------------------- a chunk Pythia cannot generate


def test_a_chunk_pythia_cannot_initialise_is_not_generated_again_by_its_retry(tmp_path):
    """pTHatMin above sqrt(s)/2 passes every check but Pythia's init(): the chunk fails naming
    Pythia's errors; its retry (kept for lost nodes) fails at once with the same message."""
    workdir = copy_repo(tmp_path)
    edit_config(
        workdir, lambda c: c["processes"]["qcd"].update(pythia=["HardQCD:all = on", "PhaseSpace:pTHatMin = 7000."])
    )
    proc = snakemake(workdir, "--cores", "1", "results/generate/qcd/chunk0.json", check=False)
    out = _output(proc)
    assert proc.returncode != 0
    assert out.count("Trying to restart job") == 1
    # the error of each attempt (Snakemake prints it, and the failed job's log holding it too)
    first, second = sorted(set(re.findall(r"^RuntimeError: (.*)$", out, re.MULTILINE)), key=len)
    assert first.startswith("Pythia process: Pythia initialisation failed: ") and "vanishing cross sections" in first
    assert second.startswith(f"{first} [attempt 2 not run: attempt 1 failed on the same input"), second
    # Pythia ran once; the chunk's log (Snakemake removed attempt 1's) holds attempt 1's log with
    # Pythia's messages and statistics, then the retry's error
    log = (workdir / "results/logs/generate/qcd/chunk0.log").read_text()
    assert log.count("the log of attempt 1, which failed:") == 1
    assert log.count("-  PYTHIA Process Initialization") == 1 and log.count("-  PYTHIA Error and Warning Messages") == 1
    assert "PYTHIA Error in ProcessLevel::init: all processes have vanishing cross sections" in log
    assert log.rstrip().endswith(second)
    assert not (workdir / "results/generate/qcd/chunk0.root").exists()


# ------------------------------------------------------------------- names and paths vs. shell


@pytest.mark.parametrize(
    "name", ["qcd; touch PWNED", "qcd$(touch PWNED)", "qcd`touch PWNED`", "q c d", "qcd\ntouch PWNED"]
)
def test_a_process_name_with_shell_syntax_is_rejected_before_any_job(tmp_path, name):
    workdir = copy_repo(tmp_path)
    edit_config(workdir, lambda c: c["processes"].update({name: c["processes"].pop("qcd")}))
    proc = snakemake(workdir, "--cores", "1", check=False)
    out = _output(proc)
    assert proc.returncode != 0
    assert f"processes: {name!r} does not match" in out, out[-2000:]
    assert "rule generate_chunk" not in out and not (workdir / "results").exists()
    _no_shell_ran(workdir)


def test_paths_with_spaces_and_shell_syntax_are_plain_paths(tiny, tmp_path):
    """The LHE file and the detector card under names full of shell syntax: the chunk is the
    tiny run's chunk, and nothing ran in a shell."""
    workdir = copy_repo(tmp_path)
    lhe = f"tests/data/lhe/my events{SHELL}.lhe.gz"
    card = f"config/cards/my card{SHELL}.yaml"
    shutil.copy(workdir / LHE, workdir / lhe)
    shutil.copy(workdir / "config/cards/cms.yaml", workdir / card)

    def use_them(config):
        config["processes"]["zz_madgraph"]["lhe"]["file"] = lhe
        config["detector"]["card"] = card

    edit_config(workdir, use_them)
    target = "results/generate/zz_madgraph/chunk0.root"
    snakemake(workdir, "--cores", "1", target)
    ours = uproot.open(workdir / target)["Delphes"].arrays()
    theirs = uproot.open(tiny / target)["Delphes"].arrays()
    assert ak.to_list(ours) == ak.to_list(theirs)
    _no_shell_ran(workdir, tmp_path)
