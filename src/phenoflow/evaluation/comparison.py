"""The table comparing classifiers: one row per method, written as CSV and as Markdown, and the
differences between every two classifiers with paired bootstrap errors.

``z_max`` is the best threshold's significance as configured (``significance`` block: Cowan's Z
with the background uncertainty it names, or the plain Asimov Z without one), ``z_max_asimov``
the plain Asimov Z_A of its own best threshold, and ``s_over_sqrt_b`` is taken at that Z_A
threshold; with no background uncertainty configured the two Z columns are equal. ``*_err`` are
bootstrap standard errors (the events resampled with replacement per process,
:mod:`phenoflow.evaluation.bootstrap`); ``auc_<process>`` is the AUC of the signal against that
background process alone. ``auc_minus_best`` and ``z_max_minus_best`` are each method's
difference to the best one (0 for the best itself), with the standard error of the paired
difference: both are scored on the same events, so one set of replicas serves both and what
they share cancels. ``wp_signal_efficiency`` and ``wp_background_rejection`` are the working
point's eps_S and 1/eps_B: the threshold of ``z_max``, or a cut-and-count's selection. With
k-fold training, ``z_max_independent`` is ``z_max`` with each fold's threshold chosen on the other
folds (:func:`phenoflow.evaluation.scores.independent_threshold`), and ``auc_fold_std`` and ``z_max_fold_std`` are the standard deviations of the AUC
and of ``z_max`` over the folds, each fold's test events alone scaled to the full luminosity
(missing for one fixed split).

A pass/fail score (a cut-and-count) has one working point, not a ROC curve: its AUC, R50 and R99
(and their errors and differences) are missing. No accuracy at score 0.5: weighted by the
yields, it is 1 - S/(S+B) for calling every event background (0.9996 in the default analysis),
above every classifier; the working point's efficiencies say what it would have said.

The CSV keeps full precision (``inf`` for an unbounded rejection, empty for a missing value);
the Markdown is for reading: AUCs to 4 decimals with their errors, significances to 2,
efficiencies, rejections and times to 3 significant digits, ``∞`` for an infinite and ``—`` for
a missing value, the best method marked and the others' differences to it in standard errors,
with a note below the table.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from phenoflow.evaluation.bootstrap import Replicas, paired_difference
from phenoflow.io import atomic_path
from phenoflow.significance import ASIMOV, Significance

#: How far (in standard errors of the paired difference) a method may lie from the best to count
#: as not significantly different from it.
WITHIN = 2.0

#: The columns of a table without per-background AUCs; :func:`columns` inserts those.
COLUMNS = (
    "method", "auc", "auc_err", "auc_minus_best", "auc_minus_best_err", "auc_fold_std", "z_max", "z_max_err",
    "z_max_minus_best", "z_max_minus_best_err", "z_max_fold_std", "z_max_independent", "z_max_asimov", "z_max_asimov_err",
    "s_over_sqrt_b", "wp_signal_efficiency", "wp_background_rejection", "r50", "r99", "training_time_s",
    "n_parameters",
)  # fmt: skip

_HEADERS = {
    "method": "Method",
    "auc": "AUC",
    "auc_minus_best": "AUC − best (paired)",
    "auc_fold_std": "AUC spread (σ over folds)",
    "z_max": "Z_max",
    "z_max_minus_best": "Z_max − best (paired)",
    "z_max_fold_std": "Z_max spread (σ over folds)",
    "z_max_independent": "Z_max, threshold from other folds",
    "z_max_asimov": "Z_max (Asimov)",
    "s_over_sqrt_b": "s/√b",
    "wp_signal_efficiency": "ε_S at Z_max",
    "wp_background_rejection": "1/ε_B at Z_max",
    "r50": "R50",
    "r99": "R99",
    "training_time_s": "Training time [s]",
    "n_parameters": "Parameters",
}


def columns(backgrounds: Sequence[str] = ()) -> tuple[str, ...]:
    """The table's columns: :data:`COLUMNS` with ``auc_<process>`` and its ``_err`` for each of the
    ``backgrounds`` after the AUC's fold spread. A process whose column would be another one
    (a process called ``err``, say) is an error naming it."""
    extra = tuple(c for p in backgrounds for c in (f"auc_{p}", f"auc_{p}_err"))
    clash = sorted(set(extra) & set(COLUMNS))
    if clash or len(set(extra)) != len(extra):
        raise ValueError(
            f"background process names {list(backgrounds)} give ambiguous AUC columns {clash}; rename them"
        )
    at = COLUMNS.index("auc_fold_std") + 1
    return COLUMNS[:at] + extra + COLUMNS[at:]


def comparison_row(metrics: dict, training: dict) -> dict:
    """One row of the table from a model's evaluation metrics (with the standard errors of its
    ``bootstrap`` block and the AUCs of its ``per_background`` block where it has them) and its
    training record (the manifest of its fold models: their total training time and one model's
    parameters). The differences to the best method come from :func:`differences_to_best`."""
    best = metrics["max_significance"]
    folds = metrics.get("folds", {})
    errors = metrics.get("bootstrap", {})
    point = metrics.get("working_point", {})
    row = {
        "method": metrics["model"],
        "auc": metrics["auc"],
        "auc_err": errors.get("auc"),
        "auc_fold_std": folds.get("auc_std"),
        "z_max": metrics.get("max_significance_with_uncertainty", best)["significance"],
        "z_max_err": errors.get("z_max"),
        "z_max_fold_std": folds.get("z_max_std"),
        "z_max_independent": metrics.get("max_significance_with_uncertainty_independent", {}).get("significance"),
        "z_max_asimov": best["significance"],
        "z_max_asimov_err": errors.get("z_max_asimov"),
        "s_over_sqrt_b": best["s_over_sqrt_b"],
        "wp_signal_efficiency": point.get("signal_efficiency"),
        "wp_background_rejection": point.get("background_rejection"),
        "r50": metrics["r50"],
        "r99": metrics["r99"],
        "training_time_s": training["training_time_s"],
        "n_parameters": training["n_parameters"],
    }
    for process, values in metrics.get("per_background", {}).items():
        row[f"auc_{process}"] = values["auc"]
        row[f"auc_{process}_err"] = errors.get("auc_per_background", {}).get(process)
    return row


def comparison_table(rows: list[dict], backgrounds: Sequence[str] = ()) -> pd.DataFrame:
    """One row per method, in the order given, with the columns of :func:`columns` (``backgrounds``:
    the background processes with AUC columns).

    Each dict needs ``method``; any other column may be left out (a cut-and-count has no
    training time, say) and becomes missing. Unknown keys are an error, so that a misspelt
    metric is not silently dropped. ``n_parameters`` is an integer column (nullable), all other
    metric columns are floats.
    """
    names = columns(backgrounds)
    for i, row in enumerate(rows):
        unknown = set(row) - set(names)
        if unknown:
            raise ValueError(f"row {i}: unknown columns {sorted(unknown)}; expected some of {list(names)}")
        if "method" not in row:
            raise ValueError(f"row {i}: no method name")
    table = pd.DataFrame([{c: row.get(c) for c in names} for row in rows], columns=list(names))
    table["method"] = table["method"].astype(str)
    for column in names[1:-1]:
        table[column] = pd.to_numeric(table[column], errors="raise").astype("float64")
    table["n_parameters"] = pd.to_numeric(table["n_parameters"], errors="raise").astype("Int64")
    return table


def paired_events(frames: Mapping[str, pd.DataFrame], paths: Mapping[str, str]) -> tuple[pd.DataFrame, dict]:
    """The events every classifier scored and each one's scores of them, paired by ``row``.

    ``frames``: classifier -> its scores.parquet table (row, process, label, weight, score, ...),
    read from ``paths`` (classifier -> file, named in errors). Returns the events (row, process,
    label, weight; sorted by row) and classifier -> scores (n,) in that order. Classifiers that
    scored other events (rows, or their process, label or weight) are an error naming both files.
    """
    events, scores, first = None, {}, None
    for model, frame in frames.items():
        frame = frame.sort_values("row", kind="stable").reset_index(drop=True)
        mine = frame[["row", "process", "label", "weight"]].astype({"process": str})
        if events is None:
            events, first = mine, model
        elif not (len(mine) == len(events) and all(np.array_equal(mine[c], events[c]) for c in mine.columns)):
            raise ValueError(
                f"{paths[model]}: not the events of {paths[first]} (rows, processes, labels or weights differ); "
                "every classifier must be scored on the same events: rerun rule evaluate"
            )
        scores[model] = frame["score"].to_numpy(np.float64)
    if events is None:
        raise ValueError("no classifier to compare")
    return events, scores


def _best_row(table: pd.DataFrame, metric: str) -> int | None:
    """Position of the row with the largest finite ``metric`` (the first of equals); None if none."""
    values = table[metric].to_numpy(np.float64)
    finite = np.isfinite(values)
    return int(np.flatnonzero(finite)[np.argmax(values[finite])]) if finite.any() else None


def _difference(table: pd.DataFrame, replicas: Mapping[str, Replicas], metric: str, i: int, j: int):
    """(value of row i - value of row j, standard error over their paired replicas); None where either
    has no finite value or no replicas of ``metric``."""
    a, b = (table[metric].iloc[k] for k in (i, j))
    arrays = [replicas[table["method"].iloc[k]].as_arrays().get(metric) for k in (i, j)]
    if not (np.isfinite(a) and np.isfinite(b)) or arrays[0] is None or arrays[1] is None:
        return None
    return float(a - b), paired_difference(*arrays)


def differences_to_best(table: pd.DataFrame, replicas: Mapping[str, Replicas]) -> pd.DataFrame:
    """The table with ``auc_minus_best`` and ``z_max_minus_best`` and their paired standard errors
    filled in: each method's value minus the best (largest) one, 0 with error 0 for the best
    itself, missing where a method has no value (a cut-and-count's AUC). ``replicas``: each
    method's bootstrap replicas, drawn on the same events."""
    out = table.copy()
    for metric in ("auc", "z_max"):
        best = _best_row(table, metric)
        found = [None if best is None else _difference(table, replicas, metric, i, best) for i in range(len(table))]
        out[f"{metric}_minus_best"] = [np.nan if f is None else f[0] for f in found]
        out[f"{metric}_minus_best_err"] = [np.nan if f is None or f[1] is None else f[1] for f in found]
    return out


PAIR_COLUMNS = ("metric", "method_a", "method_b", "a", "b", "difference", "error", "n_sigma", "significant")


def paired_differences(table: pd.DataFrame, replicas: Mapping[str, Replicas]) -> pd.DataFrame:
    """Every two methods' difference a - b in each metric both have (``auc``, each ``auc_<process>``,
    ``z_max``, ``z_max_asimov``), with the standard error of the paired difference over the same
    bootstrap replicas; ``n_sigma`` = difference / error (0 for equal values with error 0, +-inf
    for unequal ones), ``significant`` when abs(n_sigma) > :data:`WITHIN`. Columns :data:`PAIR_COLUMNS`."""
    metrics = ["auc", *(f"auc_{p}" for p in _backgrounds(table))]
    rows = []
    for metric in [*metrics, "z_max", "z_max_asimov"]:
        for i in range(len(table)):
            for j in range(i + 1, len(table)):
                found = _difference(table, replicas, metric, i, j)
                if found is None:
                    continue
                difference, error = found
                n_sigma = _n_sigma(difference, error)
                a, b = table["method"].iloc[i], table["method"].iloc[j]
                values = (table[metric].iloc[i], table[metric].iloc[j])
                rows.append((metric, a, b, *values, difference, error, n_sigma, bool(abs(n_sigma) > WITHIN)))
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS)).astype({"error": "float64", "n_sigma": "float64"})


def _n_sigma(difference: float, error: float | None) -> float:
    """difference / error; 0 for 0 / 0, +-inf for a difference without spread, NaN without an error."""
    if error is None:
        return float("nan")
    if error == 0:
        return 0.0 if difference == 0 else math.copysign(math.inf, difference)
    return difference / error


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
    "auc_fold_std": _fixed(4),
    "z_max_fold_std": _fixed(2),
    "s_over_sqrt_b": _fixed(2),
    "wp_signal_efficiency": _significant,
    "wp_background_rejection": _significant,
    "r50": _significant,
    "r99": _significant,
    "training_time_s": _significant,
    "n_parameters": lambda x: f"{int(x)}",
}


def _format_of(column: str) -> Callable:
    """A column's number format: its own, else 4 decimals for AUCs, 2 for significances."""
    if column in _FORMATS:
        return _FORMATS[column]
    if column.startswith("auc"):
        return _fixed(4)
    if column.startswith("z_max"):
        return _fixed(2)
    raise KeyError(f"no number format for column {column!r}")


def format_value(column: str, value) -> str:
    """The Markdown text of one cell: ``∞`` for infinities, ``—`` for missing values."""
    if column == "method":
        return str(value)
    if _missing(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return _format_of(column)(value)


def _with_error(column: str, value, error) -> str:
    """``value ± error`` in the column's format; the value alone without an error."""
    text = format_value(column, value)
    return text if _missing(value) or _missing(error) else f"{text} ± {format_value(column, error)}"


def _to_best(column: str, difference, error, is_best: bool) -> str:
    """A "− best" cell: ``best``, or the difference with its error and its size in errors."""
    if is_best:
        return "best"
    if _missing(difference):
        return "—"
    if _missing(error):
        return f"{format_value(column, difference)} (no error)"
    n_sigma = _n_sigma(difference, error)
    size = "∞" if math.isinf(n_sigma) else f"{abs(n_sigma):.1f}"
    verdict = f"{size}σ: within {WITHIN:g}σ" if abs(n_sigma) <= WITHIN else f"{size}σ"
    return f"{_with_error(column, difference, error).replace('-', '−')} ({verdict})"


def _backgrounds(table: pd.DataFrame) -> list[str]:
    """The background processes with AUC columns in ``table``."""
    return [
        c[len("auc_") :] for c in table.columns if c.startswith("auc_") and c not in COLUMNS and not c.endswith("_err")
    ]


def _markdown(table: pd.DataFrame, significance: Significance = ASIMOV, n_replicas: int | None = None) -> str:
    headers = dict(_HEADERS)
    if not significance.plain:
        headers["z_max"] = f"Z_max (σ_b: {significance.describe()})"
    backgrounds = _backgrounds(table)
    headers.update({f"auc_{p}": f"AUC vs {p}" for p in backgrounds})
    shown = [c for c in columns(backgrounds) if c in headers]
    best = {metric: _best_row(table, metric) for metric in ("auc", "z_max")}
    cells = {}
    for c in shown:
        if c.endswith("_minus_best"):
            metric = c[: -len("_minus_best")]
            cells[headers[c]] = [
                _to_best(metric, d, e, i == best[metric]) for i, (d, e) in enumerate(zip(table[c], table[f"{c}_err"]))
            ]
        elif f"{c}_err" in table.columns:
            cells[headers[c]] = [_with_error(c, v, e) for v, e in zip(table[c], table[f"{c}_err"])]
        else:
            cells[headers[c]] = [format_value(c, v) for v in table[c]]
    cells = pd.DataFrame(cells)
    align = ["left"] + ["right"] * (len(shown) - 1)
    try:
        import tabulate  # noqa: F401  (pandas' to_markdown needs it)

        # disable_numparse keeps the formatted strings exactly (tabulate would reformat "2.00" as "2").
        text = cells.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n"
    except ImportError:
        text = _pipe_table(list(cells.columns), cells.values.tolist(), align)
    return text + "\n" + _note(n_replicas) + "\n"


def _note(n_replicas: int | None) -> str:
    """What the Markdown table's errors, differences and empty cells mean."""
    replicas = f"{n_replicas} replicas" if n_replicas else "replicas"
    return (
        f"± : bootstrap standard errors ({replicas} of the scored events, resampled with replacement within"
        " each process). − best (paired): the difference to the best method, with the standard error of the"
        " difference over the same replicas (every method is scored on the same events);"
        f" within {WITHIN:g}σ: not significantly different from the best. AUC vs <process>: the signal"
        " against that background process alone. ε_S and 1/ε_B at Z_max: the working point, the score"
        " threshold of Z_max (a cut-and-count: its selection). — for a cut-and-count's AUC, R50 and R99: a"
        " pass/fail score has one working point, not a ROC curve. No accuracy: weighted by the yields it"
        " would rank calling every event background above every classifier."
    )


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
    n_replicas: int | None = None,
) -> None:
    """Write the table as CSV (full precision) and as a Markdown table with a note below it, each
    atomically; the Markdown's Z_max header names the background uncertainty of ``significance``
    (the one the metrics were computed with), its note the number of bootstrap ``n_replicas``."""
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(_markdown(table, significance, n_replicas), encoding="utf-8")


def write_pairs(pairs: pd.DataFrame, csv_path: str | os.PathLike) -> None:
    """Write the table of :func:`paired_differences` as CSV (full precision), atomically."""
    with atomic_path(csv_path) as tmp:
        pairs.to_csv(tmp, index=False)
