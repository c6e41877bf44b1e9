"""What each kind of model is, and the classifier instances of a config.

A model class describes itself with a :class:`ModelDescription` (its ``description`` class
attribute): the file it is saved to, its inputs, the weights it trains on, whether its score is
binned. The descriptions live here, apart from the classes, so that Snakemake and the config
check can read them without importing xgboost or TensorFlow.

The config's ``classifiers`` block holds named instances, ``{<name>: {method: bdt|cuts|mlp|cnn,
features: [...], <hyperparameters>}}``; :func:`classifiers` turns it into :class:`Classifier`
objects.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: Config keys of a classifier instance that are not hyperparameters of its model class.
INSTANCE_KEYS = ("method", "features")


@dataclass(frozen=True)
class ModelDescription:
    """What a kind of model (a ``method`` of the config) is, for the rules and scripts.

    - ``method``: its name in the config (``classifiers.<name>.method``).
    - ``title``: a human-readable name.
    - ``model_class``: the class, as ``"module:Class"`` (imported only when used).
    - ``file_name``: the file the trained model is saved to (Keras insists on ``.keras``).
    - ``images``: it takes the jet images (``images`` block of the config).
    - ``all_features_by_default``: an instance without ``features`` takes every one of
      ``features.names``; otherwise none (the CNN then sees the image alone).
    - ``physical_weights``: it trains on the physical weights (expected events) rather than the
      class-balanced ``training_weights``.
    - ``significance_objective``: its training maximises the discovery significance, configured
      by the ``significance`` block (its constructor takes it as ``significance``, a
      :class:`~phenoflow.significance.Significance`), and its selection
      obeys the threshold rule's minimum of background MC events (``min_mc_events``: its own
      key, else ``evaluation.min_mc_events``).
    - ``multiclass``: it learns the configured classes (a softmax if there are more than two);
      otherwise signal against background only.
    - ``feature_names``: its constructor takes the feature names (written into the model file).
    - ``batched``: it trains on mini-batches from the batch source of config ``training_batches``
      (its constructor takes ``batches``: the rows in memory, or read batch by batch from the
      memory-mapped images); the others read their rows into memory.
    - ``binnable``: its score is continuous, so it is binned (a pass/fail score is not).
    - ``history``: what its training history plot shows: ``"curves"`` (loss, AUC per round or
      epoch) or ``"cuts"`` (the chosen cuts on the variables' distributions).
    """

    method: str
    title: str
    model_class: str
    file_name: str
    images: bool = False
    all_features_by_default: bool = True
    physical_weights: bool = False
    significance_objective: bool = False
    multiclass: bool = True
    feature_names: bool = False
    batched: bool = False
    binnable: bool = True
    history: Literal["curves", "cuts"] = "curves"


#: Every kind of model by its config ``method``.
DESCRIPTIONS: dict[str, ModelDescription] = {
    d.method: d
    for d in (
        ModelDescription("bdt", "BDT (xgboost)", "phenoflow.models.bdt:BDT", "model.json"),
        ModelDescription(
            "cuts",
            "cut-and-count",
            "phenoflow.models.cuts:CutAndCount",
            "model.json",
            physical_weights=True,
            significance_objective=True,
            multiclass=False,
            feature_names=True,
            binnable=False,
            history="cuts",
        ),
        ModelDescription("mlp", "MLP (Keras)", "phenoflow.models.mlp:MLP", "model.keras", batched=True),
        ModelDescription(
            "cnn",
            "CNN (Keras, jet images)",
            "phenoflow.models.cnn:CNN",
            "model.keras",
            images=True,
            all_features_by_default=False,
            batched=True,
        ),
    )
}
#: The config's method names.
METHODS: tuple[str, ...] = tuple(DESCRIPTIONS)


def describe(method: str) -> ModelDescription:
    """The description of ``method`` (a key of :data:`DESCRIPTIONS`)."""
    if method not in DESCRIPTIONS:
        raise KeyError(f"unknown model '{method}' (known: {', '.join(DESCRIPTIONS)})")
    return DESCRIPTIONS[method]


def model_class(method: str) -> type:
    """The class of ``method`` (imports its module, and so xgboost or TensorFlow)."""
    module, _, cls = describe(method).model_class.partition(":")
    return getattr(importlib.import_module(module), cls)


def load_model(method: str, path: str | os.PathLike):
    """Load a saved model of kind ``method``."""
    return model_class(method).load(path)


def fold_directory(fold: int) -> str:
    """Directory of an instance's model trained without fold ``fold`` and its records, relative
    to the instance's directory ``models/<name>``."""
    return f"fold{fold}"


@dataclass(frozen=True)
class Classifier:
    """One classifier instance of the config: ``classifiers.<name>``.

    ``hyper`` are the hyperparameters given to the model class (the block without ``method`` and
    ``features``); ``features`` the feature names it takes, in the order of its ``features`` list
    (by default all of ``features.names``, or none for a model that then takes the images alone).
    """

    name: str
    description: ModelDescription
    features: tuple[str, ...]
    hyper: Mapping[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.description.method

    @property
    def images(self) -> bool:
        """Whether it takes the jet images."""
        return self.description.images

    def model_file(self, fold: int) -> str:
        """Path of its model trained without fold ``fold``, relative to the results directory."""
        return f"models/{self.name}/{fold_directory(fold)}/{self.description.file_name}"

    @property
    def manifest_file(self) -> str:
        """Path of the manifest of its fold models (:mod:`phenoflow.models.ensemble`), relative
        to the results directory."""
        return f"models/{self.name}/ensemble.json"


def classifier(config: Mapping[str, Any], name: str) -> Classifier:
    """The instance ``classifiers.<name>`` of a validated ``config``."""
    block = config["classifiers"][name]
    description = describe(block["method"])
    if "features" in block:
        features = tuple(block["features"])
    else:
        features = tuple(config["features"]["names"]) if description.all_features_by_default else ()
    hyper = {k: v for k, v in block.items() if k not in INSTANCE_KEYS}
    return Classifier(name, description, features, hyper)


def classifiers(config: Mapping[str, Any]) -> dict[str, Classifier]:
    """Every classifier instance of a validated ``config``, by name (sorted)."""
    return {name: classifier(config, name) for name in sorted(config["classifiers"])}


def classifier_errors(config: Mapping[str, Any]) -> list[str]:
    """Problems of the ``classifiers`` block a schema cannot express, each naming its key:
    features that are not in ``features.names``, image models without an ``images`` block."""
    errors = []
    names = set(config["features"]["names"])
    for name, block in config["classifiers"].items():
        for i, feature in enumerate(block.get("features", [])):
            if feature not in names:
                errors.append(
                    f"classifiers.{name}.features[{i}]: '{feature}' is not one of features.names "
                    f"({', '.join(config['features']['names'])}); add it there or remove it here"
                )
        description = describe(block["method"])
        if description.images and "images" not in config:
            errors.append(f"classifiers.{name}: method {description.method} trains on jet images; add an images block")
    return errors


def migration_errors(config: Mapping[str, Any]) -> dict[str, str]:
    """Classifier entries of the old shape (keyed by method, without ``method``): their key
    (``classifiers.<name>``) -> how to migrate; empty if every entry has a ``method``."""
    errors = {}
    blocks = config.get("classifiers")
    if not isinstance(blocks, Mapping):
        return errors
    for name, block in blocks.items():
        if isinstance(block, Mapping) and "method" in block:
            continue
        if name in DESCRIPTIONS:
            how = f"add 'method: {name}' to it (classifiers: {{{name}: {{method: {name}, ...}}}})"
        else:
            how = f"add 'method: <one of {', '.join(DESCRIPTIONS)}>' to it"
        errors[f"classifiers.{name}"] = (
            f"no 'method' key: classifiers are named instances now, {{<name>: {{method: ..., <settings>}}}}; {how}"
        )
    return errors
