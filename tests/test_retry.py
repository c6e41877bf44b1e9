"""A retry does not repeat a failure on the job's input; other failures are retried."""

from __future__ import annotations

import json

import pytest

from phenoflow.retry import not_repeated


def test_a_failure_on_the_input_is_recorded_and_the_retry_fails_at_once_with_it(tmp_path):
    record = tmp_path / "chunk0.failure.json"
    runs = []
    with pytest.raises(RuntimeError, match="init failed"):
        with not_repeated(record, attempt=1):
            runs.append(1)
            raise RuntimeError("init failed")
    assert json.loads(record.read_text()) == {"attempt": 1, "type": "RuntimeError", "message": "init failed", "log": ""}
    with pytest.raises(RuntimeError, match=r"^init failed \[attempt 2 not run: attempt 1 failed"):
        with not_repeated(record, attempt=2):
            runs.append(2)
    assert runs == [1]  # the block of the retry never ran


def test_the_retry_logs_what_the_failed_attempt_logged(tmp_path, caplog):
    record, log = tmp_path / "chunk0.failure.json", tmp_path / "chunk0.log"
    log.write_text("PYTHIA Error in ProcessLevel::init: no process switched on\n")
    with pytest.raises(ValueError):
        with not_repeated(record, 1, log):
            raise ValueError("bad")
    log.unlink()  # Snakemake removes the log before the retry
    with caplog.at_level("INFO", logger="phenoflow"), pytest.raises(ValueError, match="^bad "):
        with not_repeated(record, 2, log):
            pass
    assert "the log of attempt 1, which failed:\nPYTHIA Error in ProcessLevel::init: no process" in caplog.text


def test_other_failures_are_retried_and_a_new_run_starts_afresh(tmp_path):
    record = tmp_path / "chunk0.failure.json"
    with pytest.raises(MemoryError):
        with not_repeated(record, attempt=1):
            raise MemoryError
    assert not record.exists()
    with not_repeated(record, attempt=2):
        pass  # a lost node or killed process: the retry runs
    record.write_text(json.dumps({"attempt": 2, "type": "ValueError", "message": "old"}))
    with not_repeated(record, attempt=1):  # a later Snakemake run's first attempt
        pass
    assert not record.exists()
