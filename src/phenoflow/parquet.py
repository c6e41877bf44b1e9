"""Parquet files written row group by row group and read batch by batch, so that a stage's
memory is bounded by one row group or batch whatever the number of rows.

A writer regroups the pieces it is given (e.g. the kept events of each input chunk) into row
groups of a fixed number of rows; a file of no more rows is one row group, written byte for byte
as the one-shot writer (``ak.to_parquet``, ``DataFrame.to_parquet(path, index=False)``) writes it.
The reader yields a fixed number of records at a time, as ``ak.from_parquet`` reads them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class _Rows(Protocol):
    def __len__(self) -> int: ...
    def __getitem__(self, rows: slice, /) -> _Rows: ...


R = TypeVar("R", bound=_Rows)


def regroup(pieces: Iterable[R], size: int, concatenate: Callable[[list[R]], R], max_pieces: int = 64) -> Iterator[R]:
    """The rows of ``pieces``, in order, as groups of exactly ``size`` rows and a last one of the
    rest; ``concatenate`` joins a list of pieces or slices of them (``ak.concatenate``, ``pd.concat``).

    Holds the pieces of one group and the rest of the piece that completed the previous one,
    at most ``max_pieces`` of them: more are joined into one as they come (a few rows of each of
    many input chunks cost more in per-piece overhead than in rows). A group is cut only once a
    row beyond it arrives, so that if all pieces together hold ``size`` rows or fewer, the one
    group holds the rows of all pieces, empty pieces too (pieces without rows give one empty
    group); no pieces give none.
    """
    if size < 1:
        raise ValueError(f"row group size must be positive, got {size}")
    held: list[R] = []
    n_held = 0
    for piece in pieces:
        if len(held) == max_pieces:
            held = [concatenate(held)]
        start = 0
        while n_held + len(piece) - start > size:  # the piece completes a group, with rows to spare
            stop = start + size - n_held
            yield concatenate([*held, piece[start:stop]])
            held, n_held, start = [], 0, stop
        held.append(piece if start == 0 else piece[start:])
        n_held += len(piece) - start
    if held:
        yield concatenate(held)


def write_awkward(path: str | os.PathLike, pieces: Iterable[ak.Array], row_group_rows: int) -> int:
    """Write the records of ``pieces`` to one Parquet file in row groups of ``row_group_rows``
    records, as ``ak.to_parquet`` with its default options writes their concatenation (the same
    Arrow conversion and writer options; the same bytes if it is one row group); returns the
    number of records. Every group must convert to the first one's Arrow schema (records of one
    type do); no pieces at all (not even an empty one) is a ValueError.

    Unlike ``ak.to_parquet_row_groups``, which keeps the first and the previous group alive while
    the next one is made, this holds one group at a time.
    """
    return _write(path, regroup(pieces, row_group_rows, ak.concatenate), _awkward_table, _AK_TO_PARQUET)


def write_pandas(path: str | os.PathLike, frames: Iterable[pd.DataFrame], row_group_rows: int) -> int:
    """Write the rows of ``frames`` (same columns and dtypes; categorical columns with the same
    categories) to one Parquet file in row groups of ``row_group_rows`` rows, as
    ``DataFrame.to_parquet(path, index=False)`` (pyarrow, snappy) writes their concatenation;
    returns the number of rows. A frame whose columns convert to another Arrow schema than the
    first frame's, or no frames at all (an empty table needs one frame of no rows), is a ValueError."""
    groups = regroup(frames, row_group_rows, lambda held: pd.concat(held, ignore_index=True))
    return _write(path, groups, lambda group: pa.Table.from_pandas(group, preserve_index=False), {"compression": "snappy"})  # fmt: skip


#: The ParquetWriter options of ak.to_parquet's defaults.
_AK_TO_PARQUET = dict(
    version="2.6",
    use_dictionary=False,
    compression="zstd",
    write_statistics=True,
    use_byte_stream_split=False,
    data_page_version="1.0",
    use_compliant_nested_type=False,
)


def _awkward_table(array: ak.Array) -> pa.Table:
    """The Arrow table ``ak.to_parquet`` (default options) writes of ``array``: awkward's extension
    types converted to native Arrow types that keep awkward's metadata."""
    from awkward._connect.pyarrow import convert_awkward_arrow_table_to_native

    if array.attrs:
        raise ValueError("arrays with attrs are not written row group by row group")  # ak.to_parquet stores them
    table = ak.to_arrow_table(array, string_to32=True, bytestring_to32=True, extensionarray=True, count_nulls=True)
    return convert_awkward_arrow_table_to_native(table)


def _write(path: str | os.PathLike, groups: Iterator[R], to_arrow: Callable[[R], pa.Table], options: dict) -> int:
    """Write each of ``groups`` as one row group of the Parquet file ``path`` (``ParquetWriter``
    ``options``), holding one group at a time; returns the number of rows."""
    writer = None
    written = 0
    try:
        for group in groups:
            table = to_arrow(group)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, **options)
            elif not table.schema.equals(writer.schema):
                raise ValueError(f"{path}: rows {written}+ have the columns\n{table.schema}\nnot those of the first rows\n{writer.schema}")  # fmt: skip
            writer.write_table(table)
            written += len(group)
            del group, table  # before the next group is gathered
        if writer is None:
            raise ValueError(f"{path}: nothing to write (no pieces, not even an empty one)")
    finally:
        if writer is not None:
            writer.close()
    return written


def n_rows(path: str | os.PathLike) -> int:
    """The number of rows of a Parquet file, from its footer (a file that is not Parquet: ValueError)."""
    with _open(path) as file:
        return file.metadata.num_rows


def field_names(path: str | os.PathLike) -> list[str]:
    """The top-level columns (record fields) of a Parquet file, from its footer (a file that is not
    Parquet: ValueError)."""
    with _open(path) as file:
        return list(file.schema_arrow.names)


def read_awkward(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    columns: Sequence[str] | None = None,
    batch_rows: int | None = None,
) -> Iterator[ak.Array]:
    """The records of one or more Parquet files written by awkward, file after file, as
    ``ak.from_parquet`` reads them: in arrays of ``batch_rows`` records (default: one per row
    group; a batch never spans two row groups), an empty array for a file without records.
    ``columns``: the top-level fields to read (default all). A file that is not Parquet:
    ValueError naming it.

    A batch is decoded from its row group's pages (no pre-buffering of the file, one thread), so
    memory is bounded by one row group's columns and one batch (``ak.from_parquet`` decodes a
    whole row group at once, on several threads).
    """
    from awkward._connect.pyarrow import convert_native_arrow_table_to_awkward

    for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        with _open(path) as file:
            if not file.metadata.num_rows:
                yield ak.from_parquet(path, columns=columns)
                continue
            for group in range(file.metadata.num_row_groups):
                size = batch_rows or file.metadata.row_group(group).num_rows
                for batch in file.iter_batches(size, row_groups=[group], columns=columns, use_threads=False):
                    yield ak.from_arrow(convert_native_arrow_table_to_awkward(pa.Table.from_batches([batch])))


class ColumnCursor:
    """Numeric columns of a Parquet file taken in order, ``n`` rows at a time, and read
    ``batch_rows`` rows at a time: a table walked in step with another stream of its rows (e.g.
    the jet images of the feature table's rows), holding one batch of it."""

    def __init__(self, path: str | os.PathLike, columns: Sequence[str], batch_rows: int = 2**14) -> None:
        self.path, self.columns = path, list(columns)
        file = _open(path)
        self.n_rows = file.metadata.num_rows
        self.taken = 0
        self._batches = file.iter_batches(batch_rows, columns=self.columns, use_threads=False)
        self._batch: dict[str, np.ndarray] = {}
        self._used = self._length = 0

    def take(self, n: int) -> dict[str, np.ndarray]:
        """The next ``n`` rows: per column an array (n,); rows beyond the file are a ValueError."""
        if n > self.n_rows - self.taken:
            raise ValueError(f"{self.path}: {self.taken + n} rows asked of its {self.n_rows}")
        parts = []
        while n:
            if self._used == self._length:
                batch = next(self._batches)
                self._batch = {c: batch.column(c).to_numpy() for c in self.columns}
                self._used, self._length = 0, batch.num_rows
            k = min(n, self._length - self._used)
            parts.append({c: values[self._used : self._used + k] for c, values in self._batch.items()})
            self._used, self.taken, n = self._used + k, self.taken + k, n - k
        return {c: np.concatenate([part[c] for part in parts]) if parts else np.empty(0) for c in self.columns}


def _open(path: str | os.PathLike) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path, pre_buffer=False)
    except (OSError, pa.ArrowException) as err:
        raise ValueError(f"{path}: not a readable Parquet file ({err})") from err
