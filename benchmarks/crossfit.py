"""Optimism of every binning method on a finished run: bins chosen and reported on the same events
against bins chosen on other folds (cross-fitted), per classifier and K.

Run from a checkout after a k-fold run (``snakemake``):
``.venv/bin/python benchmarks/crossfit.py [--results results] [--methods optimal quantile] [--n-bins 3 5 10 20]``

For each binned classifier's scored events (results/evaluation/<model>/scores.parquet, every event
scored by the fold model that never saw it) and each method and K, under the config's rule and
significance, it prints: the plain Asimov Z of bins chosen on all events and filled with the same
events (the figure before cross-fitting), the cross-fitted binning's Z on its choosing events
(mean over folds) and on the independent events, and the optimism (choosing / independent).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from phenoflow.binning.crossfit import crossfit_binning, crossfit_row
from phenoflow.binning.methods import MethodOptions, evaluate_binning, registered
from phenoflow.binning.rule import BinRule
from phenoflow.features.splits import crossfit_groups


def _edges(x: np.ndarray, w: np.ndarray, y: np.ndarray, *, method: str, k: int, rule: BinRule) -> np.ndarray:
    return registered(method)(x, w, y, k, rule, MethodOptions()).edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--config", default=None, help="default: <results>/config.yaml (the run's own)")
    parser.add_argument("--methods", nargs="+", default=["equidistant", "quantile", "optimal"])
    parser.add_argument("--n-bins", nargs="+", type=int, default=[3, 5, 10, 20])
    args = parser.parse_args()
    results = Path(args.results)
    config = yaml.safe_load(Path(args.config or results / "config.yaml").read_text())
    rule = BinRule.from_config(config["binning"], config["significance"])
    print(f"load average {os.getloadavg()[0]:.1f}; rule {rule.describe()}; Z_A shown")
    for path in sorted(results.glob("evaluation/*/scores.parquet")):
        scores = pd.read_parquet(path)
        if scores["score"].nunique() <= 2:
            continue  # a pass/fail score is not binned
        x, w, y = (scores[c].to_numpy() for c in ("score", "weight", "label"))
        process = scores["process"].astype(str).to_numpy()
        groups = crossfit_groups(scores["fold"].to_numpy(), scores["row"].to_numpy())
        rows = []
        for method in args.methods:
            for k in args.n_bins:
                start = time.perf_counter()
                same = evaluate_binning(method, x, w, y, k, rule)
                edges_on = functools.partial(_edges, method=method, k=k, rule=rule)
                fit = crossfit_binning(edges_on, x, w, y, process, groups, rule)
                crossed = crossfit_row(method, k, fit, rule.significance)
                rows.append({
                    "method": method, "K": k, "same events": same["z_asimov"],
                    "choosing": crossed["z_asimov_choosing"], "independent": crossed["z_asimov"],
                    "optimism": crossed["optimism"], "seconds": time.perf_counter() - start,
                })  # fmt: skip
        print(f"\n{path.parent.name} ({len(scores)} events, {len(np.unique(groups))} groups)")
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
