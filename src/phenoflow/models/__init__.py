"""Classifiers under one API: ``fit``, ``predict_proba``, ``save``, ``load``, ``name``."""

from __future__ import annotations

import os

from phenoflow.models.bdt import BDT

#: Model classes by config name.
MODELS = {BDT.name: BDT}


def load_model(name: str, path: str | os.PathLike):
    """Load a saved model of kind ``name`` (a key of :data:`MODELS`)."""
    if name not in MODELS:
        raise KeyError(f"unknown model '{name}' (known: {', '.join(MODELS)})")
    return MODELS[name].load(path)


__all__ = ["BDT", "MODELS", "load_model"]
