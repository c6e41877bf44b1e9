"""The Keras classifiers (MLP on features, CNN on images) on small synthetic datasets."""

from __future__ import annotations

import numpy as np
import pytest

from phenoflow.evaluation.metrics import weighted_auc
from phenoflow.models.cnn import CNN
from phenoflow.models.mlp import MLP, configure_tensorflow, weighted_auc_score

FAST_MLP = {"hidden": [32, 32], "epochs": 60, "patience": 3, "batch_size": 128, "learning_rate": 3e-3}


def blobs(rng: np.random.Generator, n: int, n_classes: int = 2, shift: float = 1.5, n_features: int = 4):
    """``n`` rows of Gaussian blobs: class c has mean c * shift in every feature; unit weights."""
    y = rng.integers(0, n_classes, n)
    x = rng.normal(size=(n, n_features)) + shift * y[:, None]
    return x, y, np.ones(n)


@pytest.fixture(scope="module")
def binary():
    """Train, validation and test splits (1280, 400, 400 rows) of two 4-feature blobs."""
    rng = np.random.default_rng(11)
    return {split: blobs(rng, n) for split, n in (("train", 1280), ("val", 400), ("test", 400))}


@pytest.fixture(scope="module")
def fitted(binary):
    """An MLP trained on ``binary`` with seed 7, and its history."""
    model = MLP(seed=7, **FAST_MLP)
    history = model.fit(*binary["train"], validation=binary["val"])
    return model, history


def test_mlp_separates_blobs(binary, fitted):
    model, _ = fitted
    x, y, w = binary["test"]
    proba = model.predict_proba(x)
    assert proba.shape == (len(x),)
    assert weighted_auc(proba, w, y) > 0.9
    # (4 features + 1) * 32 + (32 + 1) * 32 + (32 + 1) * 1
    assert model.n_parameters == 160 + 1056 + 33


def test_mlp_same_seed_same_predictions(binary, fitted):
    model, history = fitted
    again = MLP(seed=7, **FAST_MLP)
    history_again = again.fit(*binary["train"], validation=binary["val"])
    x = binary["test"][0]
    np.testing.assert_array_equal(again.predict_proba(x), model.predict_proba(x))
    np.testing.assert_array_equal(history_again.to_numpy(), history.to_numpy())


def test_mlp_save_load_round_trip(binary, fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "models" / "mlp.keras"
    model.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["mlp.keras"]  # no temporary file left behind
    loaded = MLP.load(path)
    x = binary["test"][0]
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.hyper == model.hyper and loaded.seed == 7 and loaded.n_parameters == model.n_parameters
    assert loaded.best_epoch == model.best_epoch


def test_mlp_standardisation_from_training_data_only(binary, fitted):
    model, _ = fitted
    mean, variance = model.standardisation
    x_train, x_val = binary["train"][0], binary["val"][0]
    np.testing.assert_allclose(mean, x_train.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(variance, x_train.var(axis=0), rtol=1e-4)
    assert np.abs(mean - x_val.mean(axis=0)).max() > 1e-2
    assert np.abs(mean - np.concatenate([x_train, x_val]).mean(axis=0)).max() > 1e-3


def test_mlp_early_stopping_keeps_best_epoch(binary, fitted):
    model, history = fitted
    assert list(history.columns) == ["epoch", "train_loss", "val_loss", "val_auc"]
    assert history["epoch"].tolist() == list(range(1, len(history) + 1))
    assert len(history) < FAST_MLP["epochs"]
    best = int(history["val_auc"].to_numpy().argmax()) + 1
    assert model.best_epoch == best
    assert len(history) == best + FAST_MLP["patience"]
    assert history.notna().all().all()
    # the restored weights are those of the best epoch
    x, y, w = binary["val"]
    assert weighted_auc_score(y, model.predict_proba(x), w) == pytest.approx(history["val_auc"].max(), abs=1e-12)


def test_mlp_multiclass_softmax():
    rng = np.random.default_rng(5)
    train, val, test = (blobs(rng, n, n_classes=3, shift=2.0) for n in (900, 300, 300))
    model = MLP(seed=1, hidden=[16], epochs=8, patience=8, learning_rate=1e-2)
    history = model.fit(*train, validation=val)
    proba = model.predict_proba(test[0])
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert (proba.argmax(axis=1) == test[1]).mean() > 0.7
    assert history["val_auc"].iloc[-1] > 0.8


def test_mlp_sample_weights_shift_predictions(binary, fitted):
    model, _ = fitted
    x, y, w = binary["train"]
    heavy_signal = MLP(seed=7, **{**FAST_MLP, "epochs": 8})
    heavy_signal.fit(x, y, np.where(y == 1, 100.0, 1.0) * w, validation=binary["val"])
    x_test = binary["test"][0]
    assert heavy_signal.predict_proba(x_test).mean() > model.predict_proba(x_test).mean() + 0.1


def jet_images(rng: np.random.Generator, n: int, size: int = 16):
    """``n`` images of ``size`` x ``size`` pixels: background (label 0) one Gaussian blob near the
    centre, signal (label 1) also a second, softer blob 4 to 6 pixels away; random overall scale
    (10 to 1000) and soft noise. Returns images, labels and unit weights."""
    y = rng.integers(0, 2, n)
    grid = np.arange(size) - (size - 1) / 2
    eta, phi = np.meshgrid(grid, grid, indexing="ij")

    def blob(centre_eta, centre_phi, width):
        distance2 = (eta - centre_eta[:, None, None]) ** 2 + (phi - centre_phi[:, None, None]) ** 2
        return np.exp(-distance2 / (2 * width**2))

    images = blob(rng.normal(0, 0.5, n), rng.normal(0, 0.5, n), 1.2)
    angle, distance = rng.uniform(0, 2 * np.pi, n), rng.uniform(4, 6, n)
    second = rng.uniform(0.3, 0.7, n)[:, None, None] * blob(distance * np.cos(angle), distance * np.sin(angle), 1.0)
    images = images + y[:, None, None] * second + rng.exponential(0.02, images.shape)
    images *= rng.uniform(10, 1000, n)[:, None, None]
    return images.astype(np.float32), y, np.ones(n)


def test_cnn_separates_two_prong_images_and_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    train, val, test = (jet_images(rng, n) for n in (640, 200, 200))
    model = CNN(seed=2, filters=[8, 16], dense=32, epochs=5, patience=5, batch_size=64, normalise="max")
    history = model.fit(*train, validation=val)
    assert list(history.columns) == ["epoch", "train_loss", "val_loss", "val_auc"]
    proba = model.predict_proba(test[0])
    assert proba.shape == (200,)
    assert weighted_auc(proba, test[2], test[1]) > 0.85

    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = CNN.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(test[0]), proba)
    assert loaded.hyper["normalise"] == "max" and loaded.n_parameters == model.n_parameters
    with pytest.raises(ValueError, match="not 'mlp'"):
        MLP.load(path)


def image_and_feature_data(rng: np.random.Generator, n: int, size: int = 12):
    """Images with no information (their labels are shuffled) beside two features: ``met`` on a
    GeV scale that separates the classes, and noise. Returns ({"images", "features"}, y, w)."""
    images, _, w = jet_images(rng, n, size)
    y = rng.integers(0, 2, n)
    features = np.c_[rng.normal(300.0 + 150.0 * y, 60.0), rng.normal(0.0, 1.0, n)]
    return {"images": images, "features": features}, y, w


@pytest.fixture(scope="module")
def two_input():
    """Train, validation and test sets of :func:`image_and_feature_data`, and a CNN with the
    features as a second input trained on them with seed 5."""
    rng = np.random.default_rng(8)
    data = [image_and_feature_data(rng, n) for n in (640, 200, 200)]
    model = CNN(seed=5, filters=[4], dense=16, feature_dense=8, epochs=6, patience=6, batch_size=64, normalise="max")
    history = model.fit(*data[0], validation=data[1])
    return data, model, history


def test_cnn_with_features_beside_the_image_learns_from_them(two_input):
    (train, _, test), model, history = two_input
    assert {layer.name for layer in model.model.layers} >= {
        "images",
        "features",
        "standardise",
        "feature_dense",
        "concatenate",
    }
    assert sorted(t.name for t in model.model.inputs) == ["features", "images"]
    proba = model.predict_proba(test[0])
    assert proba.shape == (200,) and len(history) >= 1
    assert weighted_auc(proba, test[2], test[1]) > 0.85  # the images alone carry nothing here
    mean, variance = model.standardisation  # from the training features only
    np.testing.assert_allclose(mean, train[0]["features"].mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(variance, train[0]["features"].var(axis=0), rtol=1e-3)
    with pytest.raises(ValueError, match=r"takes the inputs \['features', 'images'\], got one array"):
        model.predict_proba(test[0]["images"])
    with pytest.raises(ValueError, match="inputs are 'images' and optionally 'features'"):
        model.predict_proba({"image": test[0]["images"]})


def test_cnn_with_features_round_trips_through_one_keras_file(two_input, tmp_path):
    (_, _, test), model, _ = two_input
    path = tmp_path / "cnn.keras"
    model.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.keras"]
    loaded = CNN.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(test[0]), model.predict_proba(test[0]))
    assert loaded.hyper == model.hyper and loaded.n_parameters == model.n_parameters
    np.testing.assert_array_equal(loaded.standardisation[0], model.standardisation[0])


def test_cnn_with_features_same_seed_same_predictions(two_input):
    (train, val, test), model, history = two_input
    again = CNN(seed=5, **model.hyper)
    pd_history = again.fit(*train, validation=val)
    np.testing.assert_array_equal(again.predict_proba(test[0]), model.predict_proba(test[0]))
    np.testing.assert_array_equal(pd_history["val_auc"], history["val_auc"])
    other = CNN(seed=6, **model.hyper)
    other.fit(*train, validation=val)
    assert not np.array_equal(other.predict_proba(test[0]), model.predict_proba(test[0]))


def test_cnn_without_features_is_the_image_network():
    """No features (f = 0) is the one-input network on the images."""
    rng = np.random.default_rng(1)
    x, y, w = image_and_feature_data(rng, 64)
    model = CNN(seed=1, filters=[2], dense=4, epochs=1, patience=1, batch_size=32)
    model.fit({"images": x["images"], "features": np.empty((64, 0))}, y, w, validation=(x["images"], y, w))
    assert [t.name for t in model.model.inputs] == ["images"] and model.predict_proba(x["images"]).shape == (64,)


@pytest.mark.parametrize("method", ["none", "max", "log", "l1"])
def test_image_normalisation_layer(method):
    from phenoflow.features.images import normalise
    from phenoflow.models.cnn import ImageNormalisation

    images = np.random.default_rng(0).exponential(5.0, (3, 5, 4)).astype(np.float32)
    images[1] = 0.0  # an empty image stays empty
    out = np.asarray(ImageNormalisation(method)(images))
    assert out.shape == (3, 5, 4, 1)
    np.testing.assert_allclose(out[..., 0], normalise(images, method), rtol=1e-6)


def test_configuration_errors(tmp_path):
    with pytest.raises(TypeError, match="hiden"):
        MLP(seed=0, hiden=[8])
    with pytest.raises(ValueError, match="normalise"):
        CNN(seed=0, normalise="sqrt")
    model = MLP(seed=0)
    with pytest.raises(RuntimeError):
        model.predict_proba(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=".keras"):
        model.save(tmp_path / "mlp.h5")
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="classes"):
        model.fit(x, np.array([0, 0, 2, 2]), np.ones(4), validation=(x, np.array([0, 1, 2, 2]), np.ones(4)))


def test_configure_tensorflow_twice_with_other_threads():
    configure_tensorflow(seed=1, threads=1)
    configure_tensorflow(seed=1, threads=2)  # TensorFlow is running: logs a warning, does not raise


@pytest.mark.parametrize("name", ["mlp", "bdt"])
def test_training_refuses_signed_weights_and_learns_from_balanced_absolute_ones(binary, name):
    """NLO-like training data (a fifth of the weights negative): fit refuses the signed weights
    with a message saying what to do, trains on balanced |w|, and the result is judged with
    the signed weights."""
    from phenoflow.features.datasets import balanced_weights
    from phenoflow.models import model_class

    rng = np.random.default_rng(2)
    (x, y, w), (xv, yv, wv), (xt, yt, wt) = (
        (a, b, c * np.where(rng.random(len(c)) < 0.2, -1.0, 1.0))
        for a, b, c in (binary[s] for s in ("train", "val", "test"))
    )
    hyper = FAST_MLP if name == "mlp" else {"n_estimators": 20, "max_depth": 2}
    model = model_class(name)(seed=3, **hyper)
    with pytest.raises(ValueError, match=rf"{name}: training weights must be finite and non-negative.*\|w\|"):
        model.fit(x, y, w, validation=(xv, yv, np.abs(wv)))
    with pytest.raises(ValueError, match="validation weights"):
        model.fit(x, y, np.abs(w), validation=(xv, yv, wv))
    model.fit(x, y, balanced_weights(w, y), validation=(xv, yv, balanced_weights(wv, yv)))
    assert weighted_auc(model.predict_proba(xt), wt, yt) > 0.9


@pytest.fixture(scope="module")
def mapped_images(tmp_path_factory):
    """Training, validation and test images of :func:`jet_images` (640, 200, 200 rows) as the
    rows of one memory-mapped .npy file, the labels and weights in memory."""
    from phenoflow.features.mapped import MappedRows

    rng = np.random.default_rng(3)
    sets = [jet_images(rng, n) for n in (640, 200, 200)]
    path = tmp_path_factory.mktemp("mapped") / "images.npy"
    np.save(path, np.concatenate([s[0] for s in sets]))
    images = MappedRows.load(path, np.float32)
    stops = np.cumsum([len(y) for _, y, _ in sets])
    mapped = [(images[stop - len(y) : stop], y, w) for (_, y, w), stop in zip(sets, stops)]
    return mapped, [x for x, _, _ in sets]


def test_cnn_on_mapped_batches_learns_and_the_same_seed_gives_the_same_model(mapped_images):
    """Trained batch by batch from the memory map: a reasonable AUC, the same predictions and
    history from the same seed (another from another seed), and the mapped test images score
    as the same images in memory."""
    (train, val, test), in_memory = mapped_images
    hyper = {"filters": [8, 16], "dense": 32, "epochs": 5, "patience": 5, "batch_size": 64, "normalise": "max"}
    model = CNN(seed=2, batches="mapped", **hyper)
    history = model.fit(*train, validation=val)
    proba = model.predict_proba(test[0])
    assert proba.shape == (200,) and len(history) == 5
    assert weighted_auc(proba, test[2], test[1]) > 0.85
    np.testing.assert_array_equal(model.predict_proba(in_memory[2]), proba)
    again = CNN(seed=2, batches="mapped", **hyper)
    history_again = again.fit(*train, validation=val)
    np.testing.assert_array_equal(again.predict_proba(test[0]), proba)
    np.testing.assert_array_equal(history_again.to_numpy(), history.to_numpy())
    other = CNN(seed=3, batches="mapped", **hyper)
    other.fit(*train, validation=val)
    assert not np.array_equal(other.predict_proba(test[0]), proba)


def test_mlp_on_mapped_batches_learns_and_the_same_seed_gives_the_same_model(binary, fitted, monkeypatch):
    """The features in memory, fed through the seeded batch source: every batch of every epoch
    read once, in that epoch's order; as good as Keras's own shuffling, and reproducible."""
    from phenoflow.models.batches import ShuffledBatches

    served = []
    read = ShuffledBatches.__getitem__
    monkeypatch.setattr(ShuffledBatches, "__getitem__", lambda self, i: served.append((self.epoch, i)) or read(self, i))
    x, y, w = binary["test"]
    model = MLP(seed=7, batches="mapped", **FAST_MLP)
    history = model.fit(*binary["train"], validation=binary["val"])
    n_batches = -(-len(binary["train"][1]) // FAST_MLP["batch_size"])
    epochs = [(e, i) for e, i in served if e > 0]  # epoch 0: Keras's look at the first batches' shapes
    assert epochs == [(e, i) for e in range(1, len(history) + 1) for i in range(n_batches)]
    assert weighted_auc(model.predict_proba(x), w, y) > 0.9
    assert history["val_auc"].max() > fitted[1]["val_auc"].max() - 0.02
    again = MLP(seed=7, batches="mapped", **FAST_MLP)
    history_again = again.fit(*binary["train"], validation=binary["val"])
    np.testing.assert_array_equal(again.predict_proba(x), model.predict_proba(x))
    np.testing.assert_array_equal(history_again.to_numpy(), history.to_numpy())
