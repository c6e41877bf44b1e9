"""Parquet written and read row group by row group (phenoflow.parquet)."""

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from phenoflow.parquet import ColumnCursor, n_rows, read_awkward, regroup, write_awkward, write_pandas


def _pieces(sizes):
    start = np.cumsum([0, *sizes])
    return [np.arange(a, b) for a, b in zip(start[:-1], start[1:])]


def test_regroup_cuts_the_rows_into_groups_of_the_size_and_the_rest():
    groups = list(regroup(_pieces([3, 0, 5, 2, 7]), 4, np.concatenate))
    assert [len(g) for g in groups] == [4, 4, 4, 4, 1]
    np.testing.assert_array_equal(np.concatenate(groups), np.arange(17))
    assert [len(g) for g in regroup(_pieces([4, 4]), 4, np.concatenate)] == [4, 4]
    assert [len(g) for g in regroup(_pieces([9]), 4, np.concatenate)] == [4, 4, 1]


def test_regroup_of_no_more_rows_than_the_size_is_one_concatenation():
    calls = []

    def concatenate(pieces):
        calls.append(len(pieces))
        return np.concatenate(pieces)

    (group,) = regroup(_pieces([3, 0, 5]), 8, concatenate)
    np.testing.assert_array_equal(group, np.arange(8))
    assert calls == [3]  # every piece, the empty one too, in one call
    (empty,) = regroup([np.zeros(0)], 8, np.concatenate)
    assert len(empty) == 0
    assert list(regroup([], 8, np.concatenate)) == []
    with pytest.raises(ValueError, match="positive"):
        list(regroup(_pieces([3]), 0, np.concatenate))


def test_regroup_joins_many_small_pieces_as_they_come():
    joined = []

    def concatenate(pieces):
        joined.append(len(pieces))
        return np.concatenate(pieces)

    groups = list(regroup(_pieces([1] * 10), 6, concatenate, max_pieces=3))
    assert [len(g) for g in groups] == [6, 4] and joined[:2] == [3, 3]  # never more than 3 held
    assert max(joined) <= 4  # the held pieces and the slice that completes a group
    np.testing.assert_array_equal(np.concatenate(groups), np.arange(10))


def _records(n, seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 4, n)
    jets = ak.zip({"pt": ak.unflatten(rng.exponential(50.0, counts.sum()), counts)}, with_name="Jet")
    return ak.zip({"weight": rng.normal(size=n), "jet": jets}, depth_limit=1)


def test_write_awkward_in_row_groups_and_read_them_back(tmp_path):
    pieces = [_records(n, seed) for seed, n in enumerate([5, 0, 11, 3])]
    whole = ak.concatenate(pieces)
    ak.to_parquet(whole, tmp_path / "one_shot.parquet")
    assert write_awkward(tmp_path / "one.parquet", pieces, 19) == 19
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "one_shot.parquet").read_bytes()
    many = [_records(1, seed) for seed in range(70)]  # beyond the pieces regroup holds: joined as they come
    write_awkward(tmp_path / "many.parquet", many, 70)
    ak.to_parquet(ak.concatenate(many), tmp_path / "many_one_shot.parquet")
    assert (tmp_path / "many.parquet").read_bytes() == (tmp_path / "many_one_shot.parquet").read_bytes()
    assert write_awkward(tmp_path / "groups.parquet", pieces, 4) == 19
    assert pq.read_metadata(tmp_path / "groups.parquet").num_row_groups == 5
    assert ak.array_equal(ak.from_parquet(tmp_path / "groups.parquet"), whole)
    assert str(ak.from_parquet(tmp_path / "groups.parquet").type) == str(whole.type)


def test_read_awkward_in_batches_reads_what_from_parquet_reads(tmp_path):
    whole = ak.concatenate([_records(n, seed) for seed, n in enumerate([5, 11, 3])])
    write_awkward(tmp_path / "groups.parquet", [whole], 8)  # row groups of 8, 8, 3
    ak.to_parquet(whole[:4], tmp_path / "small.parquet")
    files = [tmp_path / "groups.parquet", tmp_path / "small.parquet"]
    expected = ak.concatenate([ak.from_parquet(f) for f in files])
    for batch_rows, sizes in ((None, [8, 8, 3, 4]), (3, [3, 3, 2, 3, 3, 2, 3, 3, 1]), (100, [8, 8, 3, 4])):
        batches = list(read_awkward(files, batch_rows=batch_rows))
        assert [len(b) for b in batches] == sizes  # never across a row group
        read = ak.concatenate(batches)
        assert ak.array_equal(read, expected) and str(read.type) == str(expected.type)
        assert ak.all(read.jet.pt == expected.jet.pt)  # the record's name kept
    (jets,) = read_awkward(tmp_path / "small.parquet", columns=["jet"])
    assert jets.fields == ["jet"] and ak.array_equal(jets.jet, whole.jet[:4])
    assert n_rows(tmp_path / "groups.parquet") == 19


def test_read_awkward_of_a_file_without_records_gives_one_empty_array(tmp_path):
    ak.to_parquet(_records(3, 0)[:0], tmp_path / "empty.parquet")
    (empty,) = read_awkward(tmp_path / "empty.parquet", batch_rows=2)
    assert len(empty) == 0 and empty.fields == ["weight", "jet"]


def test_write_awkward_without_pieces_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"none\.parquet: nothing to write"):
        write_awkward(tmp_path / "none.parquet", [], 4)


def _frame(n, process, seed):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"process": process, "label": 1, "weight": rng.normal(size=n)}, index=pd.RangeIndex(n))
    frame["process"] = frame["process"].astype(pd.CategoricalDtype(["a", "b"]))
    return frame


def test_write_pandas_gives_the_bytes_of_to_parquet_in_one_group_and_its_rows_in_several(tmp_path):
    frames = [_frame(6, "a", 0), _frame(0, "b", 1), _frame(9, "b", 2)]
    whole = pd.concat(frames, ignore_index=True)
    whole.to_parquet(tmp_path / "one_shot.parquet", index=False)
    assert write_pandas(tmp_path / "one.parquet", frames, 15) == 15
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "one_shot.parquet").read_bytes()
    assert write_pandas(tmp_path / "groups.parquet", frames, 4) == 15
    assert pq.read_metadata(tmp_path / "groups.parquet").num_row_groups == 4
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "groups.parquet"), whole, check_exact=True)


def test_write_pandas_refuses_rows_of_other_columns_and_no_frames(tmp_path):
    other = _frame(3, "a", 1).astype({"label": np.float64})
    with pytest.raises(ValueError, match=r"bad\.parquet: rows 4\+ have the columns"):
        write_pandas(tmp_path / "bad.parquet", [_frame(5, "a", 0), other], 4)
    with pytest.raises(ValueError, match="nothing to write"):
        write_pandas(tmp_path / "none.parquet", [], 4)


def test_column_cursor_takes_the_rows_in_order_across_batches(tmp_path):
    frame = pd.DataFrame({"label": np.arange(23) % 2, "weight": np.linspace(0.0, 2.2, 23), "other": 1.0})
    write_pandas(tmp_path / "t.parquet", [frame], 10)  # row groups of 10, 10, 3
    cursor = ColumnCursor(tmp_path / "t.parquet", ["label", "weight"], batch_rows=4)
    taken = [cursor.take(n) for n in (0, 3, 9, 11)]
    assert [len(t["weight"]) for t in taken] == [0, 3, 9, 11] and cursor.taken == cursor.n_rows == 23
    for column in ("label", "weight"):
        np.testing.assert_array_equal(np.concatenate([t[column] for t in taken]), frame[column].to_numpy())
    assert set(taken[1]) == {"label", "weight"}
    with pytest.raises(ValueError, match=r"t\.parquet: 24 rows asked of its 23"):
        cursor.take(1)


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    bad = tmp_path / "skim.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match="skim.parquet: not a readable Parquet file"):
        next(read_awkward(bad))
    with pytest.raises(ValueError, match="skim.parquet"):
        n_rows(tmp_path / "skim.parquet")
