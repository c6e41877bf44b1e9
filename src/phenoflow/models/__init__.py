"""Classifiers under one API: ``fit``, ``predict_proba``, ``save``, ``load``, ``name``,
``n_parameters``, and a ``description`` (:class:`~phenoflow.models.registry.ModelDescription`)
that the workflow reads instead of testing method names.

Model classes are looked up by their config ``method`` and imported only when used, so that a
job that trains a BDT does not pay for importing TensorFlow, and Snakemake for neither.
"""

from __future__ import annotations

from phenoflow.models.registry import (
    DESCRIPTIONS,
    METHODS,
    Classifier,
    ModelDescription,
    classifier,
    classifiers,
    describe,
    load_model,
    model_class,
)
from phenoflow.models.weights import check_training_weights

__all__ = [
    "DESCRIPTIONS",
    "METHODS",
    "Classifier",
    "ModelDescription",
    "check_training_weights",
    "classifier",
    "classifiers",
    "describe",
    "load_model",
    "model_class",
]
