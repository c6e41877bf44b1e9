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


# ------------------------------------------------------------------------- theory variations


@pytest.fixture
def varied_skims(tmp_path):
    """Skim files of 'sig' (variations up and down: generator weights x 1.1 and x 0.8) and 'bkg'
    (variation up: x 1.25 in chunk 0, x 0.75 in chunk 1), 50 toy events a chunk, MET > 20."""
    import numpy as np
    from conftest import CARD, _toy_particles

    from phenoflow.detector.card import load_card
    from phenoflow.detector.ntuple import delphes_branches, write_ntuple
    from phenoflow.detector.simulation import simulate

    factors = {"sig": [[1.1, 0.8], [1.1, 0.8]], "bkg": [[1.25], [0.75]]}
    names = {"sig": ("up", "down"), "bkg": ("up",)}
    paths = {}
    for process, rows in factors.items():
        chunks = []
        for i, row in enumerate(rows):
            objects = simulate(_toy_particles(50, i), load_card(CARD), seed=i)
            chunks.append(tmp_path / f"{process}{i}.root")
            branches = delphes_branches(objects, np.ones(50), 2.0, 0.1, variation_weights=np.tile(row, (50, 1)))
            write_ntuple(chunks[-1], branches)
        paths[process] = tmp_path / f"{process}.parquet"
        norm = WeightNorm(2.0, 100.0, 3.0, names[process])
        skim(chunks, ["met > 20"], norm, process, write_to=paths[process], row_group_events=9)
    return paths


def test_feature_table_carries_each_variations_weights_and_the_nominal_where_a_process_lacks_it(varied_skims, tmp_path):
    import numpy as np

    from phenoflow.features.datasets import feature_metadata

    paths = varied_skims
    rows = write_feature_table(
        tmp_path / "f.parquet", paths, CLASSES, ["met"], -999.0, row_group_rows=13, batch_events=7
    )
    table = pd.read_parquet(tmp_path / "f.parquet")
    assert list(table.columns) == ["process", "label", "class", "weight", "weight:up", "weight:down", "met"]
    sig, bkg = (table[table["process"] == p] for p in ("sig", "bkg"))
    # 2 pb x 3000 pb^-1 / 100 = 60 events per unit of generator weight
    np.testing.assert_allclose(sig["weight"], 60.0)
    np.testing.assert_allclose(sig["weight:up"], 66.0)
    np.testing.assert_allclose(sig["weight:down"], 48.0)
    assert set(np.round(bkg["weight:up"], 9)) <= {75.0, 45.0} and len(set(np.round(bkg["weight:up"], 9))) == 2
    assert bkg["weight:down"].tolist() == bkg["weight"].tolist()  # bkg has no 'down': no change
    assert (rows["sig"].variations, rows["bkg"].variations) == (("up", "down"), ("up",))
    # the same table held in memory, from the events themselves
    events = {p: ak.from_parquet(path) for p, path in paths.items()}
    pd.testing.assert_frame_equal(feature_table(events, CLASSES, ["met"], -999.0), table, check_exact=True)
    config = {"processes": {p: {"role": "signal" if p == "sig" else "background"} for p in paths},
              "luminosity_fb": 3.0, "selection": {"cuts": ["met > 20"]}, "seed": 1}  # fmt: skip
    summaries = {p: {"sigma_pb": 2.0, "sigma_err_pb": 0.1, "n_events": 100} for p in paths}
    meta = feature_metadata(rows, ["met"], CLASSES.names, summaries, config, "now", [])
    assert "of sig, bkg" in meta["columns"]["weight:up"] and "of sig (" in meta["columns"]["weight:down"]
    assert "nominal weight for the other processes" in meta["columns"]["weight:down"]
    assert meta["processes"]["bkg"]["variations"] == ["up"] and meta["processes"]["sig"]["variations"] == ["up", "down"]


def test_a_table_without_variations_has_no_variation_columns(skims, tmp_path):
    paths, _ = skims
    rows = write_feature_table(tmp_path / "f.parquet", paths, CLASSES, ["met"], -999.0)
    assert list(pd.read_parquet(tmp_path / "f.parquet").columns) == ["process", "label", "class", "weight", "met"]
    assert all(r.variations == () for r in rows.values())
