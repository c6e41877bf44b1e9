"""Classes from the config's processes, the BDT and the evaluation for several classes."""

import numpy as np
import pytest

from phenoflow.evaluation.scores import multiclass_metrics, overtraining, signal_score
from phenoflow.features.classes import Classes, class_errors, classes_from_config
from phenoflow.features.datasets import balanced_weights
from phenoflow.models.bdt import BDT

PROCESSES = {
    "zz": {"role": "signal"},
    "zz_lhe": {"role": "signal"},
    "zjets": {"role": "background", "class": "zjets"},
    "wjets": {"role": "background", "class": "vjets"},
    "qcd": {"role": "background", "class": "qcd"},
    "zjets_ht": {"role": "background", "class": "zjets"},
}


def test_one_class_per_role_is_binary_with_class_equal_to_label():
    classes = classes_from_config({"s": {"role": "signal"}, "b1": {"role": "background"}, "b2": {"role": "background"}})
    assert classes.names == ("background", "signal") and classes.binary
    assert classes.of_process == {"s": 1, "b1": 0, "b2": 0} and classes.signal_indices == [1]


def test_backgrounds_first_then_signals_in_config_order_and_shared_names_merge():
    classes = classes_from_config(PROCESSES)
    assert classes.names == ("zjets", "vjets", "qcd", "signal")
    assert classes.is_signal == (False, False, False, True) and not classes.binary
    assert classes.of_process == {"zz": 3, "zz_lhe": 3, "zjets": 0, "wjets": 1, "qcd": 2, "zjets_ht": 0}
    assert Classes.from_dict(classes.as_dict()) == classes
    assert classes.as_dict()["zjets"] == {"index": 0, "role": "background", "processes": ["zjets", "zjets_ht"]}


def test_a_class_mixing_roles_is_an_error_naming_the_process():
    bad = {"a": {"role": "signal", "class": "x"}, "b": {"role": "background", "class": "x"}}
    assert class_errors(bad) == [
        "processes.b.class: class 'x' holds signal process 'a' and background process 'b'; "
        "a class is all signal or all background"
    ]
    assert class_errors({"a": {"role": "signal", "class": "background"}}) == [
        "processes.a.class: 'background' is the name of the other role"
    ]
    with pytest.raises(ValueError, match="processes.b.class"):
        classes_from_config(bad)


def test_balanced_weights_over_three_classes():
    targets = np.array([0, 0, 1, 2, 2, 2])
    w = balanced_weights(np.array([1.0, 3.0, 7.0, 1.0, 1.0, 2.0]), targets)
    totals = [w[targets == c].sum() for c in range(3)]
    np.testing.assert_allclose(totals, [2.0, 2.0, 2.0])
    assert w[1] / w[0] == pytest.approx(3.0) and w[5] / w[4] == pytest.approx(2.0)


def test_signal_score_sums_the_signal_classes():
    proba = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
    np.testing.assert_allclose(signal_score(proba, [1, 2]), [0.8, 0.4])
    np.testing.assert_array_equal(signal_score(np.array([0.1, 0.9]), [1]), [0.1, 0.9])


def test_multiclass_metrics_by_hand():
    classes = Classes(("qcd", "zjets", "signal"), (False, False, True), {"q": 0, "z": 1, "s": 2})
    proba = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.2, 0.3, 0.5], [0.5, 0.1, 0.4], [0.1, 0.1, 0.8]])
    targets = np.array([0, 0, 1, 2, 2])
    weights = np.array([10.0, 20.0, 5.0, 1.0, 2.0])
    m = multiclass_metrics(proba, weights, targets, classes)
    # argmax predictions: 0, 1, 2, 0, 2
    assert m["confusion_argmax"] == [[10.0, 20.0, 0.0], [0.0, 0.0, 5.0], [1.0, 0.0, 2.0]]
    # projected: background (rows 0, 1) predicted background 30, signal 5; signal predicted background 1, signal 2
    assert m["confusion_argmax_binary"] == [[30.0, 5.0], [1.0, 2.0]]
    # signal vs rest on p_signal: signal scores 0.4 (w 1), 0.8 (w 2); rest 0.1 (10), 0.1 (20), 0.5 (5)
    # pairs ordered right: w=1 beats 30 of 35, w=2 beats all 35 -> (30 + 70) / (3 * 35)
    assert m["one_vs_rest_auc"]["signal"] == pytest.approx(100 / 105)
    assert m["classes"] == ["qcd", "zjets", "signal"]


def test_overtraining_per_class_names():
    rng = np.random.default_rng(1)
    scores, classes, w = rng.uniform(size=300), np.repeat([0, 1, 2], 100), np.ones(300)
    check = overtraining(scores, w, classes, scores, w, classes, names=("a", "b", "c"))
    assert list(check.p_values) == ["a", "b", "c"] and all(p == pytest.approx(1.0) for p in check.p_values.values())
    np.testing.assert_array_equal(check.train["b"][0], scores[100:200])


def test_bdt_learns_a_softmax_over_three_classes_and_round_trips(tmp_path):
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], 300)
    x = rng.normal(size=(900, 2)) + np.stack([y, -y], axis=1) * 3.0
    model = BDT(seed=3, n_estimators=30, max_depth=3, early_stopping_rounds=5)
    history = model.fit(x, y, np.ones(900), validation=(x, y, np.ones(900)))
    proba = model.predict_proba(x)
    assert proba.shape == (900, 3) and model.n_classes == 3
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(np.argmax(proba, axis=1) == y) > 0.93
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]
    model.save(tmp_path / "bdt.json")
    np.testing.assert_array_equal(BDT.load(tmp_path / "bdt.json").predict_proba(x), proba)
