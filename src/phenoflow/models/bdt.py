"""Gradient-boosted decision trees (xgboost, hist method): signal vs background, or a softmax
over several classes (integer labels 0..k-1)."""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np
import pandas as pd
import xgboost as xgb

from phenoflow.io import atomic_path
from phenoflow.models.registry import ModelDescription, describe
from phenoflow.models.weights import check_training_weights


class BDT:
    """xgboost classifier with early stopping on the validation set.

    ``hyper`` are xgboost parameters from the config (e.g. n_estimators, max_depth,
    learning_rate, early_stopping_rounds); ``seed`` fixes its randomness; training uses
    ``threads`` CPU threads. With labels 0/1 it learns the signal (class 1) probability; with
    labels 0..k-1, k > 2, a softmax over the k classes (xgboost's multi:softprob), early stopping
    on the multi-class log-loss.
    """

    name = "bdt"
    description: ClassVar[ModelDescription] = describe("bdt")

    def __init__(self, seed: int, threads: int = 1, **hyper):
        self.hyper = dict(hyper)
        self.seed, self.threads = seed, threads
        self.model = self._classifier(2)

    def _classifier(self, n_classes: int) -> xgb.XGBClassifier:
        metric = "logloss" if n_classes == 2 else "mlogloss"
        return xgb.XGBClassifier(
            tree_method="hist", random_state=self.seed, n_jobs=self.threads, eval_metric=metric, **self.hyper
        )

    @property
    def n_classes(self) -> int:
        """Number of classes the model was trained on (2 before training)."""
        return int(getattr(self.model, "n_classes_", 2))

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> pd.DataFrame:
        """Train on (x, y, w) with shapes (n, f), (n,), (n,); returns the per-round history
        (iteration, train_loss, val_loss: weighted log-loss, multi-class log-loss for k > 2).

        ``w`` and the validation weights must be non-negative (xgboost refuses others): the
        workflow trains on class-balanced |w| (:func:`phenoflow.features.datasets.balanced_weights`)."""
        xv, yv, wv = validation
        check_training_weights(self.name, training=w, validation=wv)
        n_classes = max(2, int(max(np.max(y), np.max(yv))) + 1)
        self.model = self._classifier(n_classes)
        self.model.fit(
            x, y, sample_weight=w, eval_set=[(x, y), (xv, yv)], sample_weight_eval_set=[w, wv], verbose=False
        )
        result = self.model.evals_result()
        metric = self.model.get_params()["eval_metric"]
        return pd.DataFrame(
            {
                "iteration": np.arange(len(result["validation_0"][metric])),
                "train_loss": result["validation_0"][metric],
                "val_loss": result["validation_1"][metric],
            }
        )

    @property
    def n_parameters(self) -> int:
        """Number of tree nodes (split thresholds and leaf values) of the trained model."""
        return int(len(self.model.get_booster().trees_to_dataframe()))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Signal probability per row, shape (n,), for a binary model; class probabilities (n, k) otherwise."""
        proba = self.model.predict_proba(x)
        return proba[:, 1] if self.n_classes == 2 else proba

    def save(self, path: str | os.PathLike) -> None:
        """Save in xgboost's JSON format (atomically)."""
        with atomic_path(path) as tmp:
            json_tmp = tmp.with_suffix(".json")
            self.model.save_model(json_tmp)
            json_tmp.replace(tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BDT:
        """Load a model saved by :meth:`save`."""
        model = cls(seed=0)
        model.model.load_model(path)
        return model
