import numpy as np
import pandas as pd
import pytest

from phenoflow.features.datasets import balanced_weights
from phenoflow.features.splits import full_luminosity_weights, split_indices


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
    write_json(tmp_path / "split.json", {"sets": [{"train": [0, 1, 5, 6], "val": [2, 7], "test": [3, 4, 8, 9]}]})
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


def test_kfold_tests_every_row_once_and_never_trains_on_it():
    from phenoflow.features.splits import kfold_indices

    processes = np.array(["a"] * 101 + ["b"] * 37 + ["c"] * 3)
    sets = kfold_indices(processes, 5, 0.2, seed=7)
    assert len(sets) == 5
    tested = np.concatenate([s["test"] for s in sets])
    np.testing.assert_array_equal(np.sort(tested), np.arange(len(processes)))  # a partition
    for s in sets:
        train, val, test = (set(s[k].tolist()) for k in ("train", "val", "test"))
        assert not (train & test or val & test or train & val)
        assert train | val | test == set(range(len(processes)))  # the other folds, all used
        # stratified: each fold holds 101/5 -> 20 or 21 rows of a, 7 or 8 of b
        assert np.sum(processes[s["test"]] == "a") in (20, 21) and np.sum(processes[s["test"]] == "b") in (7, 8)
        # the validation share of each process: round(0.2 * its training-fold rows), >= 1
        n_a = len(processes[(processes == "a")]) - np.sum(processes[s["test"]] == "a")
        assert np.sum(processes[s["val"]] == "a") == round(0.2 * n_a)
        assert np.sum(processes[s["val"]] == "c") >= 1 and np.sum(processes[s["train"]] == "c") >= 1
    again = kfold_indices(processes, 5, 0.2, seed=7)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(sets, again) for k in a)
    other = kfold_indices(processes, 5, 0.2, seed=8)
    assert not np.array_equal(sets[0]["test"], other[0]["test"])
    with pytest.raises(ValueError, match="at least 2 folds"):
        kfold_indices(processes, 1, 0.2, seed=7)


def test_scored_arrays_keep_physical_weights_with_kfold_and_scale_a_fixed_test_split(tmp_path):
    """With k folds every row is scored, at its own weight: the yields are the table's (sigma L
    after the selection); one fixed split scores its test rows, scaled to the same yields."""
    from phenoflow.features.datasets import fold_weights, load_scored_arrays
    from phenoflow.features.splits import kfold_indices, split_indices
    from phenoflow.io import write_json

    n = 40
    process = np.array(["s"] * 10 + ["b"] * 30)
    weight = np.where(process == "s", 0.5, 3.0) * (1 + np.arange(n) % 3)
    table = pd.DataFrame({"process": process, "label": (process == "s").astype(int), "class": (process == "s").astype(int),
                          "weight": weight, "met": np.arange(n, dtype=float)})  # fmt: skip
    table.to_parquet(tmp_path / "features.parquet")
    write_json(tmp_path / "kfold.json", {"sets": kfold_indices(process, 4, 0.25, seed=3)})
    scored = load_scored_arrays(tmp_path / "features.parquet", tmp_path / "kfold.json", ["met"])
    np.testing.assert_array_equal(scored.rows, np.arange(n))
    np.testing.assert_array_equal(scored.w, weight)  # no scaling at all
    assert set(scored.fold) == {0, 1, 2, 3}
    # each fold alone, scaled to the full yields: per process and fold, the table's totals
    w = fold_weights(scored)
    for f in range(4):
        for p in ("s", "b"):
            rows = (scored.fold == f) & (scored.process == p)
            assert w[rows].sum() == pytest.approx(weight[process == p].sum(), rel=1e-12)
    fixed = split_indices(process, {"train": 0.5, "val": 0.2, "test": 0.3}, seed=3)
    write_json(tmp_path / "fixed.json", {"sets": [fixed]})
    scored = load_scored_arrays(tmp_path / "features.parquet", tmp_path / "fixed.json", ["met"])
    np.testing.assert_array_equal(scored.rows, fixed["test"])
    assert (scored.fold == 0).all()
    for p in ("s", "b"):
        assert scored.w[scored.process == p].sum() == pytest.approx(weight[process == p].sum(), rel=1e-12)
    frame = scored.frame(score=np.zeros(len(scored.rows)))
    assert list(frame.columns) == ["row", "fold", "process", "label", "class", "weight", "score"]


def test_a_split_file_that_tests_a_row_twice_or_is_old_is_refused(tmp_path):
    from phenoflow.features.datasets import load_scored_arrays
    from phenoflow.io import write_json

    table = pd.DataFrame({"process": ["s", "b", "b"], "label": [1, 0, 0], "class": [1, 0, 0], "weight": [1.0, 1, 1]})
    table.to_parquet(tmp_path / "features.parquet")
    twice = {"sets": [{"train": [1], "val": [2], "test": [0, 1]}, {"train": [0], "val": [2], "test": [1]}]}
    write_json(tmp_path / "split.json", twice)
    with pytest.raises(ValueError, match=r"split\.json: set 1 tests rows another set tests"):
        load_scored_arrays(tmp_path / "features.parquet", tmp_path / "split.json", [])
    write_json(tmp_path / "split.json", {"indices": {"train": [0], "val": [1], "test": [2]}})
    with pytest.raises(ValueError, match=r"split\.json: no train/val/test sets .* rerun the split rule"):
        load_scored_arrays(tmp_path / "features.parquet", tmp_path / "split.json", [])


def test_a_training_set_without_a_rare_process_is_weighted_and_a_lost_test_yield_refused(tmp_path):
    """Two selected QCD events over three folds leave one fold's training set without QCD: its
    other processes are scaled as usual. A fixed split whose test set holds none of a process
    would lose that yield: refused, naming it."""
    from phenoflow.features.datasets import load_scored_arrays
    from phenoflow.features.splits import full_luminosity_weights
    from phenoflow.io import write_json

    table = pd.DataFrame({"process": ["s", "s", "b", "b", "qcd", "qcd"], "label": [1, 1, 0, 0, 0, 0],
                          "class": [1, 1, 0, 0, 0, 0], "weight": [1.0, 3.0, 2.0, 2.0, 1e5, 3e5]})  # fmt: skip
    np.testing.assert_allclose(full_luminosity_weights(table, np.array([0, 2])), [4.0, 4.0])
    table.to_parquet(tmp_path / "features.parquet")
    write_json(tmp_path / "split.json", {"sets": [{"train": [0, 2, 4, 5], "val": [], "test": [1, 3]}]})
    with pytest.raises(ValueError, match=r"split\.json: no scored event of qcd .* use k-fold"):
        load_scored_arrays(tmp_path / "features.parquet", tmp_path / "split.json", [])


def test_scored_variation_weights_are_scaled_as_the_nominal_and_never_train(tmp_path):
    """The scores' weight:<name> columns get each row's factor of the nominal weight: 1 with k
    folds, the test split's per-process scale with one fixed split (hand values below); the
    training arrays are those of the table without them."""
    from phenoflow.features.datasets import load_scored_arrays, load_split_arrays
    from phenoflow.io import write_json

    # s: weights 1, 1, 2, 4 (yield 8); b: 10, 30 (yield 40); variation 'up' = 1.5 x nominal for s,
    # the nominal for b (it lacks the variation); 'down' = 0.5 for every row
    process = np.array(["s"] * 4 + ["b"] * 2)
    weight = np.array([1.0, 1.0, 2.0, 4.0, 10.0, 30.0])
    up, down = np.where(process == "s", 1.5 * weight, weight), np.full(6, 0.5)
    label = (process == "s").astype(int)
    plain = pd.DataFrame({"process": process, "label": label, "class": label, "weight": weight, "met": np.arange(6.0)})
    varied = plain.copy()
    varied.insert(4, "weight:up", up)
    varied.insert(5, "weight:down", down)
    plain.to_parquet(tmp_path / "plain.parquet")
    varied.to_parquet(tmp_path / "varied.parquet")
    write_json(tmp_path / "kfold.json", {"sets": [
        {"train": [1, 3, 5], "val": [], "test": [0, 2, 4]}, {"train": [0, 2, 4], "val": [], "test": [1, 3, 5]}]})  # fmt: skip
    # one fixed split testing rows 0, 3 (s: 1 + 4 = 5 of 8, scale 8/5) and 5 (b: 30 of 40, scale 4/3)
    write_json(tmp_path / "fixed.json", {"sets": [{"train": [1, 2, 4], "val": [], "test": [0, 3, 5]}]})
    kfold = load_scored_arrays(tmp_path / "varied.parquet", tmp_path / "kfold.json", ["met"])
    np.testing.assert_array_equal(kfold.w, weight)
    np.testing.assert_array_equal(kfold.variation_weights["weight:up"], up)
    np.testing.assert_array_equal(kfold.variation_weights["weight:down"], down)
    fixed = load_scored_arrays(tmp_path / "varied.parquet", tmp_path / "fixed.json", ["met"])
    np.testing.assert_allclose(fixed.w, [8 / 5, 4 * 8 / 5, 30 * 4 / 3])
    np.testing.assert_allclose(fixed.variation_weights["weight:up"], [1.5 * 8 / 5, 6 * 8 / 5, 30 * 4 / 3])
    np.testing.assert_allclose(fixed.variation_weights["weight:down"], [0.5 * 8 / 5, 0.5 * 8 / 5, 0.5 * 4 / 3])
    frame = fixed.take(np.array([2, 0])).frame(score=np.zeros(2))
    assert list(frame.columns) == ["row", "fold", "process", "label", "class", "weight", "weight:up", "weight:down", "score"]  # fmt: skip
    np.testing.assert_allclose(frame["weight:up"], [40.0, 2.4])
    # training and evaluation splits: the same arrays with or without the variation columns
    for balance in ("process", "class", None):
        a, b = (load_split_arrays(tmp_path / f"{t}.parquet", tmp_path / "kfold.json", ["met"], ("train",), balance)[0]
                for t in ("plain", "varied"))  # fmt: skip
        np.testing.assert_array_equal(a.w, b.w)
        np.testing.assert_array_equal(a.x, b.x)
        assert b.x.shape == (3, 1) and b.variation_weights == {}
