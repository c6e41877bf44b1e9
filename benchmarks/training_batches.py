"""Peak memory and time of a network's training and scoring with each batch source (config
``training_batches``): ``memory`` (each split copied into one in-memory array) against ``mapped``
(batches read from the memory-mapped jet images), at several multiples of the default sample.

Run: .venv/bin/python benchmarks/training_batches.py [--run .] [--config config/config.yaml]
         [--scales 1 10] [--epochs 3] [--model cnn] [--sources memory mapped]
         [--scratch /tmp/phenoflow-batches] [--keep]

The rows are REPLICATED, not generated: for scale N, the feature table and images.npy of a
finished run (``<run>/results/features/``) are repeated N times (the table's weights divided by
N; images.npy written chunk by chunk into the scratch directory) and split anew with the
config's split and seed. The images are those of the default sample N times over, so the AUCs
say nothing about more statistics; the memory and the time are those of N times the rows.

Per scale and source, each in a fresh Python process:
- train: workflow/scripts/train.py for fold 0 of classifier instance --model (its rule's params,
  2 threads) through benchmarks/scale.py's stand-in for the ``snakemake`` object, with
  ``epochs`` = ``patience`` = --epochs so that both sources train the same epochs (--epochs 0:
  the config's own, early stopping included); time per epoch = the training time of
  training.json / its epochs.
- score: every scored row (``load_scored_arrays``, as rule evaluate) predicted by that model;
  the AUC is fold 0's test rows' (signed physical weights).
Peak memory is the process's ru_maxrss (which starts at the peak of the process that starts it,
so the replication runs in a process of its own); "imports" is that of a process that only
imports TensorFlow and the models (the floor of every job). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from scale import jobs, measure, read_config, run_options  # noqa: E402

SOURCES = ("memory", "mapped")
#: Image rows copied per step while replicating images.npy.
COPY_ROWS = 20_000


def replicate(run: Path, dest: Path, scale: int, config: dict) -> int:
    """The feature table, images and a new split of ``run``'s results repeated ``scale`` times in
    ``dest/features``; the number of rows."""
    import pandas as pd

    from phenoflow.features.splits import split_scheme, split_sets
    from phenoflow.io import write_json
    from phenoflow.seeds import derive_seed

    source = run / "results" / "features"
    table = pd.read_parquet(source / "features.parquet")
    images = np.load(source / "images.npy", mmap_mode="r")
    if len(images) != len(table):
        raise ValueError(f"{source}: {len(images)} images for {len(table)} feature rows (not one finished run?)")
    out = dest / "features"
    out.mkdir(parents=True, exist_ok=True)
    big = pd.concat([table] * scale, ignore_index=True)
    big["weight"] /= scale
    big.to_parquet(out / "features.parquet", index=False)
    target = np.lib.format.open_memmap(out / "images.npy", "w+", images.dtype, (scale * len(images), *images.shape[1:]))
    for copy in range(scale):
        for start in range(0, len(images), COPY_ROWS):
            stop = min(start + COPY_ROWS, len(images))
            target[copy * len(images) + start : copy * len(images) + stop] = images[start:stop]
    target.flush()
    del target
    seed = derive_seed(config["seed"], "split")
    sets = split_sets(big["process"].to_numpy(), config["split"], seed)
    write_json(out / "split.json", {"seed": seed, **split_scheme(config["split"]), "sets": sets})
    return len(big)


def train_job(config: dict, d: Path, name: str, batches: str, epochs: int) -> dict:
    """The job of rule train_<name> for fold 0 with ``batches``, on the data in ``d/features``
    and its outputs under ``d`` (benchmarks/scale.py's job, as its ``measure`` runs it)."""
    config = {**config, "training_batches": batches, "classifiers": dict(config["classifiers"])}
    if epochs:
        config["classifiers"][name] = {**config["classifiers"][name], "epochs": epochs, "patience": epochs}
    return next(job for stage, job in jobs(config, d, [], [name], train=True) if stage == f"train_{name}")


def score_child(spec_file: str) -> None:
    """Predict every scored row with the trained model; print time, peak memory and fold 0's AUC."""
    from phenoflow.evaluation.metrics import weighted_auc
    from phenoflow.evaluation.scores import signal_score
    from phenoflow.features.classes import classes_from_config
    from phenoflow.features.datasets import load_scored_arrays
    from phenoflow.models import load_model

    spec = json.loads(Path(spec_file).read_text())
    start = time.perf_counter()
    data = spec["input"]
    scored = load_scored_arrays(data["features"], data["split"], spec["features"], data.get("images"), spec["batches"])
    model = load_model(spec["method"], spec["model"])
    proba = model.predict_proba(scored.inputs)
    seconds = time.perf_counter() - start
    score = signal_score(proba, classes_from_config(spec["processes"]).signal_indices)
    test = scored.fold == 0
    auc = weighted_auc(score[test], scored.w[test], scored.y[test])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "auc": auc}))


def imports_child() -> None:
    """Import what a training job imports; print the peak memory."""
    import phenoflow.features.datasets  # noqa: F401
    import phenoflow.models.cnn  # noqa: F401

    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child(*args: str) -> dict:
    """Run this file with ``args`` in a fresh process; the JSON it prints last."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--score", help=argparse.SUPPRESS)
    parser.add_argument("--imports", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--replicate", nargs=2, help=argparse.SUPPRESS)
    run_options(parser, [1, 10], Path("/tmp/phenoflow-batches"))
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every training (0: the config's own)")
    parser.add_argument("--model", default="cnn", help="the classifier instance to train (a network)")
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES), help="the batch sources to run")
    args = parser.parse_args()
    if args.score:
        return score_child(args.score)
    if args.imports:
        return imports_child()
    if args.replicate:  # in a child: a process inherits the peak memory of the one that starts it
        d, scale = args.replicate
        return print(json.dumps({"rows": replicate(args.run, Path(d), int(scale), read_config(args.config))}))
    sys.path.insert(0, str(REPO / "src"))
    config = read_config(args.config)
    floor = child("--imports")["peak_mb"]
    print(f"run {args.run}: its feature table and images REPLICATED N times, not new events")
    print(f"peak memory of a process that only imports TensorFlow and the models: {floor:.0f} MB")
    epochs = f"{args.epochs} epochs each" if args.epochs else "the config's epochs and early stopping"
    print(f"classifier instance {args.model}, fold 0, {epochs}; peak = ru_maxrss of the job's process\n")
    header = f"{'scale':>5} {'rows':>9} {'images MB':>9} {'source':>7} | {'train s':>7} {'s/epoch':>7} {'epochs':>6}"
    print(header + f" {'peak MB':>7} | {'score s':>7} {'peak MB':>7} {'AUC':>6}")
    for scale in args.scales:
        d = args.scratch / f"x{scale}"
        shutil.rmtree(d, ignore_errors=True)
        rows = child("--replicate", str(d), str(scale), "--run", str(args.run), "--config", str(args.config))["rows"]
        image_mb = (d / "features" / "images.npy").stat().st_size / 2**20
        for batches in args.sources:
            (d / batches).mkdir(parents=True, exist_ok=True)
            (d / batches / "features").symlink_to(d / "features")
            job = train_job(config, d / batches, args.model, batches, args.epochs)
            trained = measure(job, d / batches / "train.json")
            record = json.loads(Path(job["output"]["training"]).read_text())
            n_epochs = sum(1 for _ in open(job["output"]["history"])) - 1
            spec = {"input": job["input"], "features": job["params"]["features"], "batches": batches,
                    "method": job["params"]["method"], "model": job["output"]["model"], "processes": config["processes"]}  # fmt: skip
            (d / batches / "score.json").write_text(json.dumps(spec))
            scored = child("--score", str(d / batches / "score.json"))
            print(
                f"{scale:>4}x {rows:>9,} {image_mb:>9.0f} {batches:>7} | {record['training_time_s']:>7.1f} "
                f"{record['training_time_s'] / n_epochs:>7.2f} {n_epochs:>6} {trained['peak_mb']:>7.0f} | "
                f"{scored['seconds']:>7.1f} {scored['peak_mb']:>7.0f} {scored['auc']:>6.3f}",
                flush=True,
            )
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
