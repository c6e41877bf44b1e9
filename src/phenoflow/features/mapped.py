"""Rows of a memory-mapped array, read only when a batch of them is needed: how the networks
train and score on jet images that outgrow the memory (config ``training_batches: mapped``).

A :class:`MappedRows` is a list of row indices into an array opened with
``np.load(path, mmap_mode="r")``. Indexing it gives another such list (nothing is read);
``np.asarray`` reads its rows. The pages of the file a read touched are dropped from the
process's resident set every :data:`RELEASE_BYTES` read (the kernel keeps them in its page
cache), so the memory of a job that reads the whole file batch by batch stays flat.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

#: How a network gets its rows: all of them copied into memory, or read batch by batch from the map.
BATCH_SOURCES: tuple[str, ...] = ("memory", "mapped")
#: Bytes read through one map after which its pages are released from the resident set.
RELEASE_BYTES = 64 * 2**20


def check_batch_source(batches: str) -> None:
    """Raise a ValueError unless ``batches`` is one of :data:`BATCH_SOURCES`."""
    if batches not in BATCH_SOURCES:
        raise ValueError(f"unknown batch source '{batches}' (expected one of {', '.join(BATCH_SOURCES)})")


class _Map:
    """One memory-mapped array and the bytes read through it since its pages were last released."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.itemsize
        self.unreleased = 0

    def read(self, rows: np.ndarray, dtype: np.dtype) -> np.ndarray:
        out = np.asarray(self.array[rows], dtype=dtype)
        self.unreleased += len(rows) * self.row_bytes
        if self.unreleased >= RELEASE_BYTES:
            self.release()
        return out

    def release(self) -> None:
        """Drop the mapped pages from the resident set (a later read maps them again from the
        page cache or the file); nothing to do for an array in memory."""
        self.unreleased = 0
        if isinstance(self.array.base, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            self.array.base.madvise(mmap.MADV_DONTNEED)


class MappedRows:
    """Rows ``rows`` (n,) of an array ``source`` (N, ...) -- typically memory-mapped -- read as
    ``dtype`` (default the source's) only when converted with ``np.asarray``.

    ``shape`` is (n, ...). Indexing with a slice, a boolean mask (n,) or an index array selects
    rows without reading them; an integer index reads that one row.
    """

    def __init__(self, source: np.ndarray | _Map, rows: np.ndarray | None = None, dtype: np.dtype | None = None):
        self._map = source if isinstance(source, _Map) else _Map(source)
        array = self._map.array
        if array.ndim < 1:
            raise ValueError(f"mapped rows need an array of at least one dimension, got shape {array.shape}")
        self.rows = np.arange(len(array)) if rows is None else np.asarray(rows, dtype=np.int64)
        if self.rows.ndim != 1:
            raise ValueError(f"row indices must have shape (n,), got {self.rows.shape}")
        if len(self.rows) and (self.rows.min() < 0 or self.rows.max() >= len(array)):
            raise IndexError(f"row indices must lie in [0, {len(array)}), got {self.rows.min()}..{self.rows.max()}")
        self.dtype = np.dtype(array.dtype if dtype is None else dtype)

    @classmethod
    def load(cls, path: str | os.PathLike, dtype: np.dtype | None = None) -> MappedRows:
        """Every row of the ``.npy`` file ``path``, memory-mapped read-only."""
        return cls(np.load(path, mmap_mode="r"), dtype=dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self._map.array.shape[1:])

    @property
    def ndim(self) -> int:
        return self._map.array.ndim

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index) -> MappedRows | np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self._map.read(self.rows[index : index + 1 or None], self.dtype)[0]
        return MappedRows(self._map, self.rows[index], self.dtype)

    def astype(self, dtype: np.dtype) -> MappedRows:
        """The same rows, read as ``dtype``."""
        return MappedRows(self._map, self.rows, dtype)

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        out = self._map.read(self.rows, self.dtype)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"MappedRows(shape={self.shape}, dtype={self.dtype})"
