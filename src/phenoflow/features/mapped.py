"""Rows of a memory-mapped array, read only when a batch of them is needed: how the networks
train and score on jet images that outgrow the memory (config ``training_batches: mapped``).

A :class:`MappedRows` is a list of row indices into an array opened with
``np.load(path, mmap_mode="r")``. Indexing it gives another such list (nothing is read);
``np.asarray`` reads its rows. The rows of a file-backed map are read with positional reads
(``os.preadv``) from its file into a fresh array, one read per run of consecutive rows, rather
than through the map: touching the map makes the kernel map the whole page-cache folio around
each row into the process (up to 2 MB for a 4 kB image, on Linux 6), so that a batch of 128
random rows could hold some 200 MB resident and an epoch the whole file. Read so, the images
stay in the page cache -- shared, and dropped first when memory runs short -- and the resident
set holds one batch of them.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

#: How a network gets its rows: all of them copied into memory, or read batch by batch from the map.
BATCH_SOURCES: tuple[str, ...] = ("memory", "mapped")


def check_batch_source(batches: str) -> None:
    """Raise a ValueError unless ``batches`` is one of :data:`BATCH_SOURCES`."""
    if batches not in BATCH_SOURCES:
        raise ValueError(f"unknown batch source '{batches}' (expected one of {', '.join(BATCH_SOURCES)})")


class _Map:
    """One array and how to read its rows: from its file if it is the whole C-ordered map of a
    ``.npy`` file, by indexing otherwise (an array in memory)."""

    def __init__(self, array: np.ndarray):
        self.array = array
        whole_file = isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap) and array.filename
        self.file = array.filename if whole_file and array.flags.c_contiguous and hasattr(os, "preadv") else None

    def read(self, rows: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Rows ``rows`` (n,) of the array as ``dtype``, in memory."""
        if self.file is None:
            return np.asarray(self.array[rows], dtype=dtype)
        order = None if np.all(np.diff(rows) >= 0) else np.argsort(rows, kind="stable")
        ordered = rows if order is None else rows[order]
        out = np.empty((len(rows), *self.array.shape[1:]), self.array.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8)  # one row of bytes per row
        starts = np.flatnonzero(np.diff(ordered, prepend=-2) != 1)  # runs of consecutive rows
        fd = os.open(self.file, os.O_RDONLY)
        try:
            for start, stop in zip(starts, [*starts[1:], len(rows)]):
                wanted = flat[start:stop]
                offset = self.array.offset + int(ordered[start]) * flat.shape[1]
                if os.preadv(fd, [wanted], offset) != wanted.nbytes:
                    raise OSError(f"{self.file}: short read at byte {offset}; the file changed or is truncated")
        finally:
            os.close(fd)
        if order is not None:  # back to the order asked for
            out[order] = out.copy()
        return out.astype(dtype, copy=False)


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
