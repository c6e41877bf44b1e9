"""The inference stage: a likelihood per optimised binning of one classifier's score, and the
table of its expected discovery significance and CLs limits across binning methods and K.

Each chosen row of the binning stage (``binning.json``; 1-D score binnings only, simplex rows
of multi-class classifiers are skipped) gives edges; the scored events (every event with k-fold
training, else the test split) give every process's
yields and sum w^2 in them (:func:`phenoflow.inference.likelihood.binned_samples`), from which a HistFactory
workspace is written and evaluated (:mod:`phenoflow.inference.likelihood`). For comparison the table also
holds the binning's own sqrt(sum Z_A^2) and the same with Cowan's per-bin background uncertainty
(:func:`phenoflow.binning.rule.combined_significance` with the config's ``significance``
block).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from phenoflow.binning.crossfit import row_bins
from phenoflow.binning.rule import combined_significance
from phenoflow.evaluation.metrics import Significance
from phenoflow.inference.likelihood import (
    FitError,
    MCStatistics,
    binned_samples,
    effective_background_events,
    expected_results,
    workspace_spec,
)
from phenoflow.io import atomic_path, write_json

log = logging.getLogger(__name__)

#: Columns of the inference table, in order.
COLUMNS = ["method", "n_bins_requested", "n_bins", "z_asimov", "z_cowan", "z_discovery",
           "limit_minus2", "limit_minus1", "limit_median", "limit_plus1", "limit_plus2", "notes"]  # fmt: skip


def select_rows(rows: Sequence[Mapping], methods: Sequence[str], n_bins: Sequence[int]) -> tuple[list[Mapping], int]:
    """The 1-D score rows of ``binning.json`` for the chosen methods and K (in that order), and
    how many simplex rows were left out. A chosen (method, K) without a row is an error."""
    score = {(r["method"], r["n_bins_requested"]): r for r in rows if r.get("space", "score") == "score"}
    missing = [f"{m}, K = {k}" for m in methods for k in n_bins if (m, k) not in score]
    if missing:
        raise ValueError(f"binning.json has no score binning for {', '.join(missing)}")
    return [score[(m, k)] for m in methods for k in n_bins], sum(r.get("space") == "simplex" for r in rows)


def run_inference(
    scores: pd.DataFrame,
    rows: Sequence[Mapping],
    workspace_path: Callable[[str, int], str | os.PathLike],
    *,
    luminosity_uncertainty: float,
    normalisation: Mapping[str, float],
    mc_statistics: MCStatistics,
    cl: float,
    significance: Mapping,
) -> pd.DataFrame:
    """Write a workspace for each binning row to ``workspace_path(method, K)`` and return the
    table (:data:`COLUMNS`). ``scores``: the evaluation's test table (score, weight at the full
    luminosity, label, process); ``significance``: the config block with
    ``relative_background_uncertainty`` and ``mc_statistics`` for the Cowan column. The notes
    name the bins whose MC statistics got Poisson terms."""
    w, y = (scores[c].to_numpy() for c in ("weight", "label"))
    processes = scores["process"].astype(str).to_numpy()
    table = []
    for row in rows:
        method, k = row["method"], row["n_bins_requested"]
        n_bins = len(row["fold_edges"][0] if "fold_edges" in row else row["edges"]) - 1
        samples, notes = binned_samples(row_bins(row, scores), n_bins, w, processes, y)
        try:
            spec = workspace_spec(
                samples,
                luminosity_uncertainty=luminosity_uncertainty,
                normalisation=normalisation,
                mc_statistics=mc_statistics,
            )
        except ValueError as err:
            raise ValueError(f"binning {method}, K = {k}: {err}") from err
        poisson = np.flatnonzero(effective_background_events(samples) < mc_statistics.poisson_below)
        if mc_statistics.enabled and poisson.size:
            notes.append(
                f"MC statistics: Poisson terms (shapesys) in bins {poisson.tolist()}, "
                f"below {mc_statistics.poisson_below:g} effective background MC events"
            )
        write_json(workspace_path(method, k), spec)
        try:
            results = expected_results(spec, cl).as_dict()
        except FitError as err:
            log.warning("%s, K = %d: no expected results: %s", method, k, err)
            results, notes = {key: np.nan for key in COLUMNS[5:-1]}, [*notes, f"no expected results: {err}"]
        s = np.sum([p.yields for p in samples if p.signal], axis=0)
        b = np.sum([p.yields for p in samples if not p.signal], axis=0)
        sumw2 = np.sum([p.sumw2 for p in samples if not p.signal], axis=0)
        table.append({
            "method": method, "n_bins_requested": k, "n_bins": len(b),
            "z_asimov": combined_significance(s, b),
            "z_cowan": combined_significance(s, b, sumw2, Significance.from_config(significance)),
            **{key: results[key] for key in COLUMNS[5:-1]},
            "notes": "; ".join(notes),
        })  # fmt: skip
        log.info(
            "%s, K = %d: Z = %.3f, median limit mu < %.4g", method, k, results["z_discovery"], results["limit_median"]
        )
    return pd.DataFrame(table, columns=COLUMNS)


def write_table(
    table: pd.DataFrame, csv_path: str | os.PathLike, markdown_path: str | os.PathLike, *, cl: float, n_skipped: int
) -> None:
    """The table as CSV and as a markdown table (4 significant digits) with a note on what the
    columns are and on skipped simplex binnings, each written atomically."""
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    shown = table.drop(columns="notes").copy()
    band = shown["limit_median"].map(lambda v: f"{v:.4g}")
    shown["limit_median"] = (
        band
        + " ["
        + shown["limit_minus1"].map(lambda v: f"{v:.3g}")
        + ", "
        + shown["limit_plus1"].map(lambda v: f"{v:.3g}")
        + "]"
    )
    shown["limit_median"] += (
        " ["
        + shown["limit_minus2"].map(lambda v: f"{v:.3g}")
        + ", "
        + shown["limit_plus2"].map(lambda v: f"{v:.3g}")
        + "]"
    )
    shown = shown.drop(columns=["limit_minus2", "limit_minus1", "limit_plus1", "limit_plus2"])
    for column in ("z_asimov", "z_cowan", "z_discovery"):
        shown[column] = shown[column].map(lambda v: f"{v:.4g}")
    shown.columns = [
        "method",
        "K",
        "bins kept",
        "Z_A (binning)",
        "Z (Cowan)",
        "Z (likelihood)",
        f"{100 * cl:g} % CL limit on mu [±1σ] [±2σ]",
    ]
    text = shown.to_markdown(index=False, disable_numparse=True) + "\n"
    text += "\nExpected (Asimov) results of the HistFactory likelihood of each binning (pyhf).\n"
    if n_skipped:
        text += (
            f"{n_skipped} multi-class (simplex) binnings are not included: only 1-D score binnings get a likelihood.\n"
        )
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
