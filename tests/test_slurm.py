"""The tiny workflow through a real SLURM on localhost, with the workflow's slurm profile."""

from __future__ import annotations

import re

import pytest
from slurm_cluster import LocalSlurm, Unavailable
from workflow_helpers import assert_same_results, copy_repo, snakemake

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
