"""The code follows the project's ruff rule set (pyproject.toml, [tool.ruff.lint]) and ruff's formatting."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ruff() -> str:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff, "ruff is not installed beside this Python: make test installs requirements/test.txt"
    return ruff


def test_ruff_finds_nothing():
    proc = subprocess.run([_ruff(), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_code_is_formatted():
    """`ruff format .` leaves every file as it is (run it before committing)."""
    proc = subprocess.run([_ruff(), "format", "--check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, "files `ruff format .` would change:\n" + proc.stdout[-6000:] + proc.stderr[-2000:]
