"""Dense neural network (Keras 3, TensorFlow backend) on feature tables.

Also holds what every Keras classifier of the package shares (:class:`KerasClassifier`): seeding
and thread set-up, weighted training with early stopping on the weighted validation AUC, and
saving to a single ``.keras`` file. Labels are integer classes 0..k-1: with k = 2 the output is
the signal (class 1) probability, shape (n,); with k > 2 the softmax, shape (n, k). A network takes
one array, or several named ones (:data:`Inputs`: e.g. jet images and features, as
:attr:`phenoflow.features.datasets.SplitArrays.inputs` gives them), rows aligned; an array may be
the rows of a memory-mapped one (:class:`~phenoflow.features.mapped.MappedRows`), read batch by
batch (:mod:`phenoflow.models.batches`).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from phenoflow.defaults import block_defaults, default  # noqa: E402
from phenoflow.evaluation.metrics import one_vs_rest_auc, weighted_auc  # noqa: E402
from phenoflow.features.mapped import MappedRows, check_batch_source  # noqa: E402
from phenoflow.io import atomic_path  # noqa: E402
from phenoflow.models.batches import Inputs, ShuffledBatches, n_rows, read_rows  # noqa: E402
from phenoflow.models.registry import ModelDescription, describe  # noqa: E402
from phenoflow.models.weights import check_training_weights  # noqa: E402
from phenoflow.tf_threads import use_tensorflow_threads  # noqa: E402

#: Rows per batch when predicting (fixed, so that predictions never depend on the caller).
PREDICT_BATCH = 4096
#: Name of the archive member, beside Keras's own, holding the model kind, seed, hyperparameters and classes.
_METADATA_MEMBER = "phenoflow.json"


def configure_tensorflow(seed: int, threads: int = 1) -> None:
    """Make TensorFlow deterministic, seed Python, numpy, TensorFlow and Keras, and use ``threads`` CPU threads.

    Safe to call more than once per process. TensorFlow fixes its thread pools when it first runs
    an op; if they were already set up with another count, a warning is logged and they are kept
    (results are reproducible for a fixed thread count). A GPU, if present, is used.
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"the neural networks need Keras's TensorFlow backend, not {keras.backend.backend()}")
    tf.config.experimental.enable_op_determinism()
    use_tensorflow_threads(threads)
    keras.utils.set_random_seed(seed)


def weighted_auc_score(y: np.ndarray, proba: np.ndarray, w: np.ndarray) -> float:
    """Weighted ROC AUC of probabilities ``proba`` for integer labels ``y`` (n,) with weights ``w`` (n,).

    Binary: ``proba`` (n,) is the class-1 probability. Multi-class: ``proba`` (n, k) and the AUC is
    the unweighted mean over classes of each class against the rest (weighted events). The
    project's one AUC (:func:`phenoflow.evaluation.metrics.weighted_auc`, defined for signed weights); equal
    to scikit-learn's ``roc_auc_score`` (``multi_class="ovr"``) for non-negative weights.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 1:
        return weighted_auc(proba, w, y)
    return float(np.mean(one_vs_rest_auc(proba, w, y)))


def weighted_cross_entropy(y: np.ndarray, proba: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean cross-entropy sum(w l) / n, as Keras computes the loss (probabilities clipped to
    [1e-7, 1 - 1e-7]); ``y``, ``proba``, ``w`` as for :func:`weighted_auc_score`."""
    eps = keras.config.epsilon()
    proba = np.clip(np.asarray(proba, dtype=np.float64), eps, 1 - eps)
    if proba.ndim == 1:
        losses = -(y * np.log(proba) + (1 - y) * np.log1p(-proba))
    else:
        losses = -np.log(proba[np.arange(len(y)), y.astype(np.int64)])
    return float(np.sum(w * losses) / len(y))


def as_float32(x) -> np.ndarray | MappedRows:
    """An array as float32; the rows of a memory-mapped array stay unread (read as float32)."""
    return x.astype(np.float32) if isinstance(x, MappedRows) else np.asarray(x, dtype=np.float32)


class _EarlyStoppingOnAUC(keras.callbacks.Callback):
    """Record the weighted validation loss and AUC after every epoch, stop after ``patience`` epochs
    without a strict AUC improvement, and restore the weights of the best epoch at the end of training."""

    def __init__(self, predict, validation: tuple[np.ndarray, np.ndarray, np.ndarray], patience: int):
        super().__init__()
        self.predict, self.validation, self.patience = predict, validation, patience
        self.losses: list[float] = []
        self.aucs: list[float] = []
        self.best_epoch = 0
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        xv, yv, wv = self.validation
        proba = self.predict(xv)
        self.losses.append(weighted_cross_entropy(yv, proba, wv))
        auc = weighted_auc_score(yv, proba, wv)
        self.aucs.append(auc)
        if self.best_weights is None or auc > self.aucs[self.best_epoch]:
            self.best_epoch, self.best_weights = epoch, self.model.get_weights()
        elif epoch - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class KerasClassifier:
    """Base of the Keras classifiers: subclasses set ``name`` and ``defaults`` (hyperparameter
    defaults) and implement :meth:`_build`; ``defaults`` must contain ``learning_rate``,
    ``batch_size``, ``epochs`` and ``patience``.

    ``seed`` fixes the weight initialisation, the dropout masks and the batch order; training uses
    ``threads`` CPU threads (see :func:`configure_tensorflow`). ``batches`` is where the training
    batches come from: ``"memory"`` (the training inputs as one in-memory array, shuffled by
    Keras) or ``"mapped"`` (:class:`~phenoflow.models.batches.ShuffledBatches`: each batch read
    when needed, from the memory map where an input is
    :class:`~phenoflow.features.mapped.MappedRows`, in a seeded order per epoch); predictions are
    made batch by batch either way. ``hyper`` overrides ``defaults``; an unknown name is an error.
    """

    name: str = ""
    defaults: dict = {}

    def __init__(self, seed: int, threads: int = 1, batches: str = default("training_batches"), **hyper):
        unknown = sorted(set(hyper) - set(self.defaults))
        if unknown:
            raise TypeError(f"{self.name}: unknown hyperparameters {unknown} (known: {sorted(self.defaults)})")
        check_batch_source(batches)
        self.seed, self.threads, self.batches = int(seed), int(threads), batches
        self.hyper = {**self.defaults, **hyper}
        self.model: keras.Model | None = None
        self.n_classes: int | None = None
        #: Epoch (1-based) whose weights were kept by early stopping.
        self.best_epoch: int | None = None

    def _build(self, x: Inputs, n_classes: int) -> keras.Model:
        """The uncompiled network for training inputs ``x`` (float32) and ``n_classes`` classes."""
        raise NotImplementedError

    def _inputs(self, x: Inputs) -> Inputs:
        """``x`` as the float32 array(s) the network takes (mapped rows stay unread)."""
        return as_float32(x)

    def _layer_seed(self, index: int) -> int:
        """Seed of the ``index``-th random layer (initialiser or dropout), derived from ``seed``."""
        return (self.seed * 1_000 + index) % 2**31

    def _head(self, hidden, n_classes: int, index: int):
        """Output layer on ``hidden``: sigmoid unit for 2 classes, softmax over ``n_classes`` otherwise."""
        units, activation = (1, "sigmoid") if n_classes == 2 else (n_classes, "softmax")
        init = keras.initializers.GlorotUniform(seed=self._layer_seed(index))
        return keras.layers.Dense(units, activation=activation, kernel_initializer=init, name="output")(hidden)

    def fit(
        self,
        x: Inputs,
        y: np.ndarray,
        w: np.ndarray,
        validation: tuple[Inputs, np.ndarray, np.ndarray],
    ) -> pd.DataFrame:
        """Train on inputs ``x``, integer labels ``y`` (n,) and weights ``w`` (n,), early-stopping
        on the weighted AUC of ``validation`` = (xv, yv, wv); the batches as ``batches`` says, the
        validation predicted batch by batch after every epoch.

        Returns one row per epoch: epoch (1-based), train_loss (weighted mean cross-entropy over
        the epoch's batches, with dropout), val_loss (weighted, without dropout) and val_auc. The
        model keeps the weights of the epoch with the best val_auc (:attr:`best_epoch`). The
        weights must be non-negative (a signed loss is unbounded below): the workflow trains and
        early-stops on class-balanced |w| (:func:`phenoflow.features.datasets.balanced_weights`).
        """
        xv, yv, wv = validation
        check_training_weights(self.name, training=w, validation=wv)
        configure_tensorflow(self.seed, self.threads)
        x, xv = self._inputs(x), self._inputs(xv)
        y, yv = np.asarray(y), np.asarray(yv)
        w, wv = np.asarray(w, dtype=np.float32), np.asarray(wv, dtype=np.float32)
        for labels in (y, yv):
            if labels.size and (labels.min() < 0 or not np.array_equal(labels, labels.astype(np.int64))):
                raise ValueError(f"{self.name}: labels must be integer classes 0..k-1")
        self.n_classes = max(2, int(max(y.max(), yv.max())) + 1)
        for split, labels in (("training", y), ("validation", yv)):
            missing = sorted(set(range(self.n_classes)) - set(labels.astype(np.int64).tolist()))
            if missing:
                raise ValueError(f"{self.name}: no {split} events of classes {missing}")

        self.model = self._build(x, self.n_classes)
        binary = self.n_classes == 2
        self.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=self.hyper["learning_rate"]),
            loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
            jit_compile=False,  # no XLA: the same kernels, and determinism, on CPU and GPU
        )
        stopper = _EarlyStoppingOnAUC(self.predict_proba, (xv, yv, wv), self.hyper["patience"])
        batch_size = self.hyper["batch_size"]
        if self.batches == "mapped":  # each batch read when Keras asks for it, in the seed's order
            data = {"x": ShuffledBatches(x, self._targets(y), w, batch_size, self.seed), "shuffle": False}
        else:  # every training row in memory (mapped rows read), shuffled by Keras
            data = {"x": read_rows(x, slice(None)), "y": self._targets(y), "sample_weight": w}
            data.update(batch_size=batch_size, shuffle=True)
        fitted = self.model.fit(**data, epochs=self.hyper["epochs"], callbacks=[stopper], verbose=0)
        self.best_epoch = stopper.best_epoch + 1
        n_epochs = len(stopper.aucs)
        return pd.DataFrame(
            {
                "epoch": np.arange(1, n_epochs + 1),
                "train_loss": fitted.history["loss"][:n_epochs],
                "val_loss": stopper.losses,
                "val_auc": stopper.aucs,
            }
        )

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """Labels as the loss takes them: float (n, 1) for binary, int (n,) for multi-class."""
        if self.n_classes == 2:
            return y.astype(np.float32).reshape(-1, 1)
        return y.astype(np.int32)

    def predict_proba(self, x: Inputs) -> np.ndarray:
        """Signal probability, shape (n,), for binary models; class probabilities (n, k) otherwise."""
        if self.model is None:
            raise RuntimeError(f"{self.name}: fit or load the model first")
        x = self._inputs(x)
        expected = sorted(t.name for t in self.model.inputs)
        given = sorted(x) if isinstance(x, Mapping) else None
        if (given is None and len(expected) != 1) or (given is not None and given != expected):
            raise ValueError(f"{self.name}: the model takes the inputs {expected}, got {given or 'one array'}")
        n = n_rows(x)
        chunks = [
            self.model.predict_on_batch(read_rows(x, slice(i, i + PREDICT_BATCH))) for i in range(0, n, PREDICT_BATCH)
        ]
        proba = np.concatenate(chunks) if chunks else np.empty((0, self.model.output_shape[-1]), np.float32)
        return proba[:, 0] if self.n_classes == 2 else proba

    @property
    def standardisation(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, variance) per feature the feature inputs are standardised with (adapted on the
        training features, saved with the model), each of shape (f,)."""
        if self.model is None:
            raise RuntimeError(f"{self.name}: fit or load the model first")
        layer = self.model.get_layer("standardise")
        return np.asarray(layer.mean).reshape(-1), np.asarray(layer.variance).reshape(-1)

    @property
    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        if self.model is None:
            raise RuntimeError(f"{self.name}: fit or load the model first")
        return int(sum(np.prod(v.shape) for v in self.model.trainable_weights))

    def save(self, path: str | os.PathLike) -> None:
        """Save network, seed and hyperparameters to one ``.keras`` file (a zip archive), atomically."""
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(f"{path}: a {self.name} model file must end in .keras")
        if self.model is None:
            raise RuntimeError(f"{self.name}: nothing to save before fit")
        metadata = {"name": self.name, "seed": self.seed, "n_classes": self.n_classes, "best_epoch": self.best_epoch}
        with atomic_path(path) as tmp:
            keras_tmp = tmp.with_suffix(".keras")  # Keras insists on the suffix
            try:
                self.model.save(keras_tmp)
                with zipfile.ZipFile(keras_tmp, "a") as archive:
                    archive.writestr(_METADATA_MEMBER, json.dumps({**metadata, "hyper": self.hyper}, indent=2))
                keras_tmp.replace(tmp)
            finally:
                keras_tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Load a model saved by :meth:`save` (for prediction; :meth:`fit` would train afresh)."""
        with zipfile.ZipFile(path) as archive:
            metadata = json.loads(archive.read(_METADATA_MEMBER))
        if metadata["name"] != cls.name:
            raise ValueError(f"{path}: holds a '{metadata['name']}' model, not '{cls.name}'")
        model = cls(seed=metadata["seed"], **metadata["hyper"])
        model.n_classes, model.best_epoch = metadata["n_classes"], metadata["best_epoch"]
        model.model = keras.saving.load_model(path, compile=False)
        return model


class MLP(KerasClassifier):
    """Fully connected network on features ``x`` of shape (n, f).

    The inputs are standardised by a Normalization layer adapted on the training ``x`` of
    :meth:`fit` (unweighted mean and variance per feature), so the standardisation is saved with
    the model. Then ``hidden`` dense ReLU layers (units per layer), each followed by dropout of
    rate ``dropout``, and the output layer. Adam with ``learning_rate``, ``batch_size`` rows per
    step, at most ``epochs`` epochs, early stopping after ``patience`` epochs without a better
    validation AUC.
    """

    name = "mlp"
    description: ClassVar[ModelDescription] = describe("mlp")
    defaults = block_defaults("$defs.mlp")

    def _inputs(self, x: np.ndarray | MappedRows) -> np.ndarray | MappedRows:
        x = as_float32(x)
        if x.ndim != 2:
            raise ValueError(f"{self.name}: features must have shape (n, f), got {x.shape}")
        return x

    def _build(self, x: np.ndarray, n_classes: int) -> keras.Model:
        inputs = keras.Input(shape=(x.shape[1],), name="features")
        standardise = keras.layers.Normalization(axis=-1, name="standardise")
        standardise.adapt(np.asarray(x))
        hidden = standardise(inputs)
        for i, units in enumerate(self.hyper["hidden"]):
            init = keras.initializers.HeNormal(seed=self._layer_seed(2 * i))
            hidden = keras.layers.Dense(units, activation="relu", kernel_initializer=init, name=f"dense_{i}")(hidden)
            if self.hyper["dropout"] > 0:
                seed = self._layer_seed(2 * i + 1)
                hidden = keras.layers.Dropout(self.hyper["dropout"], seed=seed, name=f"dropout_{i}")(hidden)
        outputs = self._head(hidden, n_classes, 2 * len(self.hyper["hidden"]))
        return keras.Model(inputs, outputs, name=self.name)
