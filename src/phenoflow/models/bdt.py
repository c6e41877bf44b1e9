"""Gradient-boosted decision trees (xgboost, hist method) for signal vs background."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import xgboost as xgb

from phenoflow.io import atomic_path


class BDT:
    """xgboost classifier with early stopping on the validation set.

    ``hyper`` are xgboost parameters from the config (e.g. n_estimators, max_depth,
    learning_rate, early_stopping_rounds); ``seed`` fixes its randomness; training uses
    ``threads`` CPU threads.
    """

    name = "bdt"

    def __init__(self, seed: int, threads: int = 1, **hyper):
        self.hyper = dict(hyper)
        self.model = xgb.XGBClassifier(
            tree_method="hist", random_state=seed, n_jobs=threads, eval_metric="logloss", **hyper
        )

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> pd.DataFrame:
        """Train on (x, y, w) with shapes (n, f), (n,), (n,); returns the per-round history."""
        xv, yv, wv = validation
        self.model.fit(x, y, sample_weight=w, eval_set=[(x, y), (xv, yv)], sample_weight_eval_set=[w, wv], verbose=False)
        result = self.model.evals_result()
        return pd.DataFrame(
            {
                "iteration": np.arange(len(result["validation_0"]["logloss"])),
                "train_loss": result["validation_0"]["logloss"],
                "val_loss": result["validation_1"]["logloss"],
            }
        )

    @property
    def n_parameters(self) -> int:
        """Number of tree nodes (split thresholds and leaf values) of the trained model."""
        return int(len(self.model.get_booster().trees_to_dataframe()))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Signal probability per row, shape (n,)."""
        return self.model.predict_proba(x)[:, 1]

    def save(self, path: str | os.PathLike) -> None:
        """Save in xgboost's JSON format (atomically)."""
        with atomic_path(path) as tmp:
            json_tmp = tmp.with_suffix(".json")
            self.model.save_model(json_tmp)
            json_tmp.replace(tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BDT":
        """Load a model saved by :meth:`save`."""
        model = cls(seed=0)
        model.model.load_model(path)
        return model
