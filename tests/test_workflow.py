"""The whole workflow on the tiny config, in a temporary copy of the repository.

One real run (about a minute on 2 cores), then dry runs that prove what Snakemake would rerun.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import (
    MADGRAPH_LHE,
    REPO,
    TINY,
    copy_repo,
    edit_config,
    planned_jobs,
    result_files,
    snakemake,
    write_nlo_lhe,
)

pytestmark = pytest.mark.workflow


def test_dry_run_on_empty_results(tmp_path):
    workdir = copy_repo(tmp_path)
    jobs = planned_jobs(workdir)
    assert jobs["generate_chunk"] == 7 and jobs["all"] == 1  # 3 Pythia processes x 2 chunks + 1 LHE chunk


def test_a_configfile_replaces_the_default_config(tmp_path):
    """An example (or a user's analysis) runs alone: nothing of config/config.yaml, whose
    classifiers include an MLP and a CNN, is merged into it."""
    workdir = copy_repo(tmp_path)
    shutil.copy(REPO / "config/examples/quick.yaml", workdir / "config/examples/quick.yaml")
    jobs = planned_jobs(workdir, "--configfile", "config/examples/quick.yaml")
    assert jobs["generate_chunk"] == 3 and jobs["train_bdt"] == 3 and jobs["train_cuts"] == 3  # 3 folds
    assert not {"train_mlp", "train_cnn", "images"} & set(jobs)


def test_a_key_given_twice_stops_snakemake_at_once(tmp_path):
    """A config file with a process given twice is refused before any job, naming the file,
    the key and its line, whether it is given with --configfile or is the default config."""
    workdir = copy_repo(tmp_path)
    lines = (workdir / "config/config.yaml").read_text().splitlines(keepends=True)
    start = lines.index("  qcd:\n")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("    "))
    twice = "".join(lines[:end] + lines[start:end] + lines[end:])  # the qcd block again, just below
    (workdir / "config/twice.yaml").write_text(twice)
    where = f"line {end + 1}: key 'processes.qcd' given twice, first on line {start + 1}"
    proc = snakemake(workdir, "-n", "--configfile", "config/twice.yaml", check=False)
    assert proc.returncode != 0 and f"config/twice.yaml: {where}" in proc.stdout + proc.stderr
    assert "Job stats" not in proc.stdout
    (workdir / "config/config.yaml").write_text(twice)
    proc = snakemake(workdir, "-n", check=False)
    assert proc.returncode != 0 and f"config/config.yaml: {where}" in proc.stdout + proc.stderr


@pytest.mark.parametrize("profile", ["slurm", "htcondor"])
def test_cluster_profiles_load_and_plan_every_job(tmp_path, profile):
    workdir = copy_repo(tmp_path)
    jobs = planned_jobs(workdir, "--workflow-profile", f"workflow/profiles/{profile}")
    assert jobs["generate_chunk"] == 7 and jobs["train_bdt"] == 2 and jobs["all"] == 1  # 2 folds


def test_htcondor_jobs_carry_the_memory_and_time_its_plugin_reads(tmp_path):
    """The HTCondor plugin reads htcondor_request_mem_mb and allowed_execute_duration (s), not
    mem_mb and runtime (min): every planned job must carry both, and they must agree."""
    workdir = copy_repo(tmp_path)
    out = snakemake(workdir, "-n", "--workflow-profile", "workflow/profiles/htcondor").stdout
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", out, re.MULTILINE)
    assert len(jobs) >= 30
    checked = 0
    for rule, text in jobs:
        if rule == "all":
            continue
        resources = dict(item.split("=", 1) for item in text.split(", "))
        assert resources["htcondor_request_mem_mb"] == resources["mem_mb"], rule
        assert int(resources["allowed_execute_duration"]) == 60 * int(resources["runtime"]), rule
        checked += 1
    assert checked >= 30
    generate = next(text for rule, text in jobs if rule == "generate_chunk")
    assert "mem_mb=2000" in generate and "runtime=60" in generate


def test_every_output_present(tiny):
    for path in (
        "results/config.yaml",
        "results/skim/cutflow.csv",
        "results/features/features.parquet",
        "results/features/features.yaml",
        "results/features/split.json",
        "results/models/bdt/fold0/model.json",
        "results/models/bdt/fold1/model.json",
        "results/models/bdt/ensemble.json",
        "results/evaluation/bdt/metrics.json",
        "results/evaluation/bdt/roc.png",
        "results/evaluation/bdt/scores.png",
        "results/binning/bdt/table.csv",
        "results/binning/bdt/significance.png",
        "results/inference/bdt/theory_variations.png",  # stating that there are none
        "results/evaluation/comparison_pairs.csv",
        "results/headline.csv",
        "results/headline.md",
        "results/headline.provenance.yaml",
    ):
        assert (tiny / path).stat().st_size > 0, path
    for process, chunks in (("zz_qqvv", 2), ("zvv_jets", 2), ("qcd", 2), ("zz_madgraph", 1)):
        assert len(list((tiny / "results/generate" / process).glob("chunk*.root"))) == chunks
        assert (tiny / f"results/logs/generate/{process}/chunk0.log").exists()


def test_chunk_logs_hold_pythias_statistics_and_chunk_json_its_message_counts(tiny):
    for process in ("zz_qqvv", "zvv_jets", "qcd", "zz_madgraph"):
        log = (tiny / f"results/logs/generate/{process}/chunk0.log").read_text()
        # Pythia's own output (C++ std::cout) reached the log, in order with phenoflow's lines
        init, progress = log.index("-  PYTHIA Process Initialization"), log.index(" / ")
        stat = log.index("-  PYTHIA Event and Cross Section Statistics")
        assert init < progress < stat < log.index("-  PYTHIA Error and Warning Messages Statistics")
        assert "PYTHIA Event Listing" not in log, process  # no event listings
        chunk = json.loads((tiny / f"results/generate/{process}/chunk0.json").read_text())
        assert isinstance(chunk["pythia_messages"], dict) and all(n > 0 for n in chunk["pythia_messages"].values())
        assert chunk["pythia_errors_total"] == sum(
            n for m, n in chunk["pythia_messages"].items() if m.startswith(("Abort", "Error"))
        )


def test_feature_table_metadata_records_provenance(tiny):

    meta = yaml.safe_load((tiny / "results/features/features.yaml").read_text())
    table = pd.read_parquet(tiny / "results/features/features.parquet")
    config = yaml.safe_load((tiny / "config/config.yaml").read_text())
    assert meta["rows"] == len(table) and meta["features"] == config["features"]["names"]
    assert list(meta["columns"]) == list(table.columns)
    assert meta["luminosity_fb"] == config["luminosity_fb"] and meta["selection"] == config["selection"]["cuts"]
    text = json.dumps(meta["config"], sort_keys=True, separators=(",", ":"), default=str)
    assert meta["config_hash"] == hashlib.sha256(text.encode()).hexdigest()
    skim = tiny / "results/skim/qcd.parquet"
    assert meta["inputs"]["results/skim/qcd.parquet"] == hashlib.sha256(skim.read_bytes()).hexdigest()
    for name, process in meta["processes"].items():
        rows = table[table["process"] == name]
        assert process["selected_events"] == len(rows) and process["role"] == config["processes"][name]["role"]
        assert process["expected_events"] == pytest.approx(rows["weight"].sum())
    assert {"numpy", "awkward", "uproot", "snakemake"} <= set(meta["packages"])
    assert meta["started"] <= meta["finished"]


def test_every_result_directory_has_a_provenance_record(tiny):
    """Each directory under results/ holds the record of the jobs that wrote it: the config part
    that affected them and its hash, input hashes, package versions, seeds and times."""
    results = tiny / "results"
    # a directory output (results/binning/<model>/plots) is covered by its job's record one level
    # up; job logs and time/memory records (results/logs, results/benchmarks) are not results
    files = [tiny / f for f in result_files(tiny)]
    directories = sorted({p.parent for p in files if p.parent.name != "plots"} - {results})
    assert len(directories) >= 12
    config = yaml.safe_load((tiny / "config/config.yaml").read_text())
    for directory in directories:
        datasets = [directory / name for name in ("features.yaml", "images.yaml") if (directory / name).exists()]
        records = sorted(directory.glob("*provenance.yaml")) + datasets
        assert records, f"no provenance record in {directory.relative_to(tiny)}"
        for path in records:
            record = yaml.safe_load(path.read_text())
            text = json.dumps(record["config"], sort_keys=True, separators=(",", ":"), default=str)
            assert record["config_hash"] == hashlib.sha256(text.encode()).hexdigest(), path
            assert record["config"]["seed"] == config["seed"] and record["started"] <= record["finished"]
            assert record["inputs"] and {"numpy", "snakemake"} <= set(record["packages"]), path
            for name, digest in record["inputs"].items():
                assert hashlib.sha256((tiny / name).read_bytes()).hexdigest() == digest, (path, name)
    bdt = yaml.safe_load((results / "models/bdt/fold1/provenance.yaml").read_text())
    assert bdt["config"]["classifiers"] == {"bdt": config["classifiers"]["bdt"]}  # no other model's settings
    assert bdt["seed"] > 0 and bdt["kind"] == "trained model"
    generate = yaml.safe_load((results / "generate/qcd/provenance.yaml").read_text())
    assert list(generate["config"]["processes"]) == ["qcd"] and set(generate["seeds"]) == {"chunk0", "chunk1"}
    lhe = yaml.safe_load((results / "generate/zz_madgraph/provenance.yaml").read_text())
    lhe_file = config["processes"]["zz_madgraph"]["lhe"]["file"]
    assert set(lhe["inputs"]) == {
        "results/generate/zz_madgraph/chunk0.json",
        "results/generate/zz_madgraph/lhe.json",
        lhe_file,
    }


def test_jet_images_align_with_the_feature_table(tiny):
    images = np.load(tiny / "results/features/images.npy", mmap_mode="r")
    table = pd.read_parquet(tiny / "results/features/features.parquet")
    meta = yaml.safe_load((tiny / "results/features/images.yaml").read_text())
    assert images.shape == (len(table), 33, 33) == tuple(meta["shape"]) and images.dtype == np.float32
    for name, process in meta["processes"].items():
        start, stop = process["rows"]
        assert set(table["process"].iloc[start:stop]) == {name}
    # pixels hold the pT of the fat jet's constituents inside the window: about the jet's pT
    total = images.sum(axis=(1, 2))
    ratio = total / table["fatjet0.pt"].to_numpy()
    assert np.all(total > 0) and 0.8 < np.median(ratio) < 1.1
    assert (tiny / "results/features/average_images.png").stat().st_size > 0


def test_weights_of_each_process_sum_to_sigma_times_lumi(tiny):
    config = yaml.safe_load((tiny / "config/config.yaml").read_text())
    cutflow = pd.read_csv(tiny / "results/skim/cutflow.csv")
    features = pd.read_parquet(tiny / "results/features/features.parquet")
    for process in config["processes"]:
        summary = json.loads((tiny / f"results/generate/{process}/summary.json").read_text())
        rows = cutflow[cutflow.process == process]
        expected = summary["sigma_pb"] * 1000 * config["luminosity_fb"]
        assert rows["yield"].iloc[0] == pytest.approx(expected, rel=1e-9)
        assert summary["n_events"] == config["processes"][process]["events"]
        kept = features.loc[features.process == process, "weight"].sum()
        assert kept == pytest.approx(rows["yield"].iloc[-1], rel=1e-9)


def test_lhe_process_keeps_madgraph_cross_section(tiny):
    """The LHE process is the real MadGraph file (every XWGTUP 2.2837e-3 pb) with 20 of its 100
    events negated (NLO-like, IDWTUP -4): sigma is the mean signed weight, 60/100 of it."""
    weights = write_nlo_lhe(REPO / MADGRAPH_LHE, tiny / "check.lhe.gz")
    assert sum(w < 0 for w in weights) == 20 and set(np.abs(weights)) == {0.0022837}
    summary = json.loads((tiny / "results/generate/zz_madgraph/summary.json").read_text())
    assert summary["sigma_pb"] == pytest.approx(0.6 * 0.0022837, rel=1e-12)
    assert summary["n_events"] == 100 and summary["sum_weights"] == pytest.approx(60 * 0.0022837, rel=1e-12)
    scan = json.loads((tiny / "results/generate/zz_madgraph/lhe.json").read_text())
    assert scan["header"]["idwtup"] == -4 and scan["sigma_pb"] == pytest.approx(0.6 * 0.0022837, rel=1e-12)


def test_negative_weights_run_end_to_end(tiny):
    """The NLO-like process's negative weights reach the ntuples, the skim, the features and
    every evaluation with their sign, and the evaluation's yields are the signed sums."""
    import uproot

    generated = uproot.open(tiny / "results/generate/zz_madgraph/chunk0.root")["Delphes"]["Event.Weight"].array()
    generated = np.asarray(generated, dtype=np.float64).ravel()
    assert (generated < 0).sum() == 20 and generated.sum() == pytest.approx(60 * 0.0022837, rel=1e-9)
    features = pd.read_parquet(tiny / "results/features/features.parquet")
    mine = features[features.process == "zz_madgraph"]
    assert (mine["weight"] < 0).any() and (mine["weight"] > 0).any()
    for model in ("bdt", "mlp", "cnn", "cuts"):
        scores = pd.read_parquet(tiny / f"results/evaluation/{model}/scores.parquet")
        metrics = json.loads((tiny / f"results/evaluation/{model}/metrics.json").read_text())
        assert (scores["weight"] < 0).any()
        assert metrics["signal_yield"] == pytest.approx(scores.loc[scores.label == 1, "weight"].sum(), rel=1e-12)
        assert np.isfinite(metrics["working_point"]["signal_efficiency"])
        assert np.isfinite(metrics["auc"]) if model != "cuts" else metrics["auc"] is None  # pass/fail: no AUC
    table = pd.read_csv(tiny / "results/binning/bdt/table.csv")
    assert (table["significance"] > 0).all()


def test_every_event_is_scored_once_by_a_fold_model_that_never_saw_it(tiny):
    """k-fold: the scores hold every row of the feature table exactly once, each from the model of
    its fold (checked by scoring the rows again with that fold's saved model), whose training and
    validation rows exclude it; every process's yield is its full one, sigma L after the cuts."""
    from phenoflow.models.bdt import BDT

    table = pd.read_parquet(tiny / "results/features/features.parquet")
    split = json.loads((tiny / "results/features/split.json").read_text())
    assert split["scheme"] == "kfold" and split["folds"] == 2 and len(split["sets"]) == 2
    scores = pd.read_parquet(tiny / "results/evaluation/bdt/scores.parquet")
    np.testing.assert_array_equal(scores["row"].to_numpy(), np.arange(len(table)))
    np.testing.assert_array_equal(scores["weight"].to_numpy(), table["weight"].to_numpy())  # no 1/fraction scaling
    cutflow = pd.read_csv(tiny / "results/skim/cutflow.csv")
    for process, rows in scores.groupby("process", observed=True):
        final = cutflow[cutflow.process == process]["yield"].iloc[-1]
        assert rows["weight"].sum() == pytest.approx(final, rel=1e-9), process
    features = json.loads((tiny / "results/models/bdt/fold0/training.json").read_text())["features"]
    for fold, sets in enumerate(split["sets"]):
        mine = scores["row"][scores["fold"] == fold].to_numpy()
        np.testing.assert_array_equal(mine, sets["test"])
        assert not set(mine) & (set(sets["train"]) | set(sets["val"]))
        model = BDT.load(tiny / f"results/models/bdt/fold{fold}/model.json")
        again = model.predict_proba(table.iloc[mine][features].to_numpy(np.float64))
        np.testing.assert_allclose(scores["score"][scores["fold"] == fold], again, rtol=1e-6)
    metrics = json.loads((tiny / "results/evaluation/bdt/metrics.json").read_text())
    assert metrics["folds"]["n_folds"] == 2 and len(metrics["folds"]["auc"]) == 2
    assert metrics["folds"]["auc_mean"] == pytest.approx(np.mean(metrics["folds"]["auc"]))


def test_bins_and_thresholds_are_chosen_on_other_folds_than_those_that_report_them(tiny):
    """binning.crossfit (default): each fold's events go through bins chosen on the other fold;
    the table gives the choosing and the independent significance; the best threshold is also
    chosen on the other fold, reported on its own."""
    scores = pd.read_parquet(tiny / "results/evaluation/bdt/scores.parquet")
    rows = json.loads((tiny / "results/binning/bdt/binning.json").read_text())
    for row in rows:
        assert row["crossfit"] and len(row["fold_edges"]) == 2 and "edges" not in row
        assert np.sum(row["b"]) == pytest.approx(scores.loc[scores.label == 0, "weight"].sum(), rel=1e-9)
    table = pd.read_csv(tiny / "results/binning/bdt/table.csv")
    assert {"significance_choosing", "z_asimov_choosing", "optimism"} <= set(table.columns)
    np.testing.assert_allclose(table["optimism"], table["z_asimov_choosing"] / table["z_asimov"], rtol=1e-9)
    metrics = json.loads((tiny / "results/evaluation/bdt/metrics.json").read_text())
    independent = metrics["max_significance_with_uncertainty_independent"]
    assert len(independent["thresholds"]) == 2 and np.isfinite(independent["significance"])
    comparison = pd.read_csv(tiny / "results/evaluation/comparison.csv").set_index("method")
    assert comparison.loc["bdt", "z_max_independent"] == pytest.approx(independent["significance"])


def test_a_fixed_split_still_runs_and_scales_its_test_events(tiny, tmp_path):
    """split: {fractions: ...} trains one model per instance on the train split and scores the
    test split alone, its weights scaled to each process's full yield."""
    workdir = tmp_path / "fixed"
    shutil.copytree(tiny, workdir, symlinks=True)
    edit_config(workdir, lambda c: c.update(split={"fractions": {"train": 0.5, "val": 0.2, "test": 0.3}}))
    jobs = planned_jobs(workdir, "results/binning/bdt/table.csv")
    assert jobs["split"] == 1 and jobs["train_bdt"] == 1 and "generate_chunk" not in jobs
    snakemake(workdir, "--cores", "2", "results/binning/bdt/table.csv")
    split = json.loads((workdir / "results/features/split.json").read_text())
    assert split["scheme"] == "fixed" and len(split["sets"]) == 1
    table = pd.read_parquet(workdir / "results/features/features.parquet")
    scores = pd.read_parquet(workdir / "results/evaluation/bdt/scores.parquet")
    np.testing.assert_array_equal(scores["row"].to_numpy(), split["sets"][0]["test"])
    assert (scores["fold"] == 0).all() and len(scores) < 0.4 * len(table)
    totals = table.groupby("process", observed=True)["weight"].sum()
    np.testing.assert_allclose(scores.groupby("process", observed=True)["weight"].sum(), totals, rtol=1e-9)
    metrics = json.loads((workdir / "results/evaluation/bdt/metrics.json").read_text())
    assert metrics["folds"]["n_folds"] == 1 and metrics["folds"]["auc_std"] is None
    manifest = json.loads((workdir / "results/models/bdt/ensemble.json").read_text())
    assert manifest["scheme"] == "fixed" and manifest["files"] == ["fold0/model.json"]


def test_bdt_separates_signal_from_background(tiny):
    metrics = json.loads((tiny / "results/evaluation/bdt/metrics.json").read_text())
    assert metrics["auc"] > 0.8
    assert metrics["max_significance"]["significance"] > 0
    table = pd.read_csv(tiny / "results/binning/bdt/table.csv")
    assert (table["significance"] > 0).all()


def test_binning_and_metrics_quote_z_with_the_background_uncertainty_and_without(tiny):
    """The tiny config sets a 10 % background systematic and the MC statistics: every binning
    maximises Cowan's Z with them and also reports the plain Asimov Z of its bins, which is never
    smaller; metrics.json holds both best thresholds."""
    for model in ("bdt", "mlp", "cnn"):
        table = pd.read_csv(tiny / f"results/binning/{model}/table.csv")
        assert (table["significance"] > 0).all() and (table["significance"] <= table["z_asimov"] * (1 + 1e-12)).all()
        metrics = json.loads((tiny / f"results/evaluation/{model}/metrics.json").read_text())
        best, plain = metrics["max_significance_with_uncertainty"], metrics["max_significance"]
        assert best["relative_background_uncertainty"] == 0.1 and best["mc_statistics"] is True
        assert best["sigma_b"] >= 0.1 * best["b"] and plain["sigma_b"] == 0.0
        assert 0 < best["significance"] <= plain["significance"]


def test_changing_the_significance_reruns_the_binning_and_what_else_quotes_it(tiny):
    edit_config(tiny, lambda c: c["significance"].update({"relative_background_uncertainty": 0.2}))
    try:
        # the cut-and-counts maximise it; the other models' training does not depend on it
        expected = {"train_cuts": 2, "train_cuts_parallel": 2, "ensemble": 2, "evaluate": 5, "binning": 3, "inference": 2,
                    "compare": 1, "headline": 1, "config_record": 1, "all": 1}  # fmt: skip
        assert planned_jobs(tiny) == expected
    finally:
        shutil.copy(TINY, tiny / "config" / "config.yaml")


def test_the_minimum_of_mc_events_reruns_what_it_rules(tiny):
    """evaluation.min_mc_events rules the score scans and the cut-and-counts' selections (their
    blocks set none of their own here); binning.min_mc_events the bins alone."""
    try:
        edit_config(tiny, lambda c: c["evaluation"].update({"min_mc_events": 12}))
        expected = {"train_cuts": 2, "train_cuts_parallel": 2, "ensemble": 2, "evaluate": 5, "binning": 3, "inference": 2,
                    "compare": 1, "headline": 1, "config_record": 1, "all": 1}  # fmt: skip
        assert planned_jobs(tiny) == expected
        shutil.copy(TINY, tiny / "config" / "config.yaml")
        edit_config(tiny, lambda c: c["binning"].update({"min_mc_events": 12}))
        assert planned_jobs(tiny) == {"binning": 3, "inference": 2, "headline": 1, "config_record": 1, "all": 1}
    finally:
        shutil.copy(TINY, tiny / "config" / "config.yaml")
    # every quoted threshold and bin of the run rests on at least the default ten events
    for model in ("bdt", "mlp", "cnn", "cuts", "cuts_parallel"):
        metrics = json.loads((tiny / f"results/evaluation/{model}/metrics.json").read_text())
        assert metrics["max_significance"]["b_events"] >= 10 <= metrics["max_significance_with_uncertainty"]["b_events"]
    for model in ("bdt", "mlp", "cnn"):
        assert (pd.read_csv(tiny / f"results/binning/{model}/table.csv")["min_b_events"] >= 10).all()
    cuts = json.loads((tiny / "results/models/cuts/fold0/model.json").read_text())
    assert cuts["settings"]["min_mc_events"] == 10  # evaluation's default, its block sets none


def test_inference_gives_a_valid_likelihood_per_binning(tiny):
    """The tiny config asks for the BDT and the MLP (optimal and gmm binnings, every K): one pyhf
    workspace each, whose yields are the binning's, and finite expected results or a row that
    says why there are none."""
    import pyhf

    config = yaml.safe_load((tiny / "config/config.yaml").read_text())
    assert not (tiny / "results/inference/cnn").exists()
    converged = 0
    for model in ("bdt", "mlp"):
        table = pd.read_csv(tiny / f"results/inference/{model}/table.csv")
        assert list(zip(table["method"], table["n_bins_requested"])) == [
            (m, k) for m in ("optimal", "gmm") for k in (2, 4)
        ]
        assert np.all(np.isfinite(table[["n_bins", "z_asimov", "z_cowan"]].to_numpy(np.float64)))
        # results are finite with ordered bands, or absent with the FitError in the notes. The tiny
        # run's bins hold ~1e9 QCD events from a handful of MC events (s/b 1e-5 - 1e-6): with the
        # signal out of the staterror its limits lie where a bin's background factor is
        # driven towards zero, and there the scaled SLSQP fits of some binnings stall or fail (the
        # BDT's K = 4, the MLP's); before, a staterror shared with the signal absorbed any signal
        results = table[
            ["z_discovery", "limit_minus2", "limit_minus1", "limit_median", "limit_plus1", "limit_plus2"]
        ].to_numpy(np.float64)
        ok = np.all(np.isfinite(results), axis=1)
        notes = table["notes"].fillna("").astype(str)
        assert np.all(np.isnan(results[~ok])) and notes[~ok].str.contains("no expected results: ").all(), notes[
            ~ok
        ].tolist()
        assert np.all(results[ok, 0] > 0) and np.all(np.diff(results[ok, 1:], axis=1) > 0)
        converged += ok.sum()
        # each result also without MC statistics: ratios Z / Z without and limit without / limit,
        # MC-limited below inference.mc_limited_below (0.8 by default), then the events needed
        ratios = table[["z_ratio_mc", "limit_ratio_mc"]].to_numpy(np.float64)
        np.testing.assert_allclose(ratios[ok, 0], table["z_discovery"][ok] / table["z_discovery_no_mc"][ok])
        np.testing.assert_allclose(ratios[ok, 1], table["limit_median_no_mc"][ok] / table["limit_median"][ok])
        assert table["mc_limited"].dtype == bool and not table["mc_limited"][~ok].any()
        assert table["mc_limited"][ok].tolist() == (ratios[ok].min(axis=1) < 0.8).tolist()
        generated = {p: json.loads((tiny / f"results/generate/{p}/summary.json").read_text())["n_events"] for p in config["processes"]}  # fmt: skip
        for needed in table.loc[table["mc_limited"], "mc_events_needed"]:
            # "<process>: <f>x more events (<n> -> <f n> generated)", "all of <processes> together: <f>x
            # more events each (<process> <n> -> <f n>, ... generated)", or why there is no factor
            for part in needed.split("; "):
                found = re.fullmatch(r"(?:(\w+)|all of [\w, ]+ together): (\d+)x more events(?: each)? \((.+) generated\)", part)  # fmt: skip
                if found is None:
                    assert re.search(r"not within 65536x$|fit failed at \d+x", part), part
                    continue
                single, factor, counts = found.groups()
                for count in counts.split(", "):
                    process, before, after = re.fullmatch(r"(?:([A-Za-z_]\w*) )?([\d ]+) -> ([\d ]+)", count).groups()
                    process = process or single
                    assert int(before.replace(" ", "")) == generated[process], part
                    assert int(after.replace(" ", "")) == int(factor) * generated[process], part
        binning = {
            (r["method"], r["n_bins_requested"]): r
            for r in json.loads((tiny / f"results/binning/{model}/binning.json").read_text())
        }
        for method, k in zip(table["method"], table["n_bins_requested"]):
            spec = json.loads((tiny / f"results/inference/{model}/workspace_{method}_K{k}.json").read_text())
            pyhf.schema.validate(spec, "workspace.json")
            samples = {s["name"]: s for s in spec["channels"][0]["samples"]}
            signal = [n for n, p in config["processes"].items() if p["role"] == "signal"]
            np.testing.assert_allclose(
                np.sum([samples[n]["data"] for n in signal], axis=0), binning[(method, k)]["s"], rtol=1e-9
            )
            np.testing.assert_allclose(
                np.sum([samples[n]["data"] for n in samples if n not in signal], axis=0),
                binning[(method, k)]["b"],
                rtol=1e-9,
            )
            assert {"name": "norm_qcd", "type": "normsys", "data": {"hi": 1.5, "lo": 0.5}} in samples["qcd"][
                "modifiers"
            ]
            # MC statistics (the default): on every background sample with MC events, not on the signal
            mc_terms = {n: {m["type"] for m in s["modifiers"]} & {"staterror", "shapesys"} for n, s in samples.items()}
            assert all(not mc_terms[n] for n in signal)
            assert all(mc_terms[n] for n in samples if n not in signal and np.any(samples[n]["data"]))
        assert "limit on mu" in (tiny / f"results/inference/{model}/table.md").read_text()
        for suffix in (".png", ".pdf"):
            assert (tiny / f"results/inference/{model}/limits{suffix}").stat().st_size > 0
    assert converged >= 2  # the BDT's K = 2 binnings


def test_shower_variations_reach_the_workspace_as_histosys(tiny, tmp_path):
    """Pythia's ISR and FSR variations asked for on one process (Z+jets, 400 events), and the
    7-point scale variation of the signal's MadGraph LHE file, are carried through the skim, the
    feature table and the scores into the BDT's workspaces: histosys (and normsys) modifiers isr
    and fsr on Z+jets alone and scale_zz_madgraph on the signal alone, valid for pyhf, the table with
    and without them, and the figure of the variations; the mixture trained on that likelihood
    (gmm_likelihood, theory systematics included) is built and gets its likelihoods too."""
    import pyhf

    workdir = tmp_path / "shower"
    shutil.copytree(tiny, workdir, symlinks=True)

    def variations(config: dict) -> None:
        config["processes"]["zvv_jets"].update(shower_variations=["isr", "fsr"])
        config["processes"]["zz_madgraph"]["lhe"].update(variations=["scale"])
        config["binning"]["methods"].append("gmm_likelihood")  # its likelihood holds them too

    edit_config(workdir, variations)
    jobs = planned_jobs(workdir, "results/inference/bdt/table.csv")
    assert jobs["generate_chunk"] == 3 and jobs["skim"] == 2 and "train_mlp" not in jobs  # Z+jets 2 chunks, the LHE 1
    snakemake(workdir, "--cores", "2", "results/inference/bdt/table.csv")
    names = ["isr:murfac=0.5", "isr:murfac=2", "fsr:murfac=0.5", "fsr:murfac=2"]
    summary = json.loads((workdir / "results/generate/zvv_jets/summary.json").read_text())
    assert [v["name"] for v in summary["variations"]] == names
    columns = [f"weight:{n}" for n in names]
    table = pd.read_parquet(workdir / "results/features/features.parquet")
    scale = [
        v["name"] for v in json.loads((workdir / "results/generate/zz_madgraph/summary.json").read_text())["variations"]
    ]
    assert len(scale) == 7 and all(n.startswith("scale:") for n in scale)  # MUR, MUF x 0.5, 1, 2 but not 1/4 or 4
    assert list(table.columns[:4]) == ["process", "label", "class", "weight"]
    assert set(table.columns[4:15]) == {*columns, *(f"weight:{n}" for n in scale)}
    zjets = table["process"] == "zvv_jets"
    for c in columns:  # the other processes carry their nominal weight (no change)
        np.testing.assert_array_equal(table.loc[~zjets, c], table.loc[~zjets, "weight"])
        assert not np.allclose(table.loc[zjets, c], table.loc[zjets, "weight"])
    scores = pd.read_parquet(workdir / "results/evaluation/bdt/scores.parquet")
    assert list(scores.columns[:6]) == ["row", "fold", "process", "label", "class", "weight"]
    for c in ("weight", *columns):  # k-fold: every event scored at its own weights
        np.testing.assert_array_equal(scores[c], table[c].to_numpy()[scores["row"]])
    inference = pd.read_csv(workdir / "results/inference/bdt/table.csv")
    assert "gmm_likelihood" in set(inference["method"])  # built and fed to the inference like any method
    assert {"z_discovery_no_theory", "limit_median_no_theory", "z_ratio_theory", "limit_ratio_theory"} <= set(inference.columns)  # fmt: skip
    assert (
        inference["notes"].str.contains("zvv_jets: isr").all()
        and inference["notes"].str.contains("zz_madgraph: scale").all()
    )
    for method, k in zip(inference["method"], inference["n_bins_requested"]):
        spec = json.loads((workdir / f"results/inference/bdt/workspace_{method}_K{k}.json").read_text())
        pyhf.schema.validate(spec, "workspace.json")
        modifiers = {
            s["name"]: {(m["name"], m["type"]) for m in s["modifiers"]} for s in spec["channels"][0]["samples"]
        }
        assert {("isr", "histosys"), ("fsr", "histosys"), ("isr", "normsys"), ("fsr", "normsys")} <= modifiers[
            "zvv_jets"
        ]
        assert all(not {"isr", "fsr"} & {name for name, _ in m} for p, m in modifiers.items() if p != "zvv_jets")
        assert {("scale_zz_madgraph", "histosys"), ("scale_zz_madgraph", "normsys")} <= modifiers["zz_madgraph"]
        assert all(
            "scale_zz_madgraph" not in {name for name, _ in m} for p, m in modifiers.items() if p != "zz_madgraph"
        )
    assert (workdir / "results/inference/bdt/theory_variations.png").stat().st_size > 0


def test_second_run_does_nothing(tiny):
    assert planned_jobs(tiny) == {}


@pytest.mark.parametrize(
    "model, key, value",
    [
        ("bdt", "max_depth", 2),
        ("mlp", "epochs", 4),
        ("cuts_parallel", "n_thresholds", 50),
        ("cuts", "features", ["met", "ht"]),
    ],
)
def test_one_models_parameter_reruns_that_model_only(tiny, model, key, value):
    """Also for one of two instances of the same method (cuts, cuts_parallel), and for an
    instance's features; the cut-and-count's pass/fail score is not binned."""
    edit_config(tiny, lambda c: c["classifiers"][model].update({key: value}))
    try:
        # the config record changes too (it is the config), but nothing upstream of training
        # and no other model
        expected = {f"train_{model}": 2, "ensemble": 1, "evaluate": 1, "binning": 1, "inference": 1, "compare": 1,
                    "headline": 1, "config_record": 1, "all": 1}  # fmt: skip
        if model.startswith("cuts"):
            del expected["binning"], expected["inference"]
        assert planned_jobs(tiny) == expected
    finally:
        shutil.copy(TINY, tiny / "config" / "config.yaml")


def test_two_instances_of_one_method_train_with_their_own_settings_and_features(tiny):
    """cuts and cuts_parallel are both cut-and-counts: each has its own rule, model, evaluation
    and provenance, and sees only its own features; the CNN's record names the images, the
    cut-and-count's (physical weights) not the training weights."""
    config = yaml.safe_load((tiny / "config/config.yaml").read_text())
    sequential = json.loads((tiny / "results/models/cuts/fold0/model.json").read_text())
    parallel = json.loads((tiny / "results/models/cuts_parallel/fold0/model.json").read_text())
    assert sequential["settings"]["topology"] == "sequential" and parallel["settings"]["topology"] == "parallel"
    own = config["classifiers"]["cuts_parallel"]["features"]
    assert sequential["settings"]["feature_names"] == config["features"]["names"]
    assert parallel["settings"]["feature_names"] == own and parallel["n_features"] == len(own)
    assert parallel["cuts"] and {c["feature"] for c in parallel["cuts"]} <= set(own)
    manifest = json.loads((tiny / "results/models/cuts_parallel/ensemble.json").read_text())
    assert manifest["method"] == "cuts" and manifest["n_folds"] == 2
    for fold, training in enumerate(manifest["folds"]):
        assert training["fold"] == fold and training["features"] == own and training["images"] is False
    for name in ("cuts", "cuts_parallel"):
        record = yaml.safe_load((tiny / f"results/evaluation/{name}/provenance.yaml").read_text())
        assert list(record["config"]["classifiers"]) == [name]
        assert "images" not in record["config"] and "training_weights" not in record["config"]
        assert "results/features/images.npy" not in record["inputs"]
        assert json.loads((tiny / f"results/evaluation/{name}/metrics.json").read_text())["method"] == "cuts"
    cnn = yaml.safe_load((tiny / "results/models/cnn/fold0/provenance.yaml").read_text())
    assert (
        "images" in cnn["config"]
        and "training_weights" in cnn["config"]
        and "results/features/images.npy" in cnn["inputs"]
    )
    assert not (tiny / "results/binning/cuts_parallel").exists()  # a pass/fail score is not binned


def test_mapped_batches_retrain_the_networks_only_and_score_them_from_the_map(tiny, tmp_path):
    """training_batches: mapped reaches the networks' training and evaluation through their rules'
    params: it reruns them and what quotes their scores, not the BDT or the cut-and-counts, and
    their records say how they were trained."""
    workdir = tmp_path / "mapped"
    shutil.copytree(tiny, workdir, symlinks=True)
    edit_config(workdir, lambda c: c.update(training_batches="mapped"))
    jobs = planned_jobs(workdir)
    assert jobs == {"train_mlp": 2, "train_cnn": 2, "ensemble": 2, "evaluate": 2, "binning": 2, "inference": 1,
                    "compare": 1, "headline": 1, "config_record": 1, "all": 1}  # fmt: skip
    snakemake(workdir, "--cores", "2", *(f"results/evaluation/{m}/metrics.json" for m in ("mlp", "cnn")))
    for model in ("mlp", "cnn"):
        manifest = json.loads((workdir / f"results/models/{model}/ensemble.json").read_text())
        assert [t["batches"] for t in manifest["folds"]] == ["mapped", "mapped"]
        record = yaml.safe_load((workdir / f"results/models/{model}/fold0/provenance.yaml").read_text())
        assert record["config"]["training_batches"] == "mapped"
        scores = pd.read_parquet(workdir / f"results/evaluation/{model}/scores.parquet")
        before = pd.read_parquet(tiny / f"results/evaluation/{model}/scores.parquet")
        np.testing.assert_array_equal(scores["row"], before["row"])  # every event scored, by another model
        assert not np.array_equal(scores["score"], before["score"])
    bdt = yaml.safe_load((workdir / "results/models/bdt/fold0/provenance.yaml").read_text())
    assert "training_batches" not in bdt["config"]


def test_every_method_is_compared_on_the_same_events(tiny):
    table = pd.read_csv(tiny / "results/evaluation/comparison.csv")
    assert list(table["method"]) == ["bdt", "cnn", "cuts", "cuts_parallel", "mlp"]
    assert list(table.columns) == [
        "method",
        "auc",
        "auc_err",
        "auc_minus_best",
        "auc_minus_best_err",
        "auc_fold_std",
        "auc_qcd",
        "auc_qcd_err",
        "auc_zvv_jets",
        "auc_zvv_jets_err",
        "z_max",
        "z_max_err",
        "z_max_minus_best",
        "z_max_minus_best_err",
        "z_max_fold_std",
        "z_max_independent",
        "z_max_asimov",
        "z_max_asimov_err",
        "s_over_sqrt_b",
        "wp_signal_efficiency",
        "wp_background_rejection",
        "r50",
        "r99",
        "training_time_s",
        "n_parameters",
    ]
    assert (table["z_max"] <= table["z_max_asimov"] * (1 + 1e-12)).all()
    assert (table["n_parameters"] > 0).all() and (table["training_time_s"] > 0).all()
    # bootstrap errors of every Z_max and of every AUC a classifier has; the cut-and-counts (a
    # pass/fail score) have none, nor R50 or R99, but their working point's efficiencies
    rows = table.set_index("method")
    assert (rows["z_max_err"] > 0).all() and (rows["z_max_minus_best_err"] >= 0).all()
    for model in ("bdt", "cnn", "mlp"):
        assert rows.loc[model, "auc_err"] > 0 and rows.loc[model, ["auc_qcd_err", "auc_zvv_jets_err"]].ge(0).all()
    for model in ("cuts", "cuts_parallel"):
        assert rows.loc[model, ["auc", "auc_err", "auc_zvv_jets", "r50", "r99"]].isna().all(), model
        assert 0 < rows.loc[model, "wp_signal_efficiency"] <= 1, model
    assert (rows[["auc_minus_best", "z_max_minus_best"]].max() == 0).all()  # the best's difference to itself
    markdown = (tiny / "results/evaluation/comparison.md").read_text()
    assert markdown.count("\n") == 9 and "R50" in markdown and "best" in markdown and "Accuracy" not in markdown
    pairs = pd.read_csv(tiny / "results/evaluation/comparison_pairs.csv")
    assert len(pairs[pairs.metric == "auc"]) == 3 and len(pairs[pairs.metric == "z_max"]) == 10  # 3 and 5 methods
    assert pairs["error"].notna().all() and (pairs["error"] >= 0).all()
    scores = {m: pd.read_parquet(tiny / f"results/evaluation/{m}/scores.parquet") for m in table["method"]}
    reference = scores["bdt"][["row", "fold", "process", "label", "weight"]]
    for frame in scores.values():
        pd.testing.assert_frame_equal(frame[["row", "fold", "process", "label", "weight"]], reference)
    assert (rows["z_max_fold_std"] >= 0).all()  # two folds: a spread for every instance
    assert (rows.loc[["bdt", "cnn", "mlp"], "auc_fold_std"] >= 0).all()
    assert set(scores["cuts"]["score"]) <= {0.0, 1.0}  # a cut-and-count passes or fails
    cuts = json.loads((tiny / "results/models/cuts/fold0/model.json").read_text())
    assert cuts["cuts"], "the cut-and-count chose no cut"
    for model in table["method"]:
        for plot in ("overtraining.png", "history.png", "confusion.png"):
            assert (tiny / f"results/evaluation/{model}/{plot}").stat().st_size > 0


def test_background_classes_make_the_classifiers_multiclass(tiny, tmp_path):
    """Giving the two backgrounds their own classes reruns from the features on: the BDT and the
    MLP learn a softmax over three classes, evaluated per class and projected onto signal vs
    background."""
    workdir = tmp_path / "multiclass"
    shutil.copytree(tiny, workdir, symlinks=True)

    def classes(c):
        c["processes"]["zvv_jets"]["class"] = "zjets"
        c["processes"]["qcd"]["class"] = "qcd"

    edit_config(workdir, classes)
    jobs = planned_jobs(workdir)
    assert "generate_chunk" not in jobs and "skim" not in jobs and jobs["features"] == 1 and jobs["train_bdt"] == 2
    targets = [f"results/evaluation/{m}/metrics.json" for m in ("bdt", "mlp")] + ["results/binning/bdt/table.csv"]
    snakemake(workdir, "--cores", "2", *targets)
    table = pd.read_parquet(workdir / "results/features/features.parquet")
    assert dict(table.groupby("process", observed=True)["class"].first()) == {
        "qcd": 1,
        "zvv_jets": 0,
        "zz_madgraph": 2,
        "zz_qqvv": 2,
    }
    for model in ("bdt", "mlp"):
        metrics = json.loads((workdir / f"results/evaluation/{model}/metrics.json").read_text())
        multi = metrics["multiclass"]
        assert multi["classes"] == ["zjets", "qcd", "signal"]
        if model == "bdt":  # the tiny MLP trains for 5 epochs only
            assert all(auc > 0.8 for auc in multi["one_vs_rest_auc"].values()), multi["one_vs_rest_auc"]
            assert metrics["auc"] > 0.8
        scores = pd.read_parquet(workdir / f"results/evaluation/{model}/scores.parquet")
        proba = scores[["p_zjets", "p_qcd", "p_signal"]].to_numpy()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(scores["score"], scores["p_signal"])
        matrix = np.array(multi["confusion_argmax"])
        per_class = scores.groupby("class")["weight"].sum().to_numpy()
        np.testing.assert_allclose(matrix.sum(axis=1), per_class, rtol=1e-9)
        binary = np.array(multi["confusion_argmax_binary"])
        assert binary.sum() == pytest.approx(matrix.sum())
    # the BDT's softmax vectors are binned on the simplex as well as its signal score
    table = pd.read_csv(workdir / "results/binning/bdt/table.csv")
    assert set(table["space"]) == {"score", "simplex"}
    assert set(table.loc[table["space"] == "simplex", "method"]) == {"equidistant", "quantile", "gmm"}
    assert (table["significance"] > 0).all()
    assert (workdir / "results/binning/bdt/plots/simplex_gmm_K4.png").stat().st_size > 0


def test_more_events_rerun_from_generation(tiny):
    edit_config(tiny, lambda c: c["processes"]["qcd"].update(events=500))
    try:
        jobs = planned_jobs(tiny)
    finally:
        shutil.copy(TINY, tiny / "config" / "config.yaml")
    # one new chunk; the existing chunks stay valid, everything downstream reruns
    assert jobs["generate_chunk"] == 1
    for rule in (
        "merge_process",
        "skim",
        "features",
        "split",
        "train_bdt",
        "train_mlp",
        "evaluate",
        "binning",
        "inference",
        "compare",
    ):
        assert jobs.get(rule, 0) >= 1, rule


def test_report_holds_plots_and_tables(tiny):
    snakemake(tiny, "--report", "report.html")
    html = (tiny / "report.html").read_text(errors="replace")
    for name in (
        "config.yaml",
        "cutflow.csv",
        "roc.png",
        "metrics.json",
        "table.csv",
        "significance.png",
        "cutflow.png",
        "average_images.png",
        "comparison.csv",
        "roc_comparison.png",
        "overtraining.png",
        "limits.png",
        "theory_variations.png",
        "headline.csv",
    ):
        assert name in html, name
    # the front page points to the headline table and states the collider and luminosity
    config = yaml.safe_load((tiny / "config/config.yaml").read_text())
    assert "Start with the headline table" in html
    title = f"{config['collider']['sqrt_s_gev'] / 1000:g} TeV, {config['luminosity_fb']:g} fb⁻¹"
    assert json.dumps(title)[1:-1] in html  # the description is JSON data in the page


def test_headline_table_has_every_classifier_and_the_stages_that_apply(tiny):
    config = yaml.safe_load((tiny / "config/config.yaml").read_text())
    table = pd.read_csv(tiny / "results/headline.csv").set_index("classifier")
    assert sorted(table.index) == sorted(config["classifiers"])
    for name, row in table.iterrows():
        metrics = json.loads((tiny / f"results/evaluation/{name}/metrics.json").read_text())
        if metrics["auc"] is None:  # a cut-and-count's pass/fail score has no ROC curve
            assert np.isnan(row["auc"]) and np.isnan(row["auc_err"]), name
        else:
            assert row["auc"] == pytest.approx(metrics["auc"]) and row["auc_err"] == metrics["bootstrap"]["auc"]
        assert row["z_max_asimov"] == pytest.approx(metrics["max_significance"]["significance"])
        assert row["z_max_err"] == pytest.approx(metrics["bootstrap"]["z_max"])
        binned = (tiny / f"results/binning/{name}/table.csv").exists()
        assert np.isfinite(row["z_binned"]) == binned, name  # the cut-and-counts are not binned
        if binned:
            assert row["z_binned"] == pytest.approx(
                pd.read_csv(tiny / f"results/binning/{name}/table.csv")["significance"].max()
            )
        # the smallest finite median limit, or none (the tiny run's pyhf fits may all fail)
        inferred = tiny / f"results/inference/{name}/table.csv"
        assert inferred.exists() == (name in config["inference"]["classifiers"]), name
        limits = pd.read_csv(inferred)["limit_median"].dropna() if inferred.exists() else pd.Series(dtype=float)
        assert row["limit_median"] == pytest.approx(limits.min()) if len(limits) else np.isnan(row["limit_median"]), (
            name
        )
        if len(limits):  # the best limit's MC-limited flag is its inference row's
            best = pd.read_csv(inferred).loc[limits.idxmin()]
            assert row["mc_limited"] == best["mc_limited"], name
    assert "| bdt " in (tiny / "results/headline.md").read_text()


def test_lint_is_clean(tiny):
    proc = snakemake(tiny, "--lint")
    out = proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in out
