"""Feature tables, and the arrays of the rows each model trains, validates and is scored on
(the split itself: :mod:`phenoflow.features.splits`).

A feature table's columns: ``process``, ``label``, ``class``, ``weight`` (the physical weight),
then one ``weight:<name>`` per theory variation that any process carries (its physical weights,
normalised as ``weight``; :mod:`phenoflow.variations`), then the features. A process without a
variation has its nominal weight in that column: for it the variation changes nothing. The
weight columns are never features (a feature is an observable, and no observable is called
``weight``...) and never training weights (those come from ``weight`` alone).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import awkward as ak
import numpy as np
import pandas as pd

from phenoflow import parquet
from phenoflow.defaults import default
from phenoflow.events.observables import Substructure, observable
from phenoflow.features.classes import Classes
from phenoflow.features.mapped import MappedRows, check_batch_source
from phenoflow.features.splits import SPLITS, full_luminosity_scale, full_luminosity_weights, read_split_sets
from phenoflow.io import atomic_path
from phenoflow.variations import SKIM_WEIGHT_PREFIX, WEIGHT_COLUMN_PREFIX

#: Columns of a feature table that are not features.
META_COLUMNS = ("process", "label", "class", "weight")
#: Rows per row group of a feature table written by :func:`write_feature_table` (about 100 bytes
#: each): the default sample's 9 338 rows are one row group.
ROW_GROUP_ROWS = 2**14
#: Skimmed events read and turned into features at a time by :func:`write_feature_table`. The
#: substructure's temporaries take about 20 kB per event, and the allocators' fragmentation over
#: many batches grows with them: 1 024 keeps the peak memory of 100x the default sample within
#: 5 % of the default's, for about a third more CPU time than 4 096.
BATCH_EVENTS = 2**10


def feature_table(
    events: Mapping[str, ak.Array],
    classes: Classes,
    features: Sequence[str],
    fill: float,
    settings: Substructure = Substructure(),
) -> pd.DataFrame:
    """One row per event of every process: process, label, class, physical weight, the theory
    variations' physical weights ``weight:<name>`` (see the module docstring), then the features.

    ``events``: skimmed events per process (with ``weight_phys``, and ``weight_phys:<name>`` per
    variation of the process); ``classes``: the classes of
    the processes (``label`` is 1 for signal classes, 0 for background; ``class`` the class
    index); ``fill``: the value of a feature whose object is missing; ``settings``: how
    substructure features are computed. Holds every event (a large sample: :func:`write_feature_table`).
    """
    variations = _all_variations(_variations_of(ev.fields) for ev in events.values())
    frames = [
        _feature_rows(ev, process, classes, features, fill, settings, variations) for process, ev in events.items()
    ]
    table = pd.concat(frames, ignore_index=True)
    table["process"] = table["process"].astype("category")
    return table


@dataclass(frozen=True)
class ProcessRows:
    """What a feature table holds of one process: its number of ``rows``, their ``label`` and
    ``class_index`` (None without rows) and ``expected_events``, the sum of their weights, and the
    names of the theory ``variations`` its skim carries."""

    rows: int
    label: int | None
    class_index: int | None
    expected_events: float
    variations: tuple[str, ...] = ()


def _variations_of(fields: Iterable[str]) -> list[str]:
    """The theory variations whose physical weights (``weight_phys:<name>``) are among a skim's ``fields``."""
    return [f[len(SKIM_WEIGHT_PREFIX) :] for f in fields if f.startswith(SKIM_WEIGHT_PREFIX)]


def _all_variations(per_process: Iterable[Iterable[str]]) -> list[str]:
    """The variations of every process (names), in first-seen order."""
    return list(dict.fromkeys(name for names in per_process for name in names))


def write_feature_table(
    path: str | os.PathLike,
    skims: Mapping[str, str | os.PathLike],
    classes: Classes,
    features: Sequence[str],
    fill: float,
    settings: Substructure = Substructure(),
    row_group_rows: int = ROW_GROUP_ROWS,
    batch_events: int = BATCH_EVENTS,
) -> dict[str, ProcessRows]:
    """Write the :func:`feature_table` of the skim files ``skims`` (per process, in this order) to
    the Parquet file ``path``; returns what it holds of each process.

    The skim files are read and the features computed ``batch_events`` events at a time, and
    written ``row_group_rows`` rows per row group, so memory is bounded by one batch of events
    and its computation, one row group of rows and the weights of one process (8 bytes an event,
    summed as pandas sums the table's column), whatever the sample. The file holds what
    :func:`write_table` writes of the feature table of all events (an event's features do not
    depend on the others), the same bytes if it is one row group.
    """
    counts = {process: parquet.n_rows(skim) for process, skim in skims.items()}
    carried = {process: _variations_of(parquet.field_names(skim)) for process, skim in skims.items()}
    variations = _all_variations(carried.values())
    # the categories feature_table gives the process column: the names of the processes with rows, sorted
    category = pd.Series([p for p, n in counts.items() if n], dtype="str").astype("category").dtype
    held: dict[str, ProcessRows] = {}

    def rows():
        for process, skim in skims.items():
            weights, start = np.empty(counts[process]), 0
            for events in parquet.read_awkward(skim, batch_rows=batch_events):
                frame = _feature_rows(events, process, classes, features, fill, settings, variations)
                weights[start : start + len(frame)] = frame["weight"].to_numpy()
                start += len(frame)
                frame["process"] = frame["process"].astype(category)
                yield frame
            index = classes.of_process[process] if start else None
            label = None if index is None else int(classes.is_signal[index])
            held[process] = ProcessRows(start, label, index, float(weights.sum()), tuple(carried[process]))

    parquet.write_pandas(path, rows(), row_group_rows)
    return held


def _feature_rows(
    events: ak.Array,
    process: str,
    classes: Classes,
    features: Sequence[str],
    fill: float,
    settings: Substructure,
    variations: Sequence[str] = (),
) -> pd.DataFrame:
    """The rows of :func:`feature_table` of one process's ``events`` (the process column as
    strings), with a column ``weight:<name>`` per name of ``variations``: the events' own
    ``weight_phys:<name>``, or their nominal weight if they do not carry that variation."""
    index = classes.of_process[process]
    weight = ak.to_numpy(events.weight_phys)
    columns = {"process": process, "label": int(classes.is_signal[index]), "class": index, "weight": weight}
    for name in variations:
        field = SKIM_WEIGHT_PREFIX + name
        columns[WEIGHT_COLUMN_PREFIX + name] = ak.to_numpy(events[field]) if field in events.fields else weight
    columns.update({name: observable(events, name, fill, settings) for name in features})
    return pd.DataFrame(columns, index=pd.RangeIndex(len(events)))


def feature_metadata(
    processes: Mapping[str, ProcessRows],
    features: Sequence[str],
    classes: Sequence[str],
    summaries: Mapping[str, dict],
    config_part: Mapping,
    started: str,
    inputs: Sequence[str | os.PathLike],
) -> dict:
    """The YAML metadata of a feature table: what each column is, the class names (by index), per
    process its role, label, class, cross section (pb), expected events and theory variations (if
    it has any), the luminosity and selection, and the provenance (config part and hash, input
    hashes, package versions, seed, times). ``processes``: what the table holds of each process
    (:func:`write_feature_table`)."""
    from phenoflow.provenance import record

    out, carriers = {}, {}
    for name, summary in summaries.items():
        rows = processes[name]
        out[name] = {
            "role": config_part["processes"][name]["role"],
            "label": rows.label,
            "class": rows.class_index,
            "sigma_pb": summary["sigma_pb"],
            "sigma_err_pb": summary["sigma_err_pb"],
            "generated_events": summary["n_events"],
            "selected_events": rows.rows,
            "expected_events": rows.expected_events,
        }
        if rows.variations:
            out[name]["variations"] = list(rows.variations)
        for variation in rows.variations:
            carriers.setdefault(variation, []).append(name)
    return record(
        config_part,
        started,
        inputs,
        kind="feature table",
        rows=sum(rows.rows for rows in processes.values()),
        columns={
            "process": "process name",
            "label": "1 signal, 0 background",
            "class": "target class: index into classes",
            "weight": f"physical weight: expected events at {config_part['luminosity_fb']} fb^-1 (sigma L w / sum w)",
            **{
                WEIGHT_COLUMN_PREFIX + variation: f"physical weight of the theory variation {variation} of "
                f"{', '.join(names)} (sigma L w_var / sum w, the nominal's normalisation); the nominal weight for the "
                "other processes (no change)"
                for variation, names in carriers.items()
            },
            **{name: "feature (observable syntax of config/README.md)" for name in features},
        },
        features=list(features),
        classes=list(classes),
        processes=out,
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
    luminosity and selection, and the provenance. Of ``table`` only the process column is read."""
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
    (n,; equal to ``y`` with one class per role), their ``rows`` in the feature table (n,), the
    ``fold`` whose model scores each row (n,; 0 for one fixed split) and, if loaded, jet
    ``images`` (n, h, w; float32: in memory, or :class:`~phenoflow.features.mapped.MappedRows`
    of the memory-mapped file, read when a batch needs them). ``w`` are balanced non-negative
    training weights (from |w|) for training splits and signed physical weights scaled to the
    full luminosity otherwise. The scored rows (:func:`load_scored_arrays`) also carry each
    theory variation's physical weights (n,) by column ``weight:<name>`` in ``variation_weights``,
    scaled by the same factor per row as ``w``."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    process: np.ndarray
    target: np.ndarray
    rows: np.ndarray
    fold: np.ndarray
    images: np.ndarray | MappedRows | None = None
    variation_weights: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def inputs(self) -> np.ndarray | MappedRows | dict[str, np.ndarray | MappedRows]:
        """What a model takes: the features ``x`` (n, f), the ``images`` (n, h, w) if there are no
        features, or both as ``{"images": ..., "features": ...}``."""
        if self.images is None:
            return self.x
        return {"images": self.images, "features": self.x} if self.x.shape[1] else self.images

    def take(self, mask: np.ndarray) -> SplitArrays:
        """The rows selected by a boolean ``mask`` (n,) or an index array (mapped images stay unread)."""
        images = None if self.images is None else self.images[mask]
        fields = (self.x, self.y, self.w, self.process, self.target, self.rows, self.fold)
        varied = {name: w[mask] for name, w in self.variation_weights.items()}
        return SplitArrays(*(a[mask] for a in fields), images=images, variation_weights=varied)

    def frame(self, **columns: np.ndarray) -> pd.DataFrame:
        """Table of row (in the feature table), fold, process, label, class, weight, the theory
        variations' weights ``weight:<name>`` and any extra per-row ``columns`` (e.g. score)."""
        frame = {"row": self.rows, "fold": self.fold, "process": self.process, "label": self.y, "class": self.target}
        return pd.DataFrame({**frame, "weight": self.w, **self.variation_weights, **columns})


class _Dataset:
    """The feature table, the split sets and the memory-mapped images of one analysis, checked
    against each other; :meth:`arrays` cuts rows out of them, the images copied into memory
    (``batches="memory"``) or left in the map (``"mapped"``)."""

    def __init__(self, features_path, split_path, features, images_path, batches):
        check_batch_source(batches)
        self.batches = batches
        self.table = pd.read_parquet(features_path)
        missing = [f for f in (*features, "class") if f not in self.table.columns]
        if missing:
            raise KeyError(f"{features_path}: columns {missing} not in the table; rerun the features rule")
        self.sets = read_split_sets(split_path)
        n_max = max((int(part[s].max()) for part in self.sets for s in SPLITS if len(part[s])), default=-1)
        if n_max >= len(self.table):
            raise ValueError(
                f"{split_path}: row {n_max} beyond the {len(self.table)} rows of {features_path}; rerun the split rule"
            )
        self.features = list(features)
        self.images = np.load(images_path, mmap_mode="r") if images_path is not None else None
        if self.images is not None and len(self.images) != len(self.table):
            raise ValueError(
                f"{images_path}: {len(self.images)} images for {len(self.table)} feature rows; rerun the images rule"
            )

    def arrays(self, rows: np.ndarray, fold: np.ndarray, w: np.ndarray, scale: np.ndarray | None = None) -> SplitArrays:
        """The arrays of ``rows``, with weights ``w``; with ``scale`` (per row) the theory
        variations' weights too, scaled by it."""
        sub = self.table.iloc[rows]
        x = sub[self.features].to_numpy(np.float64).reshape(len(rows), len(self.features))
        if self.images is None:
            images = None
        elif self.batches == "mapped":
            images = MappedRows(self.images, rows, np.float32)
        else:
            images = np.asarray(self.images[rows], dtype=np.float32)
        process = sub["process"].astype(str).to_numpy()
        varied = {}
        if scale is not None:
            columns = [c for c in self.table.columns if str(c).startswith(WEIGHT_COLUMN_PREFIX)]
            varied = {c: sub[c].to_numpy() * scale for c in columns}
        split = (x, sub["label"].to_numpy(), w, process, sub["class"].to_numpy(), rows, fold)
        return SplitArrays(*split, images=images, variation_weights=varied)


def load_split_arrays(
    features_path: str | os.PathLike,
    split_path: str | os.PathLike,
    features: Sequence[str],
    splits: Sequence[str],
    balance: str | None = None,
    images_path: str | os.PathLike | None = None,
    fold: int = 0,
    batches: str = default("training_batches"),
) -> list[SplitArrays]:
    """Arrays of the requested ``splits`` of set ``fold`` from the feature table and the split file.

    ``x`` holds the ``features`` (n, f; none is f = 0); with ``images_path`` (the jet images, rows
    aligned with the table) ``images`` holds them (n, n_eta, n_phi): copied into memory with
    ``batches`` = ``"memory"``, rows of the memory-mapped file read batch by batch with ``"mapped"``.
    With ``balance`` = ``"class"`` the weights are balanced between the target classes (each
    sums to the same total), with ``"process"`` also between the processes of a class (for
    training and early stopping), both from |w| (:func:`balanced_weights`); with ``None`` they
    are the signed physical weights scaled to the full luminosity (for evaluation and the
    cut-and-count).
    """
    data = _Dataset(features_path, split_path, features, images_path, batches)
    if not 0 <= fold < len(data.sets):
        raise ValueError(f"{split_path}: no fold {fold} (it has {len(data.sets)})")
    out = []
    for split in splits:
        rows = data.sets[fold][split]
        sub = data.table.iloc[rows]
        if balance is None:
            w = full_luminosity_weights(data.table, rows)
        elif balance in ("class", "process"):
            process = sub["process"].astype(str).to_numpy() if balance == "process" else None
            w = balanced_weights(sub["weight"].to_numpy(), sub["class"].to_numpy(), process)
        else:
            raise ValueError(f"unknown training weighting '{balance}' (expected 'class' or 'process')")
        out.append(data.arrays(rows, np.full(len(rows), fold), w))
    return out


def load_scored_arrays(
    features_path: str | os.PathLike,
    split_path: str | os.PathLike,
    features: Sequence[str],
    images_path: str | os.PathLike | None = None,
    batches: str = default("training_batches"),
) -> SplitArrays:
    """Every row some fold's model scores (the test rows of every set), in table order, with the
    set that tests it in ``fold`` and signed physical weights scaled to the full luminosity;
    the images as for :func:`load_split_arrays`; the theory variations' weights
    (``variation_weights``, from the table's ``weight:<name>`` columns) scaled by the same factor
    per row as the nominal, so that their ratios to it are kept.

    With k folds the test sets partition the table, so every event enters at its own physical
    weight (the scale is 1); with one fixed split they are its test rows, scaled up by
    :func:`full_luminosity_weights`.
    """
    data = _Dataset(features_path, split_path, features, images_path, batches)
    fold = np.full(len(data.table), -1)
    for i, part in enumerate(data.sets):
        if (fold[part["test"]] >= 0).any():
            raise ValueError(f"{split_path}: set {i} tests rows another set tests; rerun the split rule")
        fold[part["test"]] = i
    rows = np.flatnonzero(fold >= 0)
    lost = sorted(set(data.table["process"].astype(str)) - set(data.table["process"].iloc[rows].astype(str)))
    if lost:
        raise ValueError(
            f"{split_path}: no scored event of {', '.join(lost)} (its few selected events all in training); "
            "generate more events of it, or use k-fold training (split.folds), which scores every event"
        )
    scale = full_luminosity_scale(data.table, rows)
    return data.arrays(rows, fold[rows], data.table["weight"].to_numpy()[rows] * scale, scale)


def fold_weights(arrays: SplitArrays) -> np.ndarray:
    """Weights (n,) that scale each fold's rows of ``arrays`` alone to the yields of all of them,
    process by process: the physical weights of one fold's test set at the full luminosity."""
    frame = pd.DataFrame({"process": arrays.process, "weight": arrays.w})
    out = np.empty(len(frame))
    for f in np.unique(arrays.fold):
        rows = np.flatnonzero(arrays.fold == f)
        out[rows] = full_luminosity_weights(frame, rows)
    return out
