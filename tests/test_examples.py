"""Analyses with their own results directories share a checkout: dry runs of their DAGs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from workflow_helpers import REPO, copy_repo, snakemake


def planned_paths(workdir: Path, *args: str) -> set[str]:
    """Every output, log and benchmark file of every job a dry run (with extra ``args``) plans."""
    out = snakemake(workdir, "-n", *args).stdout
    paths = set()
    for line in re.findall(r"^    (?:output|log|benchmark): (.*)$", out, re.MULTILINE):
        paths.update(line.split(", "))
    return paths


def test_two_results_directories_make_disjoint_trees(tmp_path):
    """The default analysis writes under results/, a copy with `results: results/other` under
    results/other/ alone: outputs, job logs and benchmark records, none of them shared."""
    workdir = copy_repo(tmp_path)
    other = yaml.safe_load((workdir / "config/config.yaml").read_text())
    other["results"] = "results/other"
    (workdir / "config/other.yaml").write_text(yaml.safe_dump(other, sort_keys=False))
    default = planned_paths(workdir)
    moved = planned_paths(workdir, "--configfile", "config/other.yaml")
    assert len(default) == len(moved) > 50
    assert all(p.startswith("results/") and not p.startswith("results/other/") for p in default)
    assert all(p.startswith("results/other/") for p in moved)
    assert {p.removeprefix("results/other/") for p in moved} == {p.removeprefix("results/") for p in default}
    assert any("/logs/" in p for p in moved) and any("/benchmarks/" in p for p in moved)


#: The shipped examples and the training rules each must plan (HEP ML Lab's six approaches).
EXAMPLES = {
    "wjj_vs_qcd": {"cuts_parallel", "cuts_sequential", "bdt", "mlp", "cnn_max", "cnn_log"},
    "tops": {"cuts", "bdt", "mlp"},
    "production": {"bdt", "cuts", "mlp", "cnn"},
}


def test_examples_plan_their_classifiers_in_their_own_directories(tmp_path):
    """Each example's DAG resolves from empty results with its own classifier instances, and
    everything it would write is under its own `results` directory."""
    workdir = copy_repo(tmp_path)
    for name, classifiers in EXAMPLES.items():
        configfile = f"config/examples/{name}.yaml"
        results = yaml.safe_load((workdir / configfile).read_text())["results"]
        assert results == f"results/{name}"
        paths = planned_paths(workdir, "--configfile", configfile)
        assert paths and all(p.startswith(f"{results}/") for p in paths), name
        trained = {
            p.removeprefix(f"{results}/models/").split("/")[0] for p in paths if p.startswith(f"{results}/models/")
        }
        assert trained == classifiers, name
        assert f"{results}/evaluation/comparison.csv" in paths


def test_the_production_recipe_is_the_default_analysis_with_100x_its_events():
    """config/examples/production.yaml differs from config/config.yaml in its results directory
    and its processes' event counts only, each 100 times the default's."""
    default = yaml.safe_load((REPO / "config/config.yaml").read_text())
    production = yaml.safe_load((REPO / "config/examples/production.yaml").read_text())
    assert production["results"] == "results/production"
    for name, process in default["processes"].items():
        assert production["processes"][name]["events"] == 100 * process["events"], name
        process["events"] *= 100
    default["results"] = "results/production"
    assert production == default
