"""Run the workflow in a temporary copy of the repository (shared by the workflow tests)."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

#: Result files that legitimately differ between two runs of the same config: provenance
#: records and dataset metadata (job times), plots (renderer metadata), Keras archives (zip
#: timestamps; their predictions are compared through scores.parquet), training times (the
#: comparison table is compared without them; a fold ensemble's manifest holds them too).
VOLATILE = ("*provenance.yaml", "*.png", "*.pdf", "*.keras", "training.json", "ensemble.json", "comparison.md",
            "report.html")  # fmt: skip
#: Files whose content is compared without their start/end times.
TIMED = ("features.yaml", "images.yaml")

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny_config.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


#: The real MadGraph file (100 events, IDWTUP = -4, every XWGTUP +2.2837e-3 pb) ...
MADGRAPH_LHE = "tests/data/lhe/pp_zz_jjvv.lhe.gz"
#: ... and the NLO-like copy of it that the tiny config's LHE process showers (written by
#: :func:`copy_repo`): every fifth event (index 2, 7, 12, ...) has its weights negated.
NLO_LHE = "tests/data/lhe/pp_zz_jjvv_nlo.lhe.gz"
NEGATIVE_EVERY, NEGATIVE_FIRST = 5, 2


def write_nlo_lhe(source: Path, dest: Path) -> list[float]:
    """Write ``source`` (gzipped LHE, IDWTUP = +-4) as an NLO-like file: IDWTUP = -4, the nominal
    XWGTUP and every <wgt> of events NEGATIVE_FIRST, NEGATIVE_FIRST + NEGATIVE_EVERY, ... negated,
    and XSECUP set to the mean signed weight, as aMC@NLO writes it. Returns the signed XWGTUP
    of every event (pb). Gzipped without a time stamp, so the bytes are reproducible."""
    header, *events = gzip.decompress(source.read_bytes()).decode().split("<event>")
    weights, out = [], []
    for i, event in enumerate(events):
        first, _, rest = event.lstrip("\n").partition("\n")  # NUP IDPRUP XWGTUP SCALUP AQEDUP AQCDUP
        fields = first.split()
        weight = float(fields[2])
        if i % NEGATIVE_EVERY == NEGATIVE_FIRST:
            weight = -weight
            first = re.sub(r"^(\s*\S+\s+\S+\s+)\S+", lambda m, w=weight: f"{m.group(1)}{w:+.7e}", first)
            negate = lambda m: f"{m.group(1)}{-float(m.group(2)):+.7e}{m.group(3)}"  # noqa: E731
            rest = re.sub(r"(<wgt[^>]*>\s*)(\S+)(\s*</wgt>)", negate, rest)
        weights.append(weight)
        out.append(f"\n{first}\n{rest}")
    init, _, after = header.partition("<init>\n")
    beams, process, tail = after.split("\n", 2)
    beams = beams.split()
    assert abs(int(beams[8])) == 4, f"{source}: IDWTUP {beams[8]}, expected +-4"
    beams[8] = "-4"
    process = process.split()
    process[0] = f"{sum(weights) / len(weights):.7e}"
    header = f"{init}<init>\n{' '.join(beams)}\n{' '.join(process)}\n{tail}"
    dest.write_bytes(gzip.compress((header + "".join(f"<event>{e}" for e in out)).encode(), mtime=0))
    return weights


def copy_repo(dest: Path) -> Path:
    """Copy the workflow into ``dest`` with the tiny config, and write the NLO-like LHE file
    (:data:`NLO_LHE`) that its LHE process showers, so every workflow test runs negative event
    weights end to end."""
    for name in ("workflow", "src", "config"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    shutil.copy(TINY, dest / "config" / "config.yaml")
    (dest / NLO_LHE).parent.mkdir(parents=True)
    write_nlo_lhe(REPO / MADGRAPH_LHE, dest / NLO_LHE)
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


#: Job logs and time/memory records: written under results/ but not results of the analysis.
JOB_RECORDS = ("results/logs", "results/benchmarks")


def result_files(workdir: Path) -> set[Path]:
    """Every file under ``workdir``/results, relative to ``workdir``, but the job records."""
    files = {p.relative_to(workdir) for p in (workdir / "results").rglob("*") if p.is_file()}
    return {f for f in files if not any(f.is_relative_to(d) for d in JOB_RECORDS)}


def assert_same_results(ours: Path, reference: Path) -> list[str]:
    """Assert that two runs produced the same results: every file under results/ of either run
    exists in both and is the same (:func:`assert_same_file`; job logs and records aside, and the
    :data:`VOLATILE` files). Returns the relative paths compared."""
    files, theirs = result_files(reference), result_files(ours)
    assert files == theirs, f"different result files: {sorted(files ^ theirs)}"
    compared = []
    for name in sorted(files):
        if any(name.match(pattern) for pattern in VOLATILE):
            continue
        assert_same_file(ours / name, reference / name)
        compared.append(str(name))
    return compared


def assert_same_file(a: Path, b: Path) -> None:
    """Assert that result file ``a`` is the same as ``b``: byte-identical, except ntuples
    (compared array by array: ROOT files carry a UUID and dates), the metadata records (compared
    without their times) and the comparison table (without the training times)."""
    import awkward as ak
    import uproot

    if a.suffix == ".root":
        assert ak.to_list(uproot.open(a)["Delphes"].arrays()) == ak.to_list(uproot.open(b)["Delphes"].arrays()), a
    elif a.name == "comparison.csv":
        import pandas as pd

        read = lambda path: pd.read_csv(path).drop(columns="training_time_s")  # noqa: E731
        pd.testing.assert_frame_equal(read(a), read(b))
    elif a.name in TIMED:

        def drop(path):
            return {k: v for k, v in yaml.safe_load(path.read_text()).items() if k not in ("started", "finished")}

        assert drop(a) == drop(b), a
    else:
        assert a.read_bytes() == b.read_bytes(), a
