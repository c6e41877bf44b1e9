import numpy as np
import pandas as pd
import pytest

from phenoflow.features.datasets import balanced_weights, full_luminosity_weights, split_indices


def test_split_is_disjoint_complete_stratified_and_seeded():
    processes = np.array(["a"] * 100 + ["b"] * 50)
    fractions = {"train": 0.5, "val": 0.2, "test": 0.3}
    split = split_indices(processes, fractions, seed=1)
    rows = np.concatenate(list(split.values()))
    assert len(rows) == 150 and len(np.unique(rows)) == 150
    assert (processes[split["test"]] == "a").sum() == 30 and (processes[split["test"]] == "b").sum() == 15
    again = split_indices(processes, fractions, seed=1)
    assert all(np.array_equal(split[k], again[k]) for k in split)
    other = split_indices(processes, fractions, seed=2)
    assert not np.array_equal(split["test"], other["test"])


def test_split_fractions_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(np.array(["a"]), {"train": 0.5, "val": 0.5, "test": 0.5}, 0)


def test_full_luminosity_weights_restore_process_yields():
    table = pd.DataFrame({"process": ["a"] * 4 + ["b"] * 2, "weight": [1.0, 1.0, 1.0, 1.0, 10.0, 30.0]})
    rows = np.array([0, 5])
    w = full_luminosity_weights(table, rows)
    np.testing.assert_allclose(w, [4.0, 40.0])


def test_balanced_weights_give_equal_class_totals():
    w = balanced_weights(np.array([1.0, 3.0, 100.0, 200.0, 300.0]), np.array([1, 1, 0, 0, 0]))
    assert w[:2].sum() == pytest.approx(2.5) and w[2:].sum() == pytest.approx(2.5)
    assert w[1] / w[0] == pytest.approx(3.0)


def test_process_balanced_weights_give_equal_process_shares():
    labels = np.array([1, 1, 0, 0, 0])
    processes = np.array(["s", "s", "qcd", "zjets", "zjets"])
    w = balanced_weights(np.array([1.0, 1.0, 1e6, 1.0, 3.0]), labels, processes)
    assert w[:2].sum() == pytest.approx(2.5) and w[2:].sum() == pytest.approx(2.5)
    assert w[2] == pytest.approx(1.25) and w[3:].sum() == pytest.approx(1.25)
    assert w[4] / w[3] == pytest.approx(3.0)


def test_full_luminosity_weights_keep_signs_and_restore_signed_yields():
    # process a: +3 -1 +2 +1 (yield 5); rows 0, 1, 3 sum to 3 -> scale 5/3, signs kept
    table = pd.DataFrame({"process": ["a"] * 4 + ["b"] * 2, "weight": [3.0, -1.0, 2.0, 1.0, 10.0, 30.0]})
    w = full_luminosity_weights(table, np.array([0, 1, 3, 4]))
    np.testing.assert_allclose(w, [5.0, -5.0 / 3.0, 5.0 / 3.0, 40.0])
    assert w[:3].sum() == pytest.approx(5.0)


def test_full_luminosity_weights_refuse_a_split_whose_signed_yield_is_not_positive():
    table = pd.DataFrame({"process": ["a"] * 3 + ["b"], "weight": [3.0, -1.0, 2.0, 1.0]})
    with pytest.raises(ValueError, match=r"a: -1 of 4 expected events"):
        full_luminosity_weights(table, np.array([1, 3]))


def test_balanced_weights_train_on_absolute_weights():
    # NLO-like signal 2, -1, 1 -> |w| = 2, 1, 1 (sum 4); background 1, 3
    labels = np.array([1, 1, 1, 0, 0])
    w = balanced_weights(np.array([2.0, -1.0, 1.0, 1.0, 3.0]), labels, np.array(["s", "s", "s", "b", "b"]))
    assert (w >= 0).all()
    np.testing.assert_allclose(w, [2.5 * 2 / 4, 2.5 / 4, 2.5 / 4, 2.5 / 4, 2.5 * 3 / 4])


def test_split_arrays_give_each_model_its_own_features_and_the_images_beside_them(tmp_path):
    """A classifier instance reads only its features; with images its inputs are the images
    alone (no features) or both, rows aligned."""
    from phenoflow.features.datasets import load_split_arrays
    from phenoflow.io import write_json

    n = 10
    table = pd.DataFrame({"process": ["s"] * 5 + ["b"] * 5, "label": [1] * 5 + [0] * 5, "class": [1] * 5 + [0] * 5,
                          "weight": np.ones(n), "met": np.arange(n, dtype=float), "ht": 10.0 * np.arange(n)})  # fmt: skip
    table.to_parquet(tmp_path / "features.parquet")
    write_json(tmp_path / "split.json", {"indices": {"train": [0, 1, 5, 6], "val": [2, 7], "test": [3, 4, 8, 9]}})
    images = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 3, 3), np.float32)
    np.save(tmp_path / "images.npy", images)
    paths = (tmp_path / "features.parquet", tmp_path / "split.json")
    (test,) = load_split_arrays(*paths, ["ht"], ["test"])
    np.testing.assert_array_equal(test.inputs, [[30.0], [40.0], [80.0], [90.0]])
    (test,) = load_split_arrays(*paths, [], ["test"], images_path=tmp_path / "images.npy")
    assert test.x.shape == (4, 0) and test.inputs.shape == (4, 3, 3)
    np.testing.assert_array_equal(test.inputs[:, 0, 0], [3, 4, 8, 9])
    (test,) = load_split_arrays(*paths, ["met", "ht"], ["test"], images_path=tmp_path / "images.npy")
    assert set(test.inputs) == {"images", "features"}
    np.testing.assert_array_equal(test.inputs["features"][:, 0], test.inputs["images"][:, 0, 0])
