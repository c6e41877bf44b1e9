"""The feature table written row group by row group from the skim files (write_feature_table)."""

import awkward as ak
import pandas as pd
import pyarrow.parquet as pq
import pytest

from phenoflow.events.skim import WeightNorm, skim
from phenoflow.features.classes import classes_from_config
from phenoflow.features.datasets import BATCH_EVENTS, ROW_GROUP_ROWS, feature_table, write_feature_table, write_table

NAMES = ["fatjet0.pt", "fatjet0.tau21", "fatjet0.msoftdrop", "met", "fatjet0,met.delta_phi", "ht", "n_jets"]
CLASSES = classes_from_config(
    {"sig": {"role": "signal"}, "bkg": {"role": "background"}, "gone": {"role": "background"}}
)


@pytest.fixture
def skims(ntuples, tmp_path):
    """Skim files of three processes from the toy ntuples: 'sig' (all events), 'bkg' (MET > 20, in
    row groups of 9 events), 'gone' (no event left); and the events of each."""
    cuts = {"sig": [], "bkg": ["met > 20"], "gone": ["met > 1e9"]}
    paths, events = {}, {}
    for process, chunks in (("sig", ntuples), ("bkg", ntuples[::-1]), ("gone", ntuples)):
        paths[process] = tmp_path / f"{process}.parquet"
        norm = dict(
            norm=WeightNorm(sigma_pb=2.0, sum_gen_weights=100.0, luminosity_fb=3.0), process=process, allow_empty=True
        )
        skim(chunks, cuts[process], **norm, constituents=True, write_to=paths[process], row_group_events=9)
        events[process] = skim(chunks, cuts[process], **norm, constituents=True)[0]
    assert len(events["gone"]) == 0 and pq.read_metadata(paths["bkg"]).num_row_groups > 2
    return paths, events


def test_streamed_feature_table_is_the_table_of_all_events(skims, tmp_path):
    paths, events = skims
    table = feature_table(events, CLASSES, NAMES, -999.0)
    assert set(table["process"].cat.categories) == {"sig", "bkg"}  # no row of 'gone'
    write_table(tmp_path / "one_shot.parquet", table)
    for size, batch in ((ROW_GROUP_ROWS, BATCH_EVENTS), (len(table), 4), (13, 5)):
        path = tmp_path / f"features{size}.parquet"
        rows = write_feature_table(path, paths, CLASSES, NAMES, -999.0, row_group_rows=size, batch_events=batch)
        assert pq.read_metadata(path).num_row_groups == -(-len(table) // size)
        for process in paths:  # what the table holds of each process, as pandas computes it of the table
            of = table[table["process"] == process]
            assert rows[process].rows == len(of) and rows[process].expected_events == float(of["weight"].sum())
            assert (rows[process].label, rows[process].class_index) == (
                (int(of["label"].iloc[0]), int(of["class"].iloc[0])) if len(of) else (None, None)
            )
        pd.testing.assert_frame_equal(pd.read_parquet(path), table, check_exact=True)
        if size >= len(table):  # one row group: the bytes of the one-shot writer, whatever the batches
            assert path.read_bytes() == (tmp_path / "one_shot.parquet").read_bytes()


def test_streamed_feature_rows_follow_the_processes_and_their_events(skims, tmp_path):
    paths, events = skims
    write_feature_table(tmp_path / "f.parquet", paths, CLASSES, ["met"], -999.0, row_group_rows=13)
    table = pd.read_parquet(tmp_path / "f.parquet")
    n_sig = len(events["sig"])
    assert list(table["process"].astype(str)) == ["sig"] * n_sig + ["bkg"] * len(events["bkg"])
    assert list(table["label"]) == [1] * n_sig + [0] * len(events["bkg"])
    assert table["met"].tolist() == ak.to_list(events["sig"].met.pt) + ak.to_list(events["bkg"].met.pt)
    assert table["weight"].sum() == pytest.approx(ak.sum(events["sig"].weight_phys) + ak.sum(events["bkg"].weight_phys))
