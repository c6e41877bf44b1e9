"""The fold models of a classifier instance: each training event scored by the model that did not
see it, new events by the mean of all."""

import numpy as np
import pytest

from phenoflow.io import read_json
from phenoflow.models.ensemble import FoldEnsemble, write_manifest


class Constant:
    """A stand-in model whose probability is a constant plus the first feature."""

    def __init__(self, value):
        self.value = value

    def predict_proba(self, x):
        x = x["features"] if isinstance(x, dict) else x
        return self.value + x[:, 0]


def test_out_of_fold_scores_come_from_each_rows_own_fold_model():
    ensemble = FoldEnsemble("test", (Constant(0.0), Constant(10.0), Constant(20.0)))
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    fold = np.array([2, 0, 1, 0])
    np.testing.assert_allclose(ensemble.predict_out_of_fold(x, fold), [21.0, 2.0, 13.0, 4.0])
    inputs = {"features": x, "images": np.zeros((4, 2, 2))}
    np.testing.assert_allclose(ensemble.predict_out_of_fold(inputs, fold), [21.0, 2.0, 13.0, 4.0])
    np.testing.assert_allclose(ensemble.predict_proba(x), [11.0, 12.0, 13.0, 14.0])  # the mean of the three
    with pytest.raises(ValueError, match=r"fold indices must lie in \[0, 3\)"):
        ensemble.predict_out_of_fold(x, np.array([0, 1, 2, 3]))


def test_manifest_lists_the_fold_models_and_loads_them(tmp_path):
    from phenoflow.models.bdt import BDT

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    w = np.ones(200)
    trainings = []
    for fold in range(2):
        model = BDT(seed=fold, threads=1, n_estimators=5, max_depth=2)
        model.fit(x[fold::2], y[fold::2], w[fold::2], validation=(x, y, w))
        (tmp_path / f"fold{fold}").mkdir()
        model.save(tmp_path / f"fold{fold}/model.json")
        trainings.append({"training_time_s": 1.5 + fold, "n_parameters": model.n_parameters})
    split = {"scheme": "kfold", "folds": 2, "val_fraction": 0.2}
    manifest = write_manifest(tmp_path / "ensemble.json", "bdt", "bdt", "model.json", trainings, split)
    assert read_json(tmp_path / "ensemble.json") == manifest
    assert manifest["files"] == ["fold0/model.json", "fold1/model.json"] and manifest["training_time_s"] == 4.0
    assert manifest["split"] == {"folds": 2, "val_fraction": 0.2} and manifest["n_folds"] == 2
    ensemble = FoldEnsemble.load(tmp_path / "ensemble.json")
    assert len(ensemble) == 2
    fold = np.arange(200) % 2
    scores = ensemble.predict_out_of_fold(x, fold)
    for f in range(2):
        np.testing.assert_allclose(scores[fold == f], ensemble.models[f].predict_proba(x[fold == f]))
    np.testing.assert_allclose(
        ensemble.predict_proba(x), (ensemble.models[0].predict_proba(x) + ensemble.models[1].predict_proba(x)) / 2
    )
