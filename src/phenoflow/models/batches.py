"""Where a Keras network's mini-batches come from (config ``training_batches``).

``"memory"``: the training rows are one in-memory array, which Keras shuffles and cuts into
batches. ``"mapped"``: :class:`ShuffledBatches` reads each batch when Keras asks for it -- from the
memory-mapped jet images where the inputs are :class:`~phenoflow.features.mapped.MappedRows` --
in an order drawn from the seed anew every epoch, so that the training's memory does not grow
with the images and the same seed gives the same model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from phenoflow.features.mapped import MappedRows  # noqa: E402

#: A network's input: one array, or named arrays with the same number of rows (e.g. images and
#: features); each an array in memory or the rows of a memory-mapped one.
Inputs = np.ndarray | MappedRows | Mapping[str, np.ndarray | MappedRows]


def n_rows(x: Inputs) -> int:
    """Number of rows (events) of an input."""
    return len(next(iter(x.values()))) if isinstance(x, Mapping) else len(x)


def read_rows(x: Inputs, index: slice | np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
    """Rows ``index`` (a slice or an index array) of an input, in memory: of each array of a
    named input; mapped rows are read."""
    if isinstance(x, Mapping):
        return {k: np.asarray(v[index]) for k, v in x.items()}
    return np.asarray(x[index])


class ShuffledBatches(keras.utils.PyDataset):
    """Mini-batches (inputs, targets, weights) of ``batch_size`` rows of ``x``, ``y`` (n, ...) and
    ``w`` (n,), every row once per epoch in the order :meth:`order` draws from ``seed`` for that
    epoch (the last batch may be shorter).

    Keras calls :meth:`on_epoch_begin` before each epoch (1, 2, ...); batch ``i`` of the current
    epoch is rows ``order(epoch)[i * batch_size : (i + 1) * batch_size]``, read when asked for.
    """

    def __init__(self, x: Inputs, y: np.ndarray, w: np.ndarray, batch_size: int, seed: int):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y, self.w = x, np.asarray(y), np.asarray(w)
        self.n = n_rows(x)
        if len(self.y) != self.n or len(self.w) != self.n:
            raise ValueError(
                f"inputs, targets and weights must have the same rows: {self.n}, {len(self.y)}, {len(self.w)}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.epoch = 0
        self._order = self.order(self.epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The rows (n,) in the order of ``epoch``: a permutation seeded by (seed, epoch)."""
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def on_epoch_begin(self) -> None:
        self.epoch += 1
        self._order = self.order(self.epoch)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __getitem__(self, index: int) -> tuple:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        return read_rows(self.x, rows), self.y[rows], self.w[rows]
