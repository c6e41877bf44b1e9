"""Bootstrap errors of the classifier metrics: their size on real scores, and their cost.

Run: ``.venv/bin/python benchmarks/bootstrap.py [--replicas 200] [--events 7000]``

1. On the saved test-split scores of the default analysis (``tests/data/binning_scores/
   default_55k_{bdt,mlp,cnn}.parquet``: one run, the same 1 994 events for the three), per
   classifier: the AUC, the AUC against each background process alone and Z_max (plain Asimov and
   the default config's Cowan Z with 10 % and the MC statistics), each with its bootstrap standard
   error, and every pair's AUC difference with the error of the paired difference beside the
   unpaired one (the errors added in quadrature).
2. The cost of the evaluate job's bootstrap at the size of a k-fold run's scored events: the BDT's
   table resampled to ``--events`` events (per process in proportion, weights scaled to keep each
   yield), ``--replicas`` replicas, with the plain and the configured Z; best of three.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
from timing import best_time

from phenoflow.evaluation.bootstrap import Bootstrap, paired_difference, replica_metrics
from phenoflow.evaluation.metrics import max_significance, weighted_auc
from phenoflow.evaluation.scores import per_background
from phenoflow.significance import ASIMOV, Significance

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "binning_scores"
MODELS = ("bdt", "mlp", "cnn")
#: The default config's significance block and evaluation.min_background.
DEFAULT = Significance(0.1, True)
MIN_BACKGROUND = 1.0


def load(model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(scores, weights, labels, processes) of a saved score table, in float64."""
    table = pd.read_parquet(DATA / f"default_55k_{model}.parquet")
    return (
        table["score"].to_numpy(np.float64),
        table["weight"].to_numpy(np.float64),
        table["label"].to_numpy(np.int64),
        table["process"].astype(str).to_numpy(),
    )


def errors_on_real_scores(bootstrap: Bootstrap) -> None:
    print(f"default analysis, 55 000-event run, test split (1 994 events), {bootstrap.n_replicas} replicas")
    replicas, aucs = {}, {}
    for model in MODELS:
        scores, weights, labels, processes = load(model)
        r = replica_metrics(scores, weights, labels, processes, MIN_BACKGROUND, bootstrap, DEFAULT)
        errors = r.errors()
        aucs[model] = weighted_auc(scores, weights, labels)
        alone = per_background(scores, weights, labels, processes)
        z_a = max_significance(scores, weights, labels, MIN_BACKGROUND).significance
        z = max_significance(scores, weights, labels, MIN_BACKGROUND, DEFAULT).significance
        per = ", ".join(f"vs {p} {v['auc']:.4f} ± {errors['auc_per_background'][p]:.4f}" for p, v in alone.items())
        print(
            f"  {model}: AUC {aucs[model]:.4f} ± {errors['auc']:.4f} ({per}); Z_max Asimov {z_a:.2f} ± "
            f"{errors['z_max_asimov']:.2f}, Cowan (10 % + MC stat.) {z:.3f} ± {errors['z_max']:.3f}"
        )
        replicas[model] = r
    print("  AUC differences a - b: paired error (unpaired, in quadrature)")
    for i, a in enumerate(MODELS):
        for b in MODELS[i + 1 :]:
            paired = paired_difference(replicas[a].auc, replicas[b].auc)
            unpaired = np.hypot(replicas[a].errors()["auc"], replicas[b].errors()["auc"])
            difference = aucs[a] - aucs[b]
            print(
                f"    {a} - {b}: {difference:+.4f} ± {paired:.4f} ({abs(difference) / paired:.1f}σ; unpaired ± {unpaired:.4f})"
            )


def resampled(n_events: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The BDT's events drawn to ``n_events`` in all, each process in proportion, its weights
    scaled so that its yield stays the same."""
    scores, weights, labels, processes = load("bdt")
    rng = np.random.default_rng(seed)
    picked = []
    for process in np.unique(processes):
        mine = np.flatnonzero(processes == process)
        picked.append(rng.choice(mine, round(n_events * len(mine) / len(scores)), replace=True))
    rows = np.concatenate(picked)
    scale = len(rows) / len(scores)
    return scores[rows], weights[rows] / scale, labels[rows], processes[rows]


def cost(n_events: int, bootstrap: Bootstrap) -> None:
    scores, weights, labels, processes = resampled(n_events, seed=1)
    print(f"\ncost: {len(scores)} events x {bootstrap.n_replicas} replicas (load average {os.getloadavg()[0]:.1f})")
    for name, significance in (("Asimov", ASIMOV), ("Cowan, 10 % + MC stat.", DEFAULT)):

        def run(significance=significance):
            return replica_metrics(scores, weights, labels, processes, MIN_BACKGROUND, bootstrap, significance)

        seconds, _ = best_time(run, repeat=3)
        print(f"  {name}: {seconds:.3f} s (AUC, 2 per-background AUCs, Z_max plain and configured)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=200)
    parser.add_argument("--events", type=int, default=7000)
    args = parser.parse_args()
    bootstrap = Bootstrap(args.replicas, 20261206)
    errors_on_real_scores(bootstrap)
    cost(args.events, bootstrap)


if __name__ == "__main__":
    main()
