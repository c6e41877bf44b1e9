"""Classifiers under one API: ``fit``, ``predict_proba``, ``save``, ``load``, ``name``,
``n_parameters``.

Models are looked up by their config name and imported only when used, so that a job that
trains a BDT does not pay for importing TensorFlow.
"""

from __future__ import annotations

import importlib
import os

from phenoflow.models.bdt import BDT
from phenoflow.models.weights import check_training_weights

#: Model classes by config name, as "module:class".
MODELS = {
    "bdt": "phenoflow.models.bdt:BDT",
    "cuts": "phenoflow.models.cuts:CutAndCount",
    "mlp": "phenoflow.models.mlp:MLP",
    "cnn": "phenoflow.models.cnn:CNN",
}


def model_class(name: str) -> type:
    """The class of the model called ``name`` in the config (a key of :data:`MODELS`)."""
    if name not in MODELS:
        raise KeyError(f"unknown model '{name}' (known: {', '.join(MODELS)})")
    module, _, cls = MODELS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def load_model(name: str, path: str | os.PathLike):
    """Load a saved model of kind ``name`` (a key of :data:`MODELS`)."""
    return model_class(name).load(path)


__all__ = ["BDT", "MODELS", "check_training_weights", "load_model", "model_class"]
