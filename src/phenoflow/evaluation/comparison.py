"""The table comparing classifiers: one row per method, written as CSV and as Markdown.

``z_max`` is the best threshold's significance as configured (``significance`` block: Cowan's Z
with the background uncertainty it names, or the plain Asimov Z without one), ``z_max_asimov``
the plain Asimov Z_A of its own best threshold, and ``s_over_sqrt_b`` is taken at that Z_A
threshold; with no background uncertainty configured the two Z columns are equal. With k-fold
training, ``auc_fold_std`` and ``z_max_fold_std`` are the standard deviations of the AUC and of
``z_max`` over the folds, each fold's test events alone scaled to the full luminosity (missing
for one fixed split); the pooled figures' own errors are about these over sqrt(k).

The CSV keeps full precision (``inf`` for an unbounded rejection, empty for a missing value);
the Markdown is for reading: AUC and accuracy to 4 decimals, significances to 2, rejections,
times to 3 significant digits, ``∞`` for an infinite and ``—`` for a missing value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import pandas as pd

from phenoflow.evaluation.metrics import ASIMOV, Significance
from phenoflow.io import atomic_path

COLUMNS = (
    "method", "accuracy", "auc", "auc_fold_std", "z_max", "z_max_fold_std", "z_max_asimov", "s_over_sqrt_b", "r50",
    "r99", "training_time_s", "n_parameters",
)  # fmt: skip

_HEADERS = {
    "method": "Method",
    "accuracy": "Accuracy",
    "auc": "AUC",
    "auc_fold_std": "AUC spread (σ over folds)",
    "z_max": "Z_max",
    "z_max_fold_std": "Z_max spread (σ over folds)",
    "z_max_asimov": "Z_max (Asimov)",
    "s_over_sqrt_b": "s/√b",
    "r50": "R50",
    "r99": "R99",
    "training_time_s": "Training time [s]",
    "n_parameters": "Parameters",
}


def comparison_row(metrics: dict, training: dict) -> dict:
    """One row of the table from a model's evaluation metrics and its training record (the
    manifest of its fold models: their total training time and one model's parameters)."""
    best = metrics["max_significance"]
    folds = metrics.get("folds", {})
    return {
        "method": metrics["model"],
        "accuracy": metrics["accuracy"],
        "auc": metrics["auc"],
        "auc_fold_std": folds.get("auc_std"),
        "z_max": metrics.get("max_significance_with_uncertainty", best)["significance"],
        "z_max_fold_std": folds.get("z_max_std"),
        "z_max_asimov": best["significance"],
        "s_over_sqrt_b": best["s_over_sqrt_b"],
        "r50": metrics["r50"],
        "r99": metrics["r99"],
        "training_time_s": training["training_time_s"],
        "n_parameters": training["n_parameters"],
    }


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """One row per method, in the order given, with the columns of :data:`COLUMNS`.

    Each dict needs ``method``; any other column may be left out (a cut-and-count has no
    training time, say) and becomes missing. Unknown keys are an error, so that a misspelt
    metric is not silently dropped. ``n_parameters`` is an integer column (nullable), all other
    metric columns are floats.
    """
    for i, row in enumerate(rows):
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"row {i}: unknown columns {sorted(unknown)}; expected some of {list(COLUMNS)}")
        if "method" not in row:
            raise ValueError(f"row {i}: no method name")
    table = pd.DataFrame([{c: row.get(c) for c in COLUMNS} for row in rows], columns=list(COLUMNS))
    table["method"] = table["method"].astype(str)
    for column in COLUMNS[1:-1]:
        table[column] = pd.to_numeric(table[column], errors="raise").astype("float64")
    table["n_parameters"] = pd.to_numeric(table["n_parameters"], errors="raise").astype("Int64")
    return table


def _missing(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _fixed(decimals: int) -> Callable[[float], str]:
    return lambda x: f"{x:.{decimals}f}"


def _significant(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits without an exponent (86.0158 -> 86.0, 1234 -> 1230)."""
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    if not -4 <= magnitude < 9:
        return f"{x:.{digits - 1}e}"
    rounded = round(x, digits - 1 - magnitude)
    # Rounding may carry into the next decade (999.6 -> 1000): recount the decimals.
    magnitude = math.floor(math.log10(abs(rounded)))
    return f"{rounded:.{max(0, digits - 1 - magnitude)}f}"


_FORMATS: dict[str, Callable] = {
    "accuracy": _fixed(4),
    "auc": _fixed(4),
    "auc_fold_std": _fixed(4),
    "z_max_fold_std": _fixed(2),
    "z_max": _fixed(2),
    "z_max_asimov": _fixed(2),
    "s_over_sqrt_b": _fixed(2),
    "r50": _significant,
    "r99": _significant,
    "training_time_s": _significant,
    "n_parameters": lambda x: f"{int(x)}",
}


def format_value(column: str, value) -> str:
    """The Markdown text of one cell: ``∞`` for infinities, ``—`` for missing values."""
    if column == "method":
        return str(value)
    if _missing(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return _FORMATS[column](value)


def _markdown(table: pd.DataFrame, significance: Significance = ASIMOV) -> str:
    headers = dict(_HEADERS)
    if not significance.plain:
        headers["z_max"] = f"Z_max (σ_b: {significance.describe()})"
    cells = pd.DataFrame({headers[c]: [format_value(c, v) for v in table[c]] for c in COLUMNS})
    align = ["left"] + ["right"] * (len(COLUMNS) - 1)
    try:
        import tabulate  # noqa: F401  (pandas' to_markdown needs it)
    except ImportError:
        return _pipe_table(list(cells.columns), cells.values.tolist(), align)
    # disable_numparse keeps the formatted strings exactly (tabulate would reformat "2.00" as "2").
    return cells.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n"


def _pipe_table(headers: list[str], rows: list[list[str]], align: list[str]) -> str:
    """A GitHub-flavoured Markdown pipe table, columns padded to a common width."""
    widths = [max(3, len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = (c.ljust(w) if a == "left" else c.rjust(w) for c, w, a in zip(cells, widths, align))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 2) if a == "left" else "-" * (w + 1) + ":" for w, a in zip(widths, align)) + "|"
    return "\n".join([line(headers), rule, *map(line, rows)]) + "\n"


def write_comparison(
    table: pd.DataFrame,
    csv_path: str | os.PathLike,
    markdown_path: str | os.PathLike,
    significance: Significance = ASIMOV,
) -> None:
    """Write the table as CSV (full precision) and as a Markdown table, each atomically; the
    Markdown's Z_max header names the background uncertainty of ``significance`` (the one the
    metrics were computed with)."""
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(_markdown(table, significance), encoding="utf-8")
