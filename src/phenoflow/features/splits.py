"""Which events train, validate and test each model, and how their weights scale.

The split of the feature rows (k folds or one fixed train/val/test split, seeded and stratified
by process), the scaling of a subset's weights to the full luminosity, and the groups over
which a choice made on scored events is cross-fitted. Numpy and pandas only, so that Snakemake
and every job's environment can import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from phenoflow.io import read_json

SPLITS = ("train", "val", "test")


def split_indices(processes: np.ndarray, fractions: Mapping[str, float], seed: int) -> dict[str, np.ndarray]:
    """Seeded split of row indices into train/val/test, stratified by process.

    Each process is shuffled with its own generator (seeded from ``seed`` and its position in
    sorted order) and cut by ``fractions`` (train, val, test; summing to 1).
    """
    total = sum(fractions[s] for s in SPLITS)
    if not np.isclose(total, 1.0):
        raise ValueError(f"split fractions must sum to 1, got {total}")
    out: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for rows in _shuffled_by_process(processes, seed):
        n_train = int(round(fractions["train"] * len(rows)))
        n_val = int(round(fractions["val"] * len(rows)))
        for split, part in zip(SPLITS, np.split(rows, [n_train, n_train + n_val])):
            out[split].append(part)
    return {s: np.sort(np.concatenate(parts)) for s, parts in out.items()}


def kfold_indices(processes: np.ndarray, n_folds: int, val_fraction: float, seed: int) -> list[dict[str, np.ndarray]]:
    """Seeded k-fold split of row indices, stratified by process: one train/val/test set per fold.

    Each process's rows are shuffled (as in :func:`split_indices`) and dealt to the ``n_folds``
    folds in turn, so fold sizes per process differ by at most one. Set i tests on fold i and
    trains on the others, of which a seeded ``val_fraction`` of each process (at least one row
    where a process has two or more) is held out for early stopping. The test sets partition
    the rows: every row is tested by exactly one set, whose training rows exclude it.
    """
    if n_folds < 2:
        raise ValueError(f"k-fold needs at least 2 folds, got {n_folds}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    shuffled = _shuffled_by_process(processes, seed)
    folds = [np.concatenate([rows[i::n_folds] for rows in shuffled]) for i in range(n_folds)]
    sets = []
    for i in range(n_folds):
        train, val = [], []
        for k, rows in enumerate(shuffled):
            rest = np.concatenate([rows[j::n_folds] for j in range(n_folds) if j != i])
            rest = rest[np.random.default_rng([seed, k, i, 1]).permutation(len(rest))]
            n_val = min(max(int(round(val_fraction * len(rest))), 1 if len(rest) > 1 else 0), len(rest) - 1)
            val.append(rest[:n_val])
            train.append(rest[n_val:])
        sets.append(
            {"train": np.sort(np.concatenate(train)), "val": np.sort(np.concatenate(val)), "test": np.sort(folds[i])}
        )
    return sets


def _shuffled_by_process(processes: np.ndarray, seed: int) -> list[np.ndarray]:
    """Row indices of each process (in sorted order of the names), shuffled by a generator seeded
    from ``seed`` and the process's position."""
    processes = np.asarray(processes)
    out = []
    for k, name in enumerate(sorted(set(processes))):
        rows = np.flatnonzero(processes == name)
        out.append(rows[np.random.default_rng([seed, k]).permutation(len(rows))])
    return out


def split_sets(processes: np.ndarray, spec: Mapping, seed: int) -> list[dict[str, np.ndarray]]:
    """The train/val/test sets of the config's ``split`` block: k-fold (``folds``, ``val_fraction``;
    :func:`kfold_indices`) or one fixed split (``fractions``; :func:`split_indices`)."""
    if "folds" in spec:
        return kfold_indices(processes, spec["folds"], spec["val_fraction"], seed)
    return [split_indices(processes, spec["fractions"], seed)]


def split_scheme(spec: Mapping) -> dict:
    """The config's ``split`` block as recorded with the split and the models: ``scheme``
    (``kfold`` or ``fixed``) and its settings."""
    if "folds" in spec:
        return {"scheme": "kfold", "folds": int(spec["folds"]), "val_fraction": float(spec["val_fraction"])}
    return {"scheme": "fixed", "fractions": dict(spec["fractions"])}


def n_folds(spec: Mapping) -> int:
    """Number of train/val/test sets, so of models per classifier instance, of a ``split`` block."""
    return int(spec.get("folds", 1))


def read_split_sets(path: str | os.PathLike) -> list[dict[str, np.ndarray]]:
    """The train/val/test row indices of every fold from a split file (rule split)."""
    document = read_json(path)
    if "sets" not in document:
        raise ValueError(f"{path}: no train/val/test sets (a split file of an older phenoflow); rerun the split rule")
    return [{s: np.asarray(part[s], dtype=np.int64) for s in SPLITS} for part in document["sets"]]


def full_luminosity_weights(table: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Physical weights of ``rows`` scaled so each process's yield equals its yield in the whole
    table: their ``weight`` times :func:`full_luminosity_scale`, shape (len(rows),)."""
    return table["weight"].to_numpy()[rows] * full_luminosity_scale(table, rows)


def full_luminosity_scale(table: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """The factor (len(rows),) that scales the physical weights of ``rows`` so each process's yield
    equals its yield in the whole table (1 where ``rows`` are all of the process's rows).

    This turns yields on one split into expected yields at the full luminosity. Weights are
    signed (NLO generators): each process's scale is its signed total over its signed sum in
    ``rows``, which must be a positive number; a split whose negative weights outweigh (or
    equal) the positive ones of a process is an error naming the process (more events needed).
    A process without rows in ``rows`` has nothing to scale (a fold's training set may lack a
    process of two or three selected events); where that loses a yield the caller refuses it.
    """
    sub = table.iloc[rows]
    part = sub.groupby("process", observed=True)["weight"].sum()
    total = table.groupby("process", observed=True)["weight"].sum().reindex(part.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = total / part
    bad = ratio[~(np.isfinite(ratio) & (ratio > 0))]
    if len(bad):
        detail = ", ".join(f"{p}: {part[p]:.4g} of {total[p]:.4g} expected events" for p in bad.index)
        raise ValueError(
            f"the signed weights of a split sum to a yield of the wrong sign or zero ({detail}); "
            "generate more events of these processes"
        )
    return ratio.reindex(sub["process"]).to_numpy()


def crossfit_groups(fold: np.ndarray, row: np.ndarray) -> np.ndarray:
    """The groups (n,) over which a choice made on scored events is cross-fitted: the folds of a
    k-fold split, or with one fixed split (a single fold) the even and odd rows of the feature
    table, as LHC analyses split by event number. Rows of one process are in generation order,
    so either way every group is a random, process-stratified share of the events."""
    fold = np.asarray(fold)
    return fold.copy() if len(np.unique(fold)) > 1 else np.asarray(row) % 2


def group_complement_weights(process: np.ndarray, weight: np.ndarray, groups: np.ndarray, group: int) -> np.ndarray:
    """Weights (n,) of the events outside ``group`` scaled so each process keeps its yield in all
    events (those of ``group`` get 0): the choosing events of a cross-fitted choice at the full
    luminosity."""
    frame = pd.DataFrame({"process": np.asarray(process).astype(str), "weight": weight})
    rows = np.flatnonzero(np.asarray(groups) != group)
    out = np.zeros(len(frame))
    out[rows] = full_luminosity_weights(frame, rows)
    return out
