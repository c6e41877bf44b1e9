"""The batch sources of the networks (config training_batches): rows of the memory-mapped images
read only when needed, and the seeded mini-batches the mapped training reads."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from phenoflow.features.mapped import MappedRows


@pytest.fixture
def npy(tmp_path):
    """A (20, 2, 3) float64 array saved as .npy, row i filled with i + (pixel index) / 8 (exact in float32)."""
    array = np.arange(20)[:, None, None] + np.arange(6).reshape(2, 3) / 8
    path = tmp_path / "images.npy"
    np.save(path, array)
    return path, array


def test_mapped_rows_select_without_reading_and_read_the_rows_asked_for(npy):
    path, array = npy
    rows = MappedRows.load(path, np.float32)
    assert rows.shape == (20, 2, 3) and rows.ndim == 3 and len(rows) == 20 and rows.dtype == np.float32
    picked = rows[np.array([7, 2, 2, 19])]  # an index array, repeats allowed: nothing read yet
    assert isinstance(picked, MappedRows) and picked.shape == (4, 2, 3)
    np.testing.assert_array_equal(np.asarray(picked), array[[7, 2, 2, 19]].astype(np.float32))
    assert np.asarray(picked).dtype == np.float32
    # a slice of a mask of a selection is the rows of the file it names
    mask = np.zeros(20, bool)
    mask[[3, 5, 8, 13]] = True
    np.testing.assert_array_equal(np.asarray(rows[mask][1:]), array[[5, 8, 13]])
    np.testing.assert_array_equal(rows[5], array[5])  # an integer reads one row
    np.testing.assert_array_equal(rows[-1], array[19])
    assert rows[np.array([], dtype=np.int64)].shape == (0, 2, 3)
    as64 = rows.astype(np.float64)
    np.testing.assert_array_equal(np.asarray(as64[[0, 1]]), array[:2])
    # a view into the map (not the whole file) is read by indexing it, at its own rows
    view = MappedRows(np.load(path, mmap_mode="r")[5:])
    np.testing.assert_array_equal(np.asarray(view[[0, 14, 3]]), array[[5, 19, 8]])
    np.testing.assert_array_equal(np.asarray(MappedRows(array)[[4, 1]]), array[[4, 1]])  # an array in memory


def test_mapped_rows_refuse_rows_outside_the_file(npy):
    path, _ = npy
    with pytest.raises(IndexError, match=r"row indices must lie in \[0, 20\), got 3\.\.20"):
        MappedRows(np.load(path, mmap_mode="r"), np.array([3, 20]))
    with pytest.raises(ValueError, match=r"row indices must have shape \(n,\)"):
        MappedRows(np.load(path, mmap_mode="r"), np.zeros((2, 2), int))


def _resident_mb() -> float:
    """The resident set (VmRSS) of this process, MB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return float(line.split()[1]) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_reading_every_row_of_the_map_leaves_the_resident_set_flat(tmp_path):
    """Batch by batch through 48 MB of 4 kB images, in a random order: read from the file, the
    resident set does not grow; read through the map, by about the whole file (each row touched
    maps the page-cache folio around it)."""
    path = tmp_path / "big.npy"
    np.save(path, np.ones((12288, 32, 32), np.float32))  # 4 kB per row, 48 MB
    order = np.random.default_rng(0).permutation(12288)

    def growth(through_map: bool) -> float:
        rows = MappedRows.load(path)
        if through_map:
            rows._map.file = None  # read by indexing the map instead
        before, total, peak = _resident_mb(), 0.0, 0.0
        for start in range(0, len(rows), 256):
            total += float(np.asarray(rows[order[start : start + 256]]).sum())
            peak = max(peak, _resident_mb() - before)
        assert total == 12288 * 32 * 32
        return peak

    assert growth(through_map=False) < 8
    assert growth(through_map=True) > 24  # the same reads through the map: the check can fail


def test_shuffled_batches_give_every_row_once_per_epoch_in_a_seeded_order(npy):
    from phenoflow.models.batches import ShuffledBatches

    path, array = npy
    x = MappedRows.load(path, np.float32)
    y, w = np.arange(20) % 2, np.linspace(0.5, 2.0, 20)
    batches = ShuffledBatches(x, y, w, batch_size=6, seed=3)
    assert len(batches) == 4  # 6 + 6 + 6 + 2

    def epoch(source):
        source.on_epoch_begin()  # as Keras, before each epoch
        return [source[i] for i in range(len(source))]

    orders = []
    for _ in range(3):
        got = epoch(batches)
        assert [len(b[1]) for b in got] == [6, 6, 6, 2]
        images = np.concatenate([b[0] for b in got])
        rows = images[:, 0, 0].astype(int)  # row i holds i at pixel (0, 0)
        np.testing.assert_array_equal(np.sort(rows), np.arange(20))  # every row once
        np.testing.assert_array_equal(images, array[rows].astype(np.float32))  # the rows themselves
        np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y[rows])
        np.testing.assert_array_equal(np.concatenate([b[2] for b in got]), w[rows])
        orders.append(rows)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    again = ShuffledBatches(x, y, w, batch_size=6, seed=3)  # the same seed: the same orders
    for rows in orders:
        np.testing.assert_array_equal(np.concatenate([b[0] for b in epoch(again)])[:, 0, 0], rows)
    other = ShuffledBatches(x, y, w, batch_size=6, seed=4)
    assert not np.array_equal(np.concatenate([b[0] for b in epoch(other)])[:, 0, 0], orders[0])
    with pytest.raises(IndexError, match="batch 4 of 4"):
        batches[4]


def test_shuffled_batches_of_named_inputs_equal_the_in_memory_rows(npy):
    """Mapped images beside in-memory features: each batch holds both of the same rows, equal
    to the in-memory arrays at those rows."""
    from phenoflow.models.batches import ShuffledBatches

    path, array = npy
    features = np.c_[np.arange(20.0), -np.arange(20.0)].astype(np.float32)
    x = {"images": MappedRows.load(path, np.float32), "features": features}
    batches = ShuffledBatches(x, np.ones(20), np.ones(20), batch_size=8, seed=0)
    batches.on_epoch_begin()
    order = batches.order(1)
    for i in range(len(batches)):
        inputs, _, _ = batches[i]
        rows = order[8 * i : 8 * (i + 1)]
        assert set(inputs) == {"images", "features"}
        np.testing.assert_array_equal(inputs["images"], array[rows].astype(np.float32))
        np.testing.assert_array_equal(inputs["features"], features[rows])
    with pytest.raises(ValueError, match="same rows: 20, 19, 20"):
        ShuffledBatches(x, np.ones(19), np.ones(20), batch_size=8, seed=0)


@pytest.fixture
def analysis(tmp_path):
    """A feature table of 12 rows (6 signal, 6 background), a 2-fold split file and images whose
    row i is filled with i."""
    from phenoflow.io import write_json

    n = 12
    table = pd.DataFrame({"process": ["s"] * 6 + ["b"] * 6, "label": [1] * 6 + [0] * 6, "class": [1] * 6 + [0] * 6,
                          "weight": np.linspace(1.0, 2.0, n), "met": np.arange(n, dtype=float)})  # fmt: skip
    table.to_parquet(tmp_path / "features.parquet")
    sets = [
        {"train": [0, 1, 6, 7], "val": [2, 8], "test": [3, 4, 5, 9, 10, 11]},
        {"train": [3, 4, 9, 10], "val": [5, 11], "test": [0, 1, 2, 6, 7, 8]},
    ]
    write_json(tmp_path / "split.json", {"sets": sets})
    np.save(tmp_path / "images.npy", np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 4, 4), np.float32))
    return tmp_path / "features.parquet", tmp_path / "split.json", tmp_path / "images.npy"


def test_mapped_split_arrays_equal_the_in_memory_ones(analysis):
    from phenoflow.features.datasets import load_scored_arrays, load_split_arrays

    features, split, images = analysis
    for fold in (0, 1):
        memory = load_split_arrays(features, split, ["met"], ("train", "val"), "process", images, fold)
        maps = load_split_arrays(features, split, ["met"], ("train", "val"), "process", images, fold, "mapped")
        for a, b in zip(memory, maps):
            assert isinstance(b.images, MappedRows) and isinstance(a.images, np.ndarray)
            np.testing.assert_array_equal(np.asarray(b.images), a.images)
            for name in ("x", "y", "w", "target", "rows", "fold"):
                np.testing.assert_array_equal(getattr(b, name), getattr(a, name))
            np.testing.assert_array_equal(np.asarray(b.inputs["images"]), a.inputs["images"])
    scored = load_scored_arrays(features, split, [], images, "mapped")
    assert isinstance(scored.inputs, MappedRows)  # the image alone
    np.testing.assert_array_equal(np.asarray(scored.inputs)[:, 0, 0], np.arange(12))
    picked = scored.take(scored.fold == 1)  # stays in the map
    assert isinstance(picked.images, MappedRows)
    np.testing.assert_array_equal(np.asarray(picked.images)[:, 0, 0], [0, 1, 2, 6, 7, 8])


def test_an_unknown_batch_source_is_refused(analysis):
    from phenoflow.features.datasets import load_split_arrays
    from phenoflow.models.mlp import MLP

    with pytest.raises(ValueError, match=r"unknown batch source 'disk' \(expected one of memory, mapped\)"):
        load_split_arrays(*analysis[:2], ["met"], ("train",), None, analysis[2], 0, "disk")
    with pytest.raises(ValueError, match="unknown batch source 'disk'"):
        MLP(seed=1, batches="disk")
