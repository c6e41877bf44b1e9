"""The tiny workflow through a real SLURM on localhost, with the workflow's slurm profile."""

from __future__ import annotations

import json
import math
import re

import pytest
from slurm_cluster import LocalSlurm, Unavailable
from workflow_helpers import assert_same_file, assert_same_results, copy_repo, edit_config, snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except Unavailable as why:
        cluster.stop()
        pytest.skip(f"no SLURM here: {why}")
    yield cluster
    cluster.stop()


def test_workflow_runs_through_slurm_and_matches_local_run(slurm, tiny, tmp_path):
    workdir = copy_repo(tmp_path)
    proc = snakemake(workdir, "--workflow-profile", "workflow/profiles/slurm", "--seconds-between-status-checks", "2")
    submitted = {int(j) for j in re.findall(r"submitted with SLURM jobid (\d+)", proc.stdout + proc.stderr)}
    # every job but the local bookkeeping rules went through SLURM, and SLURM saw each complete
    assert len(submitted) >= 20
    assert submitted <= set(slurm.completed_job_ids())
    # two clean runs, one through SLURM and one local, give the same results: ntuple arrays,
    # skimmed events, features, images, split, models' scores and metrics, binnings
    compared = assert_same_results(workdir, tiny)
    for name in ("generate/qcd/chunk0.root", "features/images.npy", "features/features.parquet", "evaluation/bdt/scores.parquet",
                 "evaluation/mlp/scores.parquet", "evaluation/cnn/scores.parquet", "binning/bdt/binning.json"):  # fmt: skip
        assert f"results/{name}" in compared, name


#: Many tiny generation chunks of one process: 48 chunks of 2 events, in groups of 12.
CHUNKS, EVENTS_PER_CHUNK, PER_GROUP = 48, 2, 12
#: The chunks the local run makes to compare with: every group's first and last, and some between.
LOCAL = (0, 5, 11, 12, 23, 24, 30, 35, 36, 47)


def _many_chunks(config: dict) -> None:
    config["generation"]["events_per_chunk"] = EVENTS_PER_CHUNK
    config["processes"]["zvv_jets"]["events"] = CHUNKS * EVENTS_PER_CHUNK


def test_grouped_generation_chunks_go_as_a_few_slurm_jobs_and_match_a_local_run(slurm, tmp_path):
    """docs/cluster.md's grouping through the slurm profile: 48 chunks in groups of 12 (2 cores,
    the chunk's runtime set to a minute) are 4 SLURM jobs; the chunks equal those a local run
    makes (10 of them, from every group: each chunk is its own seeded job, so a local run of a
    chunk alone is the reference) and the process summary adds up all 48."""
    workdirs = []
    for name in ("local", "slurm"):
        workdir = copy_repo(tmp_path / name)
        edit_config(workdir, _many_chunks)
        workdirs.append(workdir)
    local, grouped = workdirs
    chunk = "results/generate/zvv_jets/chunk{}.{}"
    snakemake(local, "--cores", "2", *(chunk.format(i, "root") for i in LOCAL))
    target = "results/generate/zvv_jets/summary.json"
    proc = snakemake(
        grouped, target, "--workflow-profile", "workflow/profiles/slurm", "--seconds-between-status-checks", "2",
        "--groups", "generate_chunk=generate", "--group-components", f"generate={PER_GROUP}", "--cores", "2",
        "--set-resources", "generate_chunk:runtime=1",
    )  # fmt: skip
    submitted = {int(j) for j in re.findall(r"submitted with SLURM jobid (\d+)", proc.stdout + proc.stderr)}
    assert len(submitted) == CHUNKS // PER_GROUP
    assert submitted <= set(slurm.completed_job_ids())
    for i in LOCAL:
        for kind in ("root", "json"):
            assert_same_file(grouped / chunk.format(i, kind), local / chunk.format(i, kind))
    chunks = [json.loads((grouped / chunk.format(i, "json")).read_text()) for i in range(CHUNKS)]
    summary = json.loads((grouped / target).read_text())
    assert [c["chunk"] for c in chunks] == list(range(CHUNKS))
    assert summary["n_events"] == sum(c["n_events"] for c in chunks) == CHUNKS * EVENTS_PER_CHUNK
    assert summary["sum_weights"] == pytest.approx(math.fsum(c["sum_weights"] for c in chunks), rel=1e-12)
