"""The htcondor profile's submit descriptions, with a stand-in for the HTCondor Python bindings.

HTCondor daemons cannot be installed here. The executor plugin talks to HTCondor only through
``htcondor2.Submit`` and ``htcondor2.Schedd``, so a fake ``htcondor2`` package put first on the
PYTHONPATH of the Snakemake process records every submit description (JSON lines) and runs the
job as an execution point with a shared file system would: the description's executable and
arguments in the submit directory, with only the description's environment (the profile does
not set ``getenv``), stdout and stderr to its output and error files, and submit, execute and
terminate events in its user log, which the plugin reads to learn that the job finished.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from workflow_helpers import SNAKEMAKE, copy_repo

pytestmark = pytest.mark.workflow

FAKE_HTCONDOR2 = '''"""Stand-in for the htcondor2 bindings (see tests/test_htcondor.py)."""

import enum
import json
import os
import re
import subprocess
import threading

RECORD = os.environ["FAKE_HTCONDOR_RECORD"]
_lock = threading.Lock()


class JobEventType(enum.Enum):
    SUBMIT = 0
    EXECUTE = 1
    JOB_EVICTED = 4
    JOB_TERMINATED = 5
    IMAGE_SIZE = 6
    SHADOW_EXCEPTION = 7
    JOB_ABORTED = 9
    JOB_SUSPENDED = 10
    JOB_UNSUSPENDED = 11
    JOB_HELD = 12
    JOB_RELEASED = 13
    JOB_DISCONNECTED = 22
    JOB_RECONNECTED = 23
    JOB_RECONNECT_FAILED = 24
    FILE_TRANSFER = 40


class JobAction(enum.Enum):
    Remove = 3


class JobEvent:
    def __init__(self, record):
        self.type = JobEventType[record.pop("type")]
        self.cluster = record.pop("cluster")
        self.proc = 0
        self._attributes = record

    def get(self, key, default=None):
        return self._attributes.get(key, default)


class JobEventLog:
    """Reads the JSON-lines user log the fake schedd writes; each call returns the new events."""

    def __init__(self, path):
        self._path = path
        self._offset = 0

    def events(self, stop_after=None):
        with _lock, open(self._path) as log:
            log.seek(self._offset)
            lines = log.readlines()
            self._offset = log.tell()
        return iter([JobEvent(json.loads(line)) for line in lines])

    def close(self):
        pass


class Submit(dict):
    def issue_credentials(self):
        return None


class SubmitResult:
    def __init__(self, cluster):
        self._cluster = cluster

    def cluster(self):
        return self._cluster


def _event(log, kind, cluster, **attributes):
    with _lock, open(log, "a") as out:
        out.write(json.dumps({"type": kind, "cluster": cluster, **attributes}) + "\\n")


def _environment(text):
    """HTCondor's new-style environment string: KEY="value" pairs, "" for a literal quote."""
    return {k: v.replace('""', '"') for k, v in re.findall(r'(\\w+)="((?:[^"]|"")*)"', text or "")}


def _execute(cluster, description):
    if str(description.get("getenv", False)).lower() == "true":
        env = dict(os.environ)
    else:
        env = {"PATH": "/usr/bin:/bin", **_environment(description.get("environment"))}
    output = description["output"].replace("$(ClusterId)", str(cluster))
    error = description["error"].replace("$(ClusterId)", str(cluster))
    # HTCondor's old argument syntax: arguments separated by whitespace
    command = [description["executable"], *description["arguments"].split()]
    _event(description["log"], "EXECUTE", cluster)
    with open(output, "w") as out, open(error, "w") as err:
        code = subprocess.call(command, stdout=out, stderr=err, env=env, cwd=description.get("initialdir"))
    if code >= 0:
        _event(description["log"], "JOB_TERMINATED", cluster, ReturnValue=code, TerminatedNormally=True)
    else:
        _event(description["log"], "JOB_TERMINATED", cluster, TerminatedNormally=False, TerminatedBySignal=-code)


class Schedd:
    def submit(self, description):
        with _lock:
            with open(RECORD, "a") as record:
                record.write(json.dumps(dict(description), default=str) + "\\n")
            with open(RECORD) as record:
                cluster = sum(1 for _ in record)
        _event(description["log"], "SUBMIT", cluster)
        threading.Thread(target=_execute, args=(cluster, dict(description))).start()
        return SubmitResult(cluster)

    def act(self, action, job_ids):
        return None

    def query(self, *args, **kwargs):
        return []

    def history(self, *args, **kwargs):
        return iter([])
'''


def _run_through_fake_htcondor(workdir: Path, tmp_path: Path, *targets: str) -> tuple[list[dict], str]:
    """Run ``targets`` with the htcondor profile; return the submit descriptions and the log."""
    fake = tmp_path / "fake_bindings"
    (fake / "htcondor2").mkdir(parents=True)
    (fake / "htcondor2" / "__init__.py").write_text(FAKE_HTCONDOR2)
    record = tmp_path / "submits.jsonl"
    env = {**os.environ, "PYTHONPATH": str(fake), "FAKE_HTCONDOR_RECORD": str(record)}
    profile = ["--workflow-profile", "workflow/profiles/htcondor", "--seconds-between-status-checks", "1"]
    cmd = [*SNAKEMAKE, *profile, *targets]
    proc = subprocess.run(cmd, check=False, cwd=workdir, env=env, capture_output=True, text=True, timeout=1200)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "CONDOR_CONFIG" not in log  # the real bindings (which warn without a pool) never loaded
    submits = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return submits, log


def _by_rule(submits: list[dict]) -> dict[str, list[dict]]:
    rules: dict[str, list[dict]] = {}
    for submit in submits:
        rules.setdefault(submit["batch_name"].rsplit("-", 1)[0], []).append(submit)
    return rules


def _check_common(submit: dict, workdir: Path) -> None:
    """What every job's description holds: Snakemake itself runs the one job, on a shared file
    system, with the plugin's log layout, in the default (vanilla) universe."""
    rule, jobid = submit["batch_name"].rsplit("-", 1)
    assert os.path.normpath(submit["executable"]) == os.path.normpath(sys.executable)
    args = submit["arguments"].split()
    assert args[:2] == ["-m", "snakemake"], submit["arguments"]
    assert args[args.index("--snakefile") + 1] == str(workdir / "workflow" / "Snakefile")
    assert args[args.index("--target-jobs") + 1].startswith(f"{rule}:")
    assert args[args.index("--allowed-rules") + 1] == rule
    assert args[args.index("--mode") + 1] == "remote"
    assert "'" not in submit["arguments"]
    assert submit["log"] == ".snakemake/htcondor/snakemake-rules.log"
    assert submit["output"] == f".snakemake/htcondor/{rule}/{rule}-{jobid}_$(ClusterId).out"
    assert submit["error"] == f".snakemake/htcondor/{rule}/{rule}-{jobid}_$(ClusterId).err"
    assert submit.get("universe", "vanilla") == "vanilla"
    assert submit["getenv"] is False and submit["preserve_relative_paths"] is True
    # a shared file system (the profile keeps Snakemake's default): HTCondor transfers nothing
    assert not {"should_transfer_files", "transfer_input_files", "transfer_output_files"} & set(submit)
    # no rule declares disk, and the plugin does not read Snakemake's default disk_mb (only
    # request_disk or htcondor_request_disk_mb): HTCondor's own default request_disk applies
    assert "request_disk" not in submit


def test_generation_and_skim_submitted_with_their_rules_resources_merge_runs_locally(tiny, tmp_path):
    (tmp_path / "work").mkdir()
    workdir = copy_repo(tmp_path / "work")
    submits, log = _run_through_fake_htcondor(workdir, tmp_path, "results/skim/zz_madgraph.parquet")
    rules = _by_rule(submits)
    # merge_process is a localrule: a few seconds of bookkeeping, run where Snakemake runs
    expected_jobs = {"scan_lhe": 1, "generate_chunk": 1, "skim": 1}
    assert {rule: len(jobs) for rule, jobs in rules.items()} == expected_jobs
    assert log.count("submitted to HTCondor Cluster ID") == 3
    assert re.search(r"^localrule merge_process:$", log, re.MULTILINE)
    for submit in submits:
        _check_common(submit, workdir)
    (scan,), (generate,), (skim,) = (rules[rule] for rule in expected_jobs)
    assert "--target-jobs scan_lhe:process=zz_madgraph " in scan["arguments"]
    assert "--target-jobs generate_chunk:process=zz_madgraph,chunk=0 " in generate["arguments"]
    assert "--target-jobs skim:process=zz_madgraph " in skim["arguments"]
    # job_resources(2000, 30), (2000, 60) and (4000, 30)
    expected = {
        "scan_lhe": ("1", "2000MB", 1800),
        "generate_chunk": ("1", "2000MB", 3600),
        "skim": ("1", "4000MB", 1800),
    }
    for submit in submits:
        rule = submit["batch_name"].rsplit("-", 1)[0]
        requested = (submit["request_cpus"], submit["request_memory"], submit["allowed_execute_duration"])
        assert requested == expected[rule], rule
    # each job ran from its description alone, wrote HTCondor's output files, and produced what
    # the local run produced
    for submit in submits:
        for stream in ("output", "error"):
            assert list(workdir.glob(submit[stream].replace("$(ClusterId)", "*"))), submit[stream]
    name = "results/skim/zz_madgraph.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(workdir / name), pd.read_parquet(tiny / name))
    assert (workdir / "results/generate/zz_madgraph/summary.json").read_bytes() == (
        tiny / "results/generate/zz_madgraph/summary.json"
    ).read_bytes()


def test_training_asks_for_its_two_cores_and_six_gigabytes(tiny, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(tiny, workdir, symlinks=True, ignore=shutil.ignore_patterns("report.html"))
    shutil.rmtree(workdir / "results/models/bdt")
    submits, _ = _run_through_fake_htcondor(workdir, tmp_path, "results/models/bdt/fold0/model.json")
    assert [s["batch_name"].rsplit("-", 1)[0] for s in submits] == ["train_bdt"]
    (train,) = submits
    _check_common(train, workdir)
    # threads: 2 and job_resources(6000, 120); 6000 MB is no whole number of GB, so it stays MB
    assert train["request_cpus"] == "2" and train["request_memory"] == "6000MB"
    assert train["allowed_execute_duration"] == 7200
    model = "results/models/bdt/fold0/model.json"
    assert (workdir / model).read_bytes() == (tiny / model).read_bytes()


def test_a_working_directory_htcondor_would_split_is_refused_before_any_submission(tmp_path):
    (tmp_path / "my work").mkdir()
    workdir = copy_repo(tmp_path / "my work")
    fake = tmp_path / "fake_bindings"
    (fake / "htcondor2").mkdir(parents=True)
    (fake / "htcondor2" / "__init__.py").write_text(FAKE_HTCONDOR2)
    record = tmp_path / "submits.jsonl"
    env = {**os.environ, "PYTHONPATH": str(fake), "FAKE_HTCONDOR_RECORD": str(record)}
    cmd = [*SNAKEMAKE, "--workflow-profile", "workflow/profiles/htcondor", "results/skim/zz_madgraph.parquet"]
    proc = subprocess.run(cmd, check=False, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"working directory: '{workdir}' contains whitespace" in log, log[-3000:]
    assert f"Snakefile: '{workdir / 'workflow' / 'Snakefile'}' contains whitespace" in log
    assert not record.exists() and not (workdir / "results").exists()
