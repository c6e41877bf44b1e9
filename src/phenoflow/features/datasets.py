"""Feature tables and the train/validation/test split shared by every model."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import awkward as ak
import numpy as np
import pandas as pd

from phenoflow.events.observables import Substructure, observable
from phenoflow.features.classes import Classes
from phenoflow.io import atomic_path, read_json

#: Columns of a feature table that are not features.
META_COLUMNS = ("process", "label", "class", "weight")
SPLITS = ("train", "val", "test")


def feature_table(
    events: Mapping[str, ak.Array],
    classes: Classes,
    features: Sequence[str],
    fill: float,
    settings: Substructure = Substructure(),
) -> pd.DataFrame:
    """One row per event of every process: process, label, class, physical weight, then the features.

    ``events``: skimmed events per process (with ``weight_phys``); ``classes``: the classes of
    the processes (``label`` is 1 for signal classes, 0 for background; ``class`` the class
    index); ``fill``: the value of a feature whose object is missing; ``settings``: how
    substructure features are computed.
    """
    frames = []
    for process, ev in events.items():
        index = classes.of_process[process]
        columns = {
            "process": process,
            "label": int(classes.is_signal[index]),
            "class": index,
            "weight": ak.to_numpy(ev.weight_phys),
        }
        columns.update({name: observable(ev, name, fill, settings) for name in features})
        frames.append(pd.DataFrame(columns, index=pd.RangeIndex(len(ev))))
    table = pd.concat(frames, ignore_index=True)
    table["process"] = table["process"].astype("category")
    return table


def feature_metadata(
    table: pd.DataFrame,
    features: Sequence[str],
    classes: Sequence[str],
    summaries: Mapping[str, dict],
    config_part: Mapping,
    started: str,
    inputs: Sequence[str | os.PathLike],
) -> dict:
    """The YAML metadata of a feature table: what each column is, the class names (by index), per
    process its role, label, class, cross section (pb) and expected events, the luminosity and
    selection, and the provenance (config part and hash, input hashes, package versions, seed, times)."""
    from phenoflow.provenance import record

    processes = {}
    for name, summary in summaries.items():
        rows = table["process"] == name
        processes[name] = {
            "role": config_part["processes"][name]["role"],
            "label": int(table.loc[rows, "label"].iloc[0]) if rows.any() else None,
            "class": int(table.loc[rows, "class"].iloc[0]) if rows.any() else None,
            "sigma_pb": summary["sigma_pb"],
            "sigma_err_pb": summary["sigma_err_pb"],
            "generated_events": summary["n_events"],
            "selected_events": int(rows.sum()),
            "expected_events": float(table.loc[rows, "weight"].sum()),
        }
    return record(
        config_part,
        started,
        inputs,
        kind="feature table",
        rows=len(table),
        columns={
            "process": "process name",
            "label": "1 signal, 0 background",
            "class": "target class: index into classes",
            "weight": f"physical weight: expected events at {config_part['luminosity_fb']} fb^-1 (sigma L w / sum w)",
            **{name: "feature (observable syntax of config/README.md)" for name in features},
        },
        features=list(features),
        classes=list(classes),
        processes=processes,
        luminosity_fb=config_part["luminosity_fb"],
        selection=list(config_part["selection"]["cuts"]),
        seed=config_part["seed"],
    )


def image_metadata(
    table: pd.DataFrame,
    shape: tuple[int, int, int],
    spec: Mapping,
    config_part: Mapping,
    started: str,
    inputs: Sequence[str | os.PathLike],
) -> dict:
    """The YAML metadata of a jet-image array: its layout, the preprocessing, the rows of each
    process (row i is row i of the feature table, which holds the label and weight), the
    luminosity and selection, and the provenance."""
    from phenoflow.provenance import record

    processes, start = {}, 0
    for name in table["process"].cat.categories if hasattr(table["process"], "cat") else table["process"].unique():
        rows = int((table["process"] == name).sum())
        processes[str(name)] = {"rows": [start, start + rows], "role": config_part["processes"][name]["role"]}
        start += rows
    return record(
        config_part,
        started,
        inputs,
        kind="jet images",
        file="images.npy (numpy, memory-mappable: np.load(path, mmap_mode='r'))",
        shape=list(shape),
        dtype="float32",
        axes=["event (row of features.parquet)", "eta (increasing)", "phi (increasing)"],
        pixel="pT (GeV) of the leading fat jet's EFlow constituents, after the preprocessing",
        preprocessing=dict(spec),
        labels_and_weights="columns label and weight of features.parquet, same rows",
        processes=processes,
        luminosity_fb=config_part["luminosity_fb"],
        selection=list(config_part["selection"]["cuts"]),
        seed=config_part["seed"],
    )


def write_table(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write a table to Parquet atomically."""
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)


def split_indices(processes: np.ndarray, fractions: Mapping[str, float], seed: int) -> dict[str, np.ndarray]:
    """Seeded split of row indices into train/val/test, stratified by process.

    Each process is shuffled with its own generator (seeded from ``seed`` and its position in
    sorted order) and cut by ``fractions`` (train, val, test; summing to 1).
    """
    total = sum(fractions[s] for s in SPLITS)
    if not np.isclose(total, 1.0):
        raise ValueError(f"split fractions must sum to 1, got {total}")
    out: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    processes = np.asarray(processes)
    for k, name in enumerate(sorted(set(processes))):
        rows = np.flatnonzero(processes == name)
        rows = rows[np.random.default_rng([seed, k]).permutation(len(rows))]
        n_train = int(round(fractions["train"] * len(rows)))
        n_val = int(round(fractions["val"] * len(rows)))
        for split, part in zip(SPLITS, np.split(rows, [n_train, n_train + n_val])):
            out[split].append(part)
    return {s: np.sort(np.concatenate(parts)) for s, parts in out.items()}


def full_luminosity_weights(table: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Physical weights of ``rows`` scaled so each process's yield equals its yield in the whole table.

    This turns yields on one split into expected yields at the full luminosity. Weights are
    signed (NLO generators): each process's scale is its signed total over its signed sum in
    ``rows``, which must be a positive number; a split whose negative weights outweigh (or
    equal) the positive ones of a process is an error naming the process (more events needed).
    """
    sub = table.iloc[rows]
    total = table.groupby("process", observed=True)["weight"].sum()
    part = sub.groupby("process", observed=True)["weight"].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = total / part
    bad = ratio[~(np.isfinite(ratio) & (ratio > 0))]
    if len(bad):
        detail = ", ".join(f"{p}: {part[p]:.4g} of {total[p]:.4g} expected events" for p in bad.index)
        raise ValueError(
            f"the signed weights of a split sum to a yield of the wrong sign or zero ({detail}); "
            "generate more events of these processes"
        )
    return sub["weight"].to_numpy() * ratio.reindex(sub["process"]).to_numpy()


def balanced_weights(weights: np.ndarray, labels: np.ndarray, processes: np.ndarray | None = None) -> np.ndarray:
    """Non-negative training weights |w| with each class summing to n_events / n_classes (shape
    as ``weights``).

    With ``processes``, each process also gets an equal share of its class's total, keeping its
    events' relative physical weights; otherwise a process with a huge cross section (QCD) would
    make the others invisible to the training.

    Signed physical weights (NLO generators) enter as |w|, and the balancing is done on |w|: the
    classifiers then learn from the |w|-weighted feature distributions. xgboost refuses negative
    weights, and a signed loss can go unbounded below (a negative-weight event is best served by
    an infinitely wrong prediction) and makes mini-batch gradients erratic. A classifier trained
    on |w| differs from the signed optimum only where the negative weights shape the
    distributions (NLO corrections of a few per cent), so it may be slightly suboptimal but is
    never biased: every physical number (yields, metrics, significances, binnings) is computed
    with the signed weights.
    """
    weights = np.abs(np.asarray(weights, dtype=np.float64))
    out = np.empty_like(weights)
    classes = np.unique(labels)
    groups = labels if processes is None else np.char.add(labels.astype(str), "/" + np.asarray(processes, dtype=str))
    for c in classes:
        in_class = labels == c
        members = np.unique(groups[in_class])
        share = (len(weights) / len(classes)) / len(members)
        for g in members:
            sel = groups == g
            out[sel] = weights[sel] * share / weights[sel].sum()
    return out


@dataclass
class SplitArrays:
    """The rows of one split as arrays: features ``x`` (n, f; f may be 0), labels ``y`` (n,; 1
    signal, 0 background), weights ``w`` (n,), ``process`` names (n,), target classes ``target``
    (n,; equal to ``y`` with one class per role) and, if loaded, jet ``images`` (n, h, w). ``w``
    are balanced non-negative training weights (from |w|) for training splits and signed physical
    weights scaled to the full luminosity otherwise."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    process: np.ndarray
    target: np.ndarray
    images: np.ndarray | None = None

    @property
    def inputs(self) -> np.ndarray | dict[str, np.ndarray]:
        """What a model takes: the features ``x`` (n, f), the ``images`` (n, h, w) if there are no
        features, or both as ``{"images": ..., "features": ...}``."""
        if self.images is None:
            return self.x
        return {"images": self.images, "features": self.x} if self.x.shape[1] else self.images

    def frame(self, **columns: np.ndarray) -> pd.DataFrame:
        """Table of process, label, class, weight and any extra per-row ``columns`` (e.g. score)."""
        frame = {"process": self.process, "label": self.y, "class": self.target, "weight": self.w}
        return pd.DataFrame({**frame, **columns})


def load_split_arrays(
    features_path: str | os.PathLike,
    split_path: str | os.PathLike,
    features: Sequence[str],
    splits: Sequence[str],
    balance: str | None = None,
    images_path: str | os.PathLike | None = None,
) -> list[SplitArrays]:
    """Arrays of the requested ``splits`` from the feature table and the saved split indices.

    ``x`` holds the ``features`` (n, f; none is f = 0); with ``images_path`` (the jet images, rows
    aligned with the table) ``images`` holds them (n, n_eta, n_phi).
    With ``balance`` = ``"class"`` the weights are balanced between the target classes (each
    sums to the same total), with ``"process"`` also between the processes of a class (for
    training and early stopping), both from |w| (:func:`balanced_weights`); with ``None`` they
    are the signed physical weights scaled to the full luminosity (for evaluation and the
    cut-and-count).
    """
    table = pd.read_parquet(features_path)
    missing = [f for f in (*features, "class") if f not in table.columns]
    if missing:
        raise KeyError(f"{features_path}: columns {missing} not in the table; rerun the features rule")
    indices = read_json(split_path)["indices"]
    images = np.load(images_path, mmap_mode="r") if images_path is not None else None
    if images is not None and len(images) != len(table):
        raise ValueError(f"{images_path}: {len(images)} images for {len(table)} feature rows; rerun the images rule")
    out = []
    for split in splits:
        rows = np.asarray(indices[split], dtype=np.int64)
        sub = table.iloc[rows]
        y, target = sub["label"].to_numpy(), sub["class"].to_numpy()
        process = sub["process"].astype(str).to_numpy()
        if balance is None:
            w = full_luminosity_weights(table, rows)
        elif balance in ("class", "process"):
            w = balanced_weights(sub["weight"].to_numpy(), target, process if balance == "process" else None)
        else:
            raise ValueError(f"unknown training weighting '{balance}' (expected 'class' or 'process')")
        x = sub[list(features)].to_numpy(np.float64).reshape(len(rows), len(features))
        image_rows = np.asarray(images[rows], dtype=np.float32) if images is not None else None
        out.append(SplitArrays(x, y, w, process, target, image_rows))
    return out
