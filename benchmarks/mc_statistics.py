"""Effective Monte Carlo statistics of each process in the signal region of a finished run.

Run (after ``snakemake results/evaluation/bdt/scores.parquet``, from the run's directory):
``.venv/bin/python benchmarks/mc_statistics.py [--met 200] [--signal-efficiency 0.5]``

From ``results/features/features.parquet`` and the BDT's scores, this prints per process
the raw number of MC events, the expected yield at the run's luminosity with its MC error
sqrt(sum w^2), and Kish's effective number of events (sum w)^2 / sum w^2, in two regions:

* ``presel + MET``: the run's preselection (``selection.cuts``) and ``met > MET`` GeV (a no-op
  when the preselection already cuts there; it makes a run without the MET cut comparable);
* ``+ BDT``: the scored events (every event with k-fold training, each scored by the fold model
  that never saw it; the test split with one fixed split) whose BDT score is above the threshold
  that keeps ``signal-efficiency`` of their signal in the first region, at the evaluation's
  weights (scaled to the full luminosity for a fixed split's test events).

Kish's number is what the sample is worth: a yield known to sqrt(sum w^2) / sum w = 1 / sqrt(N_eff).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def statistics(frame: pd.DataFrame, weight: np.ndarray) -> pd.DataFrame:
    """Per process: raw events, yield, its MC error and Kish's effective number of events."""
    w = pd.DataFrame({"process": frame["process"].astype(str).to_numpy(), "w": weight, "w2": weight**2})
    out = w.groupby("process").agg(events=("w", "size"), expected=("w", "sum"), sumw2=("w2", "sum"))
    out["mc_error"] = np.sqrt(out.pop("sumw2"))
    out["kish"] = (out["expected"] / out["mc_error"]) ** 2
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="the run's results directory")
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--met", type=float, default=200.0, help="MET cut of the region (GeV)")
    parser.add_argument("--signal-efficiency", type=float, default=0.5)
    args = parser.parse_args()
    config = yaml.safe_load(Path(args.config).read_text())
    results = Path(args.results)
    table = pd.read_parquet(results / "features" / "features.parquet")

    region = table["met"].to_numpy() > args.met
    print(f"presel + MET > {args.met:g} GeV (preselection: {config['selection']['cuts']})")
    print(statistics(table[region], table["weight"].to_numpy()[region]).to_string(float_format="%.4g"))

    scores = pd.read_parquet(results / "evaluation" / "bdt" / "scores.parquet")
    rows = scores["row"].to_numpy()
    sub = table.iloc[rows]
    weight, score = scores["weight"].to_numpy(), scores["score"].to_numpy()
    in_region = region[rows]
    signal = in_region & (sub["label"].to_numpy() == 1)
    # the threshold keeping the requested weighted fraction of the signal in the region
    order = np.argsort(score[signal])[::-1]
    kept = np.cumsum(weight[signal][order]) / weight[signal].sum()
    threshold = score[signal][order][np.searchsorted(kept, args.signal_efficiency)]
    high = in_region & (score >= threshold)
    print(
        f"\n+ BDT score >= {threshold:.4f} (keeps {args.signal_efficiency:.0%} of the signal; scored events, full luminosity)"
    )
    print(statistics(sub[high], weight[high]).to_string(float_format="%.4g"))


if __name__ == "__main__":
    main()
