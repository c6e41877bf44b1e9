"""Convolutional neural network (Keras 3, TensorFlow backend) on jet images, optionally with
features beside the images (a two-input network).

Training, early stopping, saving and loading are those of :class:`~phenoflow.models.mlp.KerasClassifier`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from phenoflow.defaults import block_defaults, default  # noqa: E402
from phenoflow.features.mapped import MappedRows  # noqa: E402
from phenoflow.models.batches import Inputs  # noqa: E402
from phenoflow.models.mlp import KerasClassifier, as_float32  # noqa: E402
from phenoflow.models.registry import ModelDescription, describe  # noqa: E402

#: Per-image normalisations of :class:`ImageNormalisation` (as in :func:`phenoflow.features.images.normalise`).
NORMALISATIONS: tuple[str, ...] = ("none", "max", "log", "l1")


@keras.saving.register_keras_serializable(package="phenoflow")
class ImageNormalisation(keras.layers.Layer):
    """Per-image normalisation of a batch of images (batch, h, w) -> (batch, h, w, 1).

    ``method``: ``"none"``; ``"max"``: divide by the image's largest pixel; ``"log"``: log(1 + x);
    ``"l1"``: divide by the image's pixel sum. All-zero images stay zero. Being a layer, it is
    saved with the model, so a loaded model takes the raw images.
    """

    def __init__(self, method: str = "max", **kwargs):
        super().__init__(**kwargs)
        if method not in NORMALISATIONS:
            raise ValueError(f"unknown image normalisation '{method}' (expected one of {', '.join(NORMALISATIONS)})")
        self.method = method

    def call(self, images):
        ops = keras.ops
        if self.method == "log":
            images = ops.log1p(images)
        elif self.method in ("max", "l1"):
            reduce = ops.max if self.method == "max" else ops.sum
            scale = reduce(images, axis=(1, 2), keepdims=True)
            images = ops.where(scale > 0, images / ops.where(scale > 0, scale, 1), 0)
        return ops.expand_dims(images, -1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, 1)

    def get_config(self):
        return {**super().get_config(), "method": self.method}


class CNN(KerasClassifier):
    """Convolutional network on jet images, optionally with features beside them.

    Inputs: images of shape (n, h, w) (e.g. the 33 × 33 jet images), or a mapping
    ``{"images": (n, h, w), "features": (n, f)}`` for a two-input network (f = 0 is the image
    alone). Each image is normalised by :class:`ImageNormalisation` with ``normalise`` (inside the
    model); then, for each entry of ``filters``, a ReLU convolution with that many filters of
    ``kernel_size`` × ``kernel_size`` pixels ("same" padding) and a ``pool_size`` max pooling,
    flattened. The features, standardised by a Normalization layer adapted on the training
    features (saved with the model), pass one dense ReLU layer of ``feature_dense`` units and are
    concatenated with the image branch. Then a dense ReLU layer of ``dense`` units, dropout of
    rate ``dropout`` and the output layer. Adam with ``learning_rate``, ``batch_size`` events per
    step, at most ``epochs`` epochs, early stopping after ``patience`` epochs without a better
    validation AUC.
    """

    name = "cnn"
    description: ClassVar[ModelDescription] = describe("cnn")
    defaults = block_defaults("$defs.cnn")

    def __init__(self, seed: int, threads: int = 1, batches: str = default("training_batches"), **hyper):
        super().__init__(seed, threads, batches, **hyper)
        if self.hyper["normalise"] not in NORMALISATIONS:
            expected = ", ".join(NORMALISATIONS)
            raise ValueError(f"unknown normalise '{self.hyper['normalise']}' (expected one of {expected})")

    def _inputs(self, x: Inputs) -> Inputs:
        """Images (n, h, w) as float32 (mapped ones unread); a mapping with images and features
        as float32 (or the images alone if there are no features)."""
        if not isinstance(x, Mapping):
            return self._images(x)
        unknown = sorted(set(x) - {"images", "features"})
        if unknown or "images" not in x:
            raise ValueError(f"{self.name}: inputs are 'images' and optionally 'features', got {sorted(x)}")
        images = self._images(x["images"])
        features = as_float32(x.get("features", np.empty((len(images), 0))))
        if features.ndim != 2 or len(features) != len(images):
            raise ValueError(f"{self.name}: features must have shape ({len(images)}, f), got {features.shape}")
        return {"images": images, "features": features} if features.shape[1] else images

    def _images(self, images) -> np.ndarray | MappedRows:
        images = as_float32(images)
        if images.ndim != 3:
            raise ValueError(f"{self.name}: images must have shape (n, h, w), got {images.shape}")
        return images

    def _build(self, x: Inputs, n_classes: int) -> keras.Model:
        images = x["images"] if isinstance(x, Mapping) else x
        image_input = keras.Input(shape=images.shape[1:], name="images")
        hidden = ImageNormalisation(self.hyper["normalise"], name="normalise")(image_input)
        for i, filters in enumerate(self.hyper["filters"]):
            conv = keras.layers.Conv2D(
                filters,
                self.hyper["kernel_size"],
                padding="same",
                activation="relu",
                data_format="channels_last",
                kernel_initializer=keras.initializers.HeNormal(seed=self._layer_seed(i)),
                name=f"conv_{i}",
            )
            pool = keras.layers.MaxPooling2D(self.hyper["pool_size"], data_format="channels_last", name=f"pool_{i}")
            hidden = pool(conv(hidden))
        hidden = keras.layers.Flatten(name="flatten")(hidden)
        n_conv = len(self.hyper["filters"])
        inputs = image_input
        if isinstance(x, Mapping):  # the features' own branch, joined to the image's
            feature_input = keras.Input(shape=(x["features"].shape[1],), name="features")
            standardise = keras.layers.Normalization(axis=-1, name="standardise")
            standardise.adapt(np.asarray(x["features"]))
            init = keras.initializers.HeNormal(seed=self._layer_seed(n_conv + 3))
            branch = keras.layers.Dense(
                self.hyper["feature_dense"], activation="relu", kernel_initializer=init, name="feature_dense"
            )(standardise(feature_input))
            hidden = keras.layers.Concatenate(name="concatenate")([hidden, branch])
            inputs = {"images": image_input, "features": feature_input}
        init = keras.initializers.HeNormal(seed=self._layer_seed(n_conv))
        dense = keras.layers.Dense(self.hyper["dense"], activation="relu", kernel_initializer=init, name="dense")
        hidden = dense(hidden)
        if self.hyper["dropout"] > 0:
            seed = self._layer_seed(n_conv + 1)
            hidden = keras.layers.Dropout(self.hyper["dropout"], seed=seed, name="dropout")(hidden)
        outputs = self._head(hidden, n_classes, n_conv + 2)
        return keras.Model(inputs, outputs, name=self.name)
