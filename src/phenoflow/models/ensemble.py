"""A classifier instance trained once per fold, and how to apply it.

With k-fold training (config ``split.folds``) an instance is k models; model i trained without
fold i. :class:`FoldEnsemble` holds them with the manifest written beside them
(``models/<name>/ensemble.json``): the events they were trained on are each scored by the one
model that never saw them (:meth:`FoldEnsemble.predict_out_of_fold`, the fold from the split
file), new events by the mean of the k models' probabilities (:meth:`FoldEnsemble.predict_proba`),
which is what an analysis applying the classifier to data or to other samples uses. One fixed
split is the case k = 1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phenoflow.io import read_json, write_json
from phenoflow.models.registry import fold_directory, load_model

#: How the models of an ensemble are applied, written into its manifest.
APPLY = {
    "training events": "the model of the fold that tests them (split.json); it never saw them",
    "new events": "the mean of every fold model's class probabilities",
}


def write_manifest(
    path: str | os.PathLike,
    name: str,
    method: str,
    file_name: str,
    trainings: Sequence[Mapping[str, Any]],
    split: Mapping[str, Any],
) -> dict:
    """Write the manifest of an instance's fold models (JSON, atomically) and return it.

    ``trainings``: the training record of every fold (rule train_<name>), in fold order;
    ``split``: the split file's scheme (its ``scheme``, ``n_folds`` and settings). The manifest
    holds the fold models' files (relative to its directory), their records, the total training
    time (s) and the parameters of one model.
    """
    manifest = {
        "model": name,
        "method": method,
        "scheme": split["scheme"],
        "n_folds": len(trainings),
        "split": {k: v for k, v in split.items() if k != "scheme"},
        "files": [f"{fold_directory(i)}/{file_name}" for i in range(len(trainings))],
        "apply": APPLY,
        "folds": list(trainings),
        "training_time_s": float(sum(t["training_time_s"] for t in trainings)),
        "n_parameters": int(trainings[0]["n_parameters"]),
    }
    write_json(path, manifest)
    return manifest


@dataclass(frozen=True)
class FoldEnsemble:
    """The trained models of one classifier instance, model i trained without fold i."""

    method: str
    models: tuple

    @classmethod
    def load(cls, manifest_path: str | os.PathLike) -> FoldEnsemble:
        """The ensemble of a manifest (``ensemble.json``), its model files next to it."""
        manifest = read_json(manifest_path)
        base = Path(manifest_path).parent
        method = manifest["method"]
        return cls(method, tuple(load_model(method, base / f) for f in manifest["files"]))

    def __len__(self) -> int:
        return len(self.models)

    def predict_proba(self, inputs) -> np.ndarray:
        """Scores of new events: the mean over the fold models of their ``predict_proba``
        (shape as one model's: (n,) or (n, k classes))."""
        return np.mean([m.predict_proba(inputs) for m in self.models], axis=0)

    def predict_out_of_fold(self, inputs, fold: np.ndarray) -> np.ndarray:
        """Scores of training events, each from the model of its ``fold`` (n,): the one model
        that did not train on it. ``inputs`` as a model takes them (an array or a dict of
        arrays, n rows each)."""
        fold = np.asarray(fold)
        if len(fold) and (fold.min() < 0 or fold.max() >= len(self.models)):
            raise ValueError(f"fold indices must lie in [0, {len(self.models)}), got {fold.min()}..{fold.max()}")
        out = None
        for i, model in enumerate(self.models):
            rows = np.flatnonzero(fold == i)
            if not len(rows):
                continue
            proba = model.predict_proba(_take(inputs, rows))
            if out is None:
                out = np.empty((len(fold), *proba.shape[1:]), dtype=np.float64)
            out[rows] = proba
        return out if out is not None else np.empty(0)


def _take(inputs, rows: np.ndarray):
    """Rows of a model's inputs (an array, or a dict of arrays)."""
    if isinstance(inputs, Mapping):
        return {k: v[rows] for k, v in inputs.items()}
    return inputs[rows]
