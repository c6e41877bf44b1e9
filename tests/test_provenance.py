import platform
import subprocess

from phenoflow.provenance import git_state, record


def _git(directory, *args):
    return subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True, text=True).stdout.strip()


def test_git_state_names_the_commit_and_uncommitted_changes(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "new.txt").write_text("untracked files do not make the source dirty\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "a.txt").write_text("two\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": True}


def test_git_state_is_none_outside_a_checkout(tmp_path):
    assert git_state(tmp_path) is None


def test_record_carries_python_version_and_config_hash():
    rec = record({"seed": 1}, started="2026-01-01T00:00:00+00:00", kind="test")
    assert rec["python"] == platform.python_version()
    assert rec["kind"] == "test" and rec["config"] == {"seed": 1}
    assert len(rec["config_hash"]) == 64 and "git" in rec
