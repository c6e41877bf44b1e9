"""The headline table: one row per classifier instance with its best result at every stage.

Per classifier: the ROC AUC and the best threshold's significance from its metrics.json, also
with each fold's threshold chosen on the other folds (``z_max_independent``, configured Z)
(``z_max_asimov`` the plain Asimov Z_A, ``z_max`` the configured significance, Cowan's Z with the
background uncertainty of the ``significance`` block, equal to Z_A without one), each with its
bootstrap standard error (``*_err``; events resampled per process); the best binned
significance of the binning stage (its method, space and requested K); the smallest expected
median upper limit on the signal strength mu of the inference stage (its method and K), and
whether that result is limited by the MC sample (``mc_limited``, with the inference table's
``mc_events_needed``: which process needs how many more generated events). A stage
that does not apply to a classifier (a cut-and-count's pass/fail score is not binned; inference
may be limited to some classifiers) or gives no finite value (failed fits) leaves its columns
empty (NaN); so does a cut-and-count's AUC (its pass/fail score has one working point, not a ROC
curve).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import pandas as pd

from phenoflow.defaults import default
from phenoflow.io import atomic_path

COLUMNS = ["classifier", "auc", "auc_err", "z_max_asimov", "z_max_asimov_err", "z_max", "z_max_err", "z_max_independent",
           "z_binned", "z_binned_method", "z_binned_k", "limit_median", "limit_method", "limit_k", "mc_limited",
           "mc_events_needed"]  # fmt: skip

#: Columns shown in the Markdown as "value ± error" (the error column beside each).
_WITH_ERRORS = ("auc", "z_max_asimov", "z_max")

_HEADERS = {
    "classifier": "Classifier",
    "auc": "AUC",
    "z_max_asimov": "Z_max (Asimov)",
    "z_max": "Z_max",
    "z_max_independent": "Z_max, threshold from other folds",
    "z_binned": "best binned Z",
    "z_binned_method": "its binning",
    "z_binned_k": "its K",
    "limit_median": "best median limit on μ",
    "limit_method": "binning of the limit",
    "limit_k": "K of the limit",
    "mc_limited": "limited by the MC?",
}


def _best(table: pd.DataFrame | None, column: str, *, largest: bool) -> pd.Series | None:
    """The row of ``table`` with the largest (or smallest) finite ``column``; None if none."""
    if table is None or table.empty:
        return None
    values = pd.to_numeric(table[column], errors="coerce")
    values = values[values.map(math.isfinite)]
    if values.empty:
        return None
    return table.loc[values.idxmax() if largest else values.idxmin()]


def headline_row(
    name: str, metrics: Mapping, binning: pd.DataFrame | None = None, inference: pd.DataFrame | None = None
) -> dict:
    """One classifier's row (:data:`COLUMNS`). ``metrics``: its metrics.json; ``binning``: its
    binning table (space, method, n_bins_requested, significance) or None if not binned;
    ``inference``: its inference table (method, n_bins_requested, limit_median, and mc_limited,
    mc_events_needed where it has them) or None."""
    plain = metrics["max_significance"]["significance"]
    errors = metrics.get("bootstrap", {})
    row = {
        "classifier": name,
        "auc": metrics["auc"],
        "auc_err": errors.get("auc"),
        "z_max_asimov": plain,
        "z_max_asimov_err": errors.get("z_max_asimov"),
        "z_max": metrics.get("max_significance_with_uncertainty", metrics["max_significance"])["significance"],
        "z_max_err": errors.get("z_max"),
        "z_max_independent": metrics.get("max_significance_with_uncertainty_independent", {}).get("significance"),
    }
    binned = _best(binning, "significance", largest=True)
    if binned is not None:
        space = binned.get("space", "score")
        method = binned["method"] if space == "score" else f"{binned['method']} ({space})"
        row.update(z_binned=binned["significance"], z_binned_method=method, z_binned_k=binned["n_bins_requested"])
    limit = _best(inference, "limit_median", largest=False)
    if limit is not None:
        row.update(limit_median=limit["limit_median"], limit_method=limit["method"], limit_k=limit["n_bins_requested"])
        if not pd.isna(limit.get("mc_limited")):
            needed = limit.get("mc_events_needed")
            row.update(mc_limited=bool(limit["mc_limited"]), mc_events_needed=needed if isinstance(needed, str) else "")
    return row


def headline_table(
    metrics: Mapping[str, Mapping],
    binning: Mapping[str, pd.DataFrame] | None = None,
    inference: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per classifier of ``metrics`` (name -> metrics.json), in that order, with its best
    binning and limit where ``binning`` / ``inference`` (name -> table) hold it; K columns are
    nullable integers, missing values NaN."""
    binning, inference = binning or {}, inference or {}
    unknown = (set(binning) | set(inference)) - set(metrics)
    if unknown:
        raise ValueError(f"binning or inference tables of classifiers without metrics: {sorted(unknown)}")
    rows = [headline_row(name, m, binning.get(name), inference.get(name)) for name, m in metrics.items()]
    table = pd.DataFrame(rows, columns=COLUMNS)
    errors = [f"{c}_err" for c in _WITH_ERRORS]
    for column in (*_WITH_ERRORS, *errors, "z_max_independent", "z_binned", "limit_median"):
        table[column] = pd.to_numeric(table[column]).astype("float64")
    for column in ("z_binned_k", "limit_k"):
        table[column] = pd.to_numeric(table[column]).astype("Int64")
    table["mc_limited"] = table["mc_limited"].astype("boolean")
    return table


def write_headline(
    table: pd.DataFrame,
    csv_path: str | os.PathLike,
    markdown_path: str | os.PathLike,
    *,
    cl: float,
    mc_limited_below: float = default("inference.mc_limited_below"),
) -> None:
    """The table as CSV (full precision, empty where missing) and as Markdown for reading (AUC to 4
    decimals, Z to 2, each ``± error`` where it has one, limits to 3 significant digits, ``—`` where
    a stage does not apply; for an MC-limited limit "yes" and the events needed), each written
    atomically; ``cl`` is the limits' confidence level and ``mc_limited_below`` the inference's
    threshold of an MC-limited result, both named in the Markdown's note."""
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    formats = {
        "auc": "{:.4f}",
        "z_max_asimov": "{:.2f}",
        "z_max": "{:.2f}",
        "z_max_independent": "{:.2f}",
        "z_binned": "{:.2f}",
        "limit_median": "{:.3g}",
    }
    shown = table.astype(object).copy()
    for column in COLUMNS:
        fmt = formats.get(column, "{}")
        shown[column] = [("—" if pd.isna(v) else fmt.format(v)) for v in table[column]]
    for column in _WITH_ERRORS:
        fmt = formats[column]
        errors = [
            ("" if pd.isna(e) or pd.isna(v) else f" ± {fmt.format(e)}")
            for v, e in zip(table[column], table[f"{column}_err"])
        ]
        shown[column] = [text + error for text, error in zip(shown[column], errors)]
    shown["mc_limited"] = [
        "—" if pd.isna(flag) else (f"yes: {needed}" if flag else "no")
        for flag, needed in zip(table["mc_limited"], table["mc_events_needed"])
    ]
    shown = shown[[c for c in COLUMNS if not c.endswith("_err") and c != "mc_events_needed"]]
    shown.columns = [_HEADERS[c] for c in shown.columns]
    text = shown.to_markdown(index=False, disable_numparse=True) + "\n"
    text += (
        "\nPer classifier on the scored events (with k-fold training every event, scored by the fold model"
        " that never saw it) at the full luminosity, ± bootstrap standard errors (the events resampled with"
        " replacement within each process): Z_max is the best score threshold's"
        " significance as configured (Cowan's Z with the background uncertainty of the `significance`"
        " block; the plain Asimov Z_A without one) on the events that chose the threshold, the same with"
        " each fold's threshold chosen on the other folds (independent events), the best binned Z the"
        " largest combined significance over the binning methods and K (with `binning.crossfit`, each"
        " fold binned by edges chosen on the other folds), and the limit the smallest expected median"
        f" {100 * cl:g} % CL CLs upper limit on the signal strength μ over the inference's binnings."
        " Limited by the MC: with the MC statistical uncertainty that limit's likelihood gives a Z or a"
        f" median limit worse than {mc_limited_below:g} of the same without it (Z with / Z without or limit"
        " without / limit with below it), so the number of simulated events, not the physics, decides the"
        " result; then it says how many times more generated events of which process (its Σw² divided by"
        " that factor, the binning held fixed) would bring both ratios to the threshold. The Z columns here"
        " do not carry the likelihood's uncertainties: see the inference table's note."
        " — : the stage does not apply (a cut-and-count is not binned, and its pass/fail score has one"
        " working point, not a ROC curve, so no AUC), was not run for it, or gave no finite result (failed"
        " fits: see the inference table's notes).\n"
    )
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
