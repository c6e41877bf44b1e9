"""Run the workflow in a temporary copy of the repository (shared by the workflow tests)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

#: Result files that legitimately differ between two runs of the same config: provenance
#: records and dataset metadata (job times), plots (renderer metadata), Keras archives (zip
#: timestamps; their predictions are compared through scores.parquet), training times (the
#: comparison table is compared without them).
VOLATILE = ("*provenance.yaml", "*.png", "*.pdf", "*.keras", "training.json", "comparison.md", "report.html")
#: Files whose content is compared without their start/end times.
TIMED = ("features.yaml", "images.yaml")

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny_config.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def copy_repo(dest: Path) -> Path:
    for name in ("workflow", "src", "config"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    shutil.copy(TINY, dest / "config" / "config.yaml")
    lhe = "tests/data/lhe/pp_zz_jjvv.lhe.gz"  # the real MadGraph file of the LHE process
    (dest / lhe).parent.mkdir(parents=True)
    shutil.copy(REPO / lhe, dest / lhe)
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> number of jobs a dry run (with extra ``args``) would execute."""
    out = snakemake(workdir, "-n", *args).stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)}


def edit_config(workdir: Path, edit) -> None:
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    edit(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def assert_same_results(ours: Path, reference: Path) -> list[str]:
    """Assert that two runs produced the same results: every file under results/ of either run
    exists in both and is byte-identical, except ntuples (compared array by array: ROOT files
    carry a UUID and dates), the metadata records (compared without their times) and the
    :data:`VOLATILE` files. Returns the relative paths compared."""
    import awkward as ak
    import uproot

    files = {p.relative_to(reference) for p in (reference / "results").rglob("*") if p.is_file()}
    theirs = {p.relative_to(ours) for p in (ours / "results").rglob("*") if p.is_file()}
    assert files == theirs, f"different result files: {sorted(files ^ theirs)}"
    compared = []
    for name in sorted(files):
        if any(name.match(pattern) for pattern in VOLATILE):
            continue
        a, b = ours / name, reference / name
        if name.suffix == ".root":
            assert ak.to_list(uproot.open(a)["Delphes"].arrays()) == ak.to_list(uproot.open(b)["Delphes"].arrays()), name
        elif name.name == "comparison.csv":
            import pandas as pd

            read = lambda path: pd.read_csv(path).drop(columns="training_time_s")  # noqa: E731
            pd.testing.assert_frame_equal(read(a), read(b))
        elif name.name in TIMED:
            drop = lambda path: {k: v for k, v in yaml.safe_load(path.read_text()).items() if k not in ("started", "finished")}  # noqa: E731
            assert drop(a) == drop(b), name
        else:
            assert a.read_bytes() == b.read_bytes(), name
        compared.append(str(name))
    return compared
