"""Jet images: pixel positions and sums worked out by hand for the default 33 × 33 grid.

Default grid: pixel width w = 3.2 / 33 = 0.09697 rad; a relative coordinate d lands in pixel
floor((d + 1.6) / w), so d = 0 → 16 (the central pixel), d = ±0.1 → 17 / 15, d = 0.5 → 21.
"""

import awkward as ak
import fastjet
import numpy as np
import pytest

from phenoflow.features.images import (
    ImageAverages,
    ImageSpec,
    average_image,
    flip_eta,
    jet_images,
    kt_subjet_definition,
    kt_subjets,
    normalise,
    pixelise,
    write_jet_images,
)

C = 16  # central pixel of the 33 × 33 grid


def constituents(rows: list[list[tuple[float, float, float]]]) -> ak.Array:
    """events × var records from (pt, eta, phi) tuples per event."""
    return ak.zip(
        {k: ak.Array([[float(c[i]) for c in row] for row in rows]) for i, k in enumerate(("pt", "eta", "phi"))}
    )


def pixels(image: np.ndarray) -> dict[tuple[int, int], float]:
    """Non-zero pixels of one image as {(i_eta, i_phi): value}."""
    return {(int(i), int(j)): float(image[i, j]) for i, j in np.argwhere(image)}


def test_pt_inside_window_is_conserved():
    axis_eta, axis_phi = 0.2, -1.0
    # (pt, delta_eta, delta_phi): 30 and 40 GeV lie outside |d| < 1.6 and are dropped
    hand = [(10, 0.0, 0.0), (20, 1.5, -1.5), (30, 1.7, 0.0), (40, 0.0, -1.65), (5, -1.59, 1.59)]
    rng = np.random.default_rng(1)
    pt, deta, dphi = rng.exponential(10, 200), rng.uniform(-2.5, 2.5, 200), rng.uniform(-2.5, 2.5, 200)
    random = list(zip(pt, deta, dphi))
    events = constituents([[(p, axis_eta + x, axis_phi + y) for p, x, y in jet] for jet in (hand, random)])
    images = jet_images(events, np.full(2, axis_eta), np.full(2, axis_phi))
    assert images.shape == (2, 33, 33) and images.dtype == np.float32
    inside = (np.abs(deta) < 1.6) & (np.abs(dphi) < 1.6)
    np.testing.assert_allclose(images.sum(axis=(1, 2)), [35.0, pt[inside].sum()], rtol=1e-5)
    # (1.5, -1.5) → floor(3.1 / w) = 31, floor(0.1 / w) = 1; (-1.59, 1.59) → 0, floor(3.19 / w) = 32
    assert pixels(images[0]) == {(C, C): 10.0, (31, 1): 20.0, (0, 32): 5.0}


@pytest.mark.parametrize("centre", ["centroid", "leading_subjet"])
def test_single_constituent_lands_in_central_pixel(centre):
    events = constituents([[(42.0, 0.7, -2.0)]])
    image = jet_images(events, np.array([0.5]), np.array([-1.9]), ImageSpec(centre=centre))[0]
    assert pixels(image) == {(C, C): 42.0}


def test_axis_centring_keeps_offset_from_axis():
    events = constituents([[(42.0, 0.7, -2.0)], [(42.0, 0.5, -1.9)]])
    images = jet_images(events, np.array([0.5, 0.5]), np.array([-1.9, -1.9]))
    # offset (0.2, -0.1): floor(1.8 / w) = 18, floor(1.5 / w) = 15
    assert pixels(images[0]) == {(18, 15): 42.0}
    assert pixels(images[1]) == {(C, C): 42.0}


@pytest.mark.parametrize("centre", ["axis", "centroid"])
@pytest.mark.parametrize("axis_phi", [np.pi - 1e-3, -np.pi + 1e-3])
def test_delta_phi_wraps_across_pi(centre, axis_phi):
    events = constituents([[(10.0, 0.0, np.pi - 0.1), (20.0, 0.0, -np.pi + 0.1)]])
    image = jet_images(events, np.array([0.0]), np.array([axis_phi]), ImageSpec(centre=centre))[0]
    # +-0.1 (centroid: -0.133, +0.067) from the centre, not +-(2 pi - 0.1) outside the window
    assert pixels(image) == {(C, C - 1): 10.0, (C, C + 1): 20.0}


def test_centroid_is_pt_weighted():
    events = constituents([[(30.0, 0.0, 0.0), (10.0, 0.4, 0.0)]])
    image = jet_images(events, np.zeros(1), np.zeros(1), ImageSpec(centre="centroid"))[0]
    # centroid at eta 0.1: -0.1 → 15, +0.3 → floor(1.9 / w) = 19 (an unweighted mean gives 14, 18)
    assert pixels(image) == {(C - 1, C): 30.0, (19, C): 10.0}


@pytest.mark.parametrize("axis_phi", [0.0, np.pi])
def test_leading_subjet_centring_wraps_phi_whatever_the_axis(axis_phi):
    # one kT subjet at phi ~ pi - 0.033 across the boundary; the axis may even point elsewhere
    events = constituents([[(20.0, 0.0, np.pi - 0.1), (10.0, 0.0, -np.pi + 0.1)]])
    image = jet_images(events, np.zeros(1), np.array([axis_phi]), ImageSpec(centre="leading_subjet"))[0]
    # -0.067 → floor(1.533 / w) = 15, +0.133 → floor(1.733 / w) = 17
    assert pixels(image) == {(C, C - 1): 20.0, (C, C + 1): 10.0}


def two_prong(rotate: bool) -> np.ndarray:
    # hard prong of 100 GeV at (0.3, 2.8); 50 GeV prong at offset (+0.3, +0.4), across phi = pi
    prongs = [(60.0, 0.30, 2.80), (40.0, 0.31, 2.81), (50.0, 0.60, 3.20 - 2 * np.pi)]
    events = constituents([[(7.0, -1.0, 1.0)], prongs])  # an unrelated event first
    spec = ImageSpec(centre="leading_subjet", rotate=rotate)
    return jet_images(events, np.array([-1.0, 0.4]), np.array([1.0, 2.9]), spec)


def test_subjets_of_two_prong_jet():
    prongs = constituents([[(60.0, 0.30, 2.80), (40.0, 0.31, 2.81), (50.0, 0.60, 3.20 - 2 * np.pi)], []])
    subjets = kt_subjets(prongs, radius=0.3)
    assert ak.num(subjets).tolist() == [2, 0]
    np.testing.assert_allclose(subjets.pt[0].to_numpy(), [100.0, 50.0], rtol=1e-3)
    np.testing.assert_allclose(subjets.eta[0, 1], 0.6, atol=1e-9)


def test_rotation_puts_second_prong_straight_below():
    unrotated, rotated = two_prong(rotate=False), two_prong(rotate=True)
    # second prong 0.494 from the leading subjet (at 0.304, 2.804): unrotated at (+0.296, +0.396)
    assert pixels(unrotated[1]) == pytest.approx({(C, C): 100.0, (19, 20): 50.0})
    # rotated: same eta column, 0.494 below the centre: floor((1.6 - 0.494) / w) = 11
    assert pixels(rotated[1]) == pytest.approx({(C, C): 100.0, (C, 11): 50.0})
    assert pixels(rotated[0]) == {(C, C): 7.0}


def test_rotation_without_second_subjet_uses_principal_axis():
    # one kT subjet stretched along eta, harder at -eta: principal axis turned to -phi, hard end down
    events = constituents([[(30.0, -0.1, 0.0), (10.0, 0.0, 0.0), (10.0, 0.1, 0.0)]])
    assert ak.num(kt_subjets(events)).tolist() == [1]
    plain = jet_images(events, np.zeros(1), np.zeros(1))[0]
    rotated = jet_images(events, np.zeros(1), np.zeros(1), ImageSpec(rotate=True))[0]
    assert pixels(plain) == {(C - 1, C): 30.0, (C, C): 10.0, (C + 1, C): 10.0}
    assert pixels(rotated) == pytest.approx({(C, C - 1): 30.0, (C, C): 10.0, (C, C + 1): 10.0})


def test_flip_puts_harder_half_at_positive_eta():
    events = constituents([[(30.0, -0.5, 0.0), (10.0, 0.5, 0.0)], [(10.0, -0.5, 0.0), (30.0, 0.5, 0.0)]])
    plain = jet_images(events, np.zeros(2), np.zeros(2))
    flipped = jet_images(events, np.zeros(2), np.zeros(2), ImageSpec(flip=True))
    # eta -0.5 → floor(1.1 / w) = 11, +0.5 → floor(2.1 / w) = 21
    assert pixels(plain[0]) == {(11, C): 30.0, (21, C): 10.0}
    assert pixels(flipped[0]) == {(21, C): 30.0, (11, C): 10.0}
    assert pixels(flipped[1]) == pixels(plain[1]) == {(11, C): 10.0, (21, C): 30.0}
    np.testing.assert_array_equal(flip_eta(plain), flipped)


def test_flip_leaves_ties_alone():
    # equal halves, not mirror images: -0.5 → row 11, +0.4 → floor(2.0 / w) = 20
    events = constituents([[(10.0, -0.5, 0.0), (10.0, 0.4, 0.0)]])
    image = jet_images(events, np.zeros(1), np.zeros(1), ImageSpec(flip=True))
    assert pixels(image[0]) == {(11, C): 10.0, (20, C): 10.0}
    np.testing.assert_array_equal(flip_eta(image), image)


RAW = {(C, C): 15.0, (21, 12): 30.0}  # 10 + 5 GeV share the central pixel; (0.5, -0.4) → (21, 12)


@pytest.mark.parametrize(
    "method, expected",
    [
        ("none", RAW),
        ("max", {(C, C): 0.5, (21, 12): 1.0}),
        ("l1", {(C, C): 15 / 45, (21, 12): 30 / 45}),
        ("log", {(C, C): np.log1p(15.0), (21, 12): np.log1p(30.0)}),
    ],
)
def test_normalisations(method, expected):
    events = constituents([[(10.0, 0.0, 0.0), (5.0, 0.01, -0.01), (30.0, 0.5, -0.4)]])
    image = jet_images(events, np.zeros(1), np.zeros(1), ImageSpec(normalise=method))[0]
    assert pixels(image) == pytest.approx(expected, rel=1e-6)
    if method in ("max", "l1"):
        assert (image.max() if method == "max" else image.sum()) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("centre", ["axis", "centroid", "leading_subjet"])
@pytest.mark.parametrize("method", ["none", "max", "log", "l1"])
def test_events_without_jet_give_zero_images(centre, method):
    # event 1 has no constituents, event 2 has constituents but no jet axis (NaN)
    events = constituents([[(20.0, 0.1, 0.2), (10.0, -0.3, 0.5)], [], [(5.0, 0.0, 0.0)]])
    spec = ImageSpec(centre=centre, rotate=True, flip=True, normalise=method)
    images = jet_images(events, np.array([0.0, np.nan, np.nan]), ak.Array([0.0, None, None]), spec)
    assert np.isfinite(images).all()
    assert images[0].sum() > 0
    assert not images[1:].any()


def test_no_events_and_no_constituents():
    no_events = constituents([[(1.0, 0.0, 0.0)]])[:0]
    assert jet_images(no_events, np.zeros(0), np.zeros(0)).shape == (0, 33, 33)
    spec = ImageSpec(centre="leading_subjet", rotate=True)
    images = jet_images(constituents([[], []]), np.zeros(2), np.zeros(2), spec)
    assert images.shape == (2, 33, 33) and not images.any()


def test_many_events_each_fill_their_own_pixel():
    # 300 events (several accumulation blocks): event k has k + 1 GeV at pixel centre (k % 33, 7k % 33)
    k = np.arange(300)
    centre = -1.6 + (np.arange(33) + 0.5) * 3.2 / 33
    axis_eta, axis_phi = np.linspace(-2, 2, 300), np.linspace(-np.pi, np.pi, 300, endpoint=False)
    phi = (axis_phi + centre[7 * k % 33] + np.pi) % (2 * np.pi) - np.pi
    events = constituents([[(k_ + 1, axis_eta[k_] + centre[k_ % 33], phi[k_])] for k_ in k])
    images = jet_images(events, axis_eta, axis_phi)
    expected = np.zeros((300, 33, 33), dtype=np.float32)
    expected[k, k % 33, 7 * k % 33] = k + 1
    np.testing.assert_array_equal(images, expected)


def test_custom_grid_and_pixelise():
    spec = ImageSpec(n_eta=4, n_phi=6, half_width_eta=1.0, half_width_phi=0.6)
    events = constituents([[(3.0, 0.3, -0.25), (4.0, 0.0, 0.7)]])  # second is outside |dphi| < 0.6
    image = jet_images(events, np.zeros(1), np.zeros(1), spec)
    # eta: floor(1.3 / 0.5) = 2; phi: floor(0.35 / 0.2) = 1
    assert image.shape == (1, 4, 6) and pixels(image[0]) == {(2, 1): 3.0}
    np.testing.assert_array_equal(pixelise(events.eta, events.phi, events.pt, spec), image)
    np.testing.assert_allclose(spec.eta_edges, [-1.0, -0.5, 0.0, 0.5, 1.0])


def test_average_image():
    images = np.stack([np.full((2, 3), 1.0), np.full((2, 3), 5.0)]).astype(np.float32)
    np.testing.assert_allclose(average_image(images, np.array([1.0, 3.0])), np.full((2, 3), 4.0))
    np.testing.assert_allclose(average_image(images), np.full((2, 3), 3.0))
    with pytest.raises(ValueError):
        average_image(images, np.array([1.0, -1.0]))


def test_normalise_rejects_unknown_method_and_spec_validates():
    with pytest.raises(ValueError):
        normalise(np.zeros((1, 2, 2)), "sqrt")
    with pytest.raises(ValueError):
        ImageSpec(centre="leading")
    with pytest.raises(ValueError):
        ImageSpec(n_eta=0)


def random_jets(n_events: int, seed: int = 3) -> tuple[ak.Array, np.ndarray, np.ndarray]:
    """n_events two-prong-like jets with axes over the whole plane (phi = ±pi crossed), some empty."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(12, n_events)
    counts[::17] = 0  # events without constituents
    n = counts.sum()
    event = np.repeat(np.arange(n_events), counts)
    axis_eta, axis_phi = rng.uniform(-2, 2, n_events), rng.uniform(-np.pi, np.pi, n_events)
    prong = rng.random(n) < 0.3
    offset = rng.normal(0, 0.15, (2, n)) + prong * rng.uniform(-0.8, 0.8, (2, n_events))[:, event]
    phi = (axis_phi[event] + offset[1] + np.pi) % (2 * np.pi) - np.pi
    pt, eta = rng.exponential(10, n) + 0.5, axis_eta[event] + offset[0]
    events = ak.unflatten(ak.zip({"pt": pt, "eta": eta, "phi": phi}), counts)
    axis_eta[5] = np.nan  # an event without a jet
    return events, axis_eta, axis_phi


FULL = ImageSpec(centre="leading_subjet", rotate=True, flip=True, normalise="max")


@pytest.mark.parametrize("centre", ["centroid", "leading_subjet"])
@pytest.mark.parametrize("axis_phi", [0.3, np.pi - 0.05])
def test_pt_inside_window_is_conserved_with_rotation(centre, axis_phi):
    # constituents within 0.5 of the axis: any centre is within 0.5, so all stay within 1.0 < 1.6 of it
    rng = np.random.default_rng(5)
    pt, r, angle = rng.exponential(10, 40), rng.uniform(0, 0.5, 40), rng.uniform(-np.pi, np.pi, 40)
    phi = (axis_phi + r * np.sin(angle) + np.pi) % (2 * np.pi) - np.pi  # crosses phi = pi for the second axis
    events = constituents([list(zip(pt, 0.4 + r * np.cos(angle), phi))])
    spec = ImageSpec(centre=centre, rotate=True, flip=True)
    image = jet_images(events, np.array([0.4]), np.array([axis_phi]), spec)[0]
    assert image.sum(dtype=np.float64) == pytest.approx(pt.sum(), rel=1e-6)
    assert np.count_nonzero(image) > 10


def test_phi_outside_minus_pi_pi_is_wrapped():
    events, axis_eta, axis_phi = random_jets(60)
    shifted = ak.zip({"pt": events.pt, "eta": events.eta, "phi": events.phi + 2 * np.pi})  # phi in [pi, 3 pi)
    for spec in (ImageSpec(), FULL):
        expected = jet_images(events, axis_eta, axis_phi, spec)
        np.testing.assert_allclose(jet_images(shifted, axis_eta, axis_phi - 2 * np.pi, spec), expected, atol=1e-4)


def test_rotation_to_principal_axis_needs_no_subjets():
    # along the diagonal, harder at (+0.1, +0.1): the principal axis turns that end straight down
    events = constituents([[(30.0, 0.0, 0.0), (20.0, 0.1, 0.1), (10.0, -0.1, -0.1)]])
    spec = ImageSpec(rotate=True, rotate_to="principal_axis")
    assert not spec.uses_subjets and ImageSpec(rotate=True).uses_subjets
    image = jet_images(events, np.zeros(1), np.zeros(1), spec)[0]
    # 0.1414 from the centre: floor((1.6 -+ 0.1414) / w) = 15 and 17
    assert pixels(image) == pytest.approx({(C, C): 30.0, (C, 15): 20.0, (C, 17): 10.0})
    with pytest.raises(ValueError):
        ImageSpec(rotate_to="subjet")


@pytest.mark.parametrize("method", ["none", "max", "log", "l1"])
@pytest.mark.parametrize("centre", ["axis", "centroid", "leading_subjet"])
def test_flip_and_normalisation_match_the_dense_functions(method, centre):
    # jet_images flips and normalises touched pixels only; the public functions work on whole images
    events, axis_eta, axis_phi = random_jets(1100)  # more than two blocks of events
    plain = jet_images(events, axis_eta, axis_phi, ImageSpec(centre=centre, rotate=True))
    spec = ImageSpec(centre=centre, rotate=True, flip=True, normalise=method)
    np.testing.assert_array_equal(jet_images(events, axis_eta, axis_phi, spec), normalise(flip_eta(plain), method))


def test_blocks_and_fastjet_batches_do_not_change_the_images(monkeypatch):
    events, axis_eta, axis_phi = random_jets(300)
    expected = jet_images(events, axis_eta, axis_phi, FULL)
    monkeypatch.setattr("phenoflow.features.images._BLOCK_EVENTS", 7)
    monkeypatch.setattr("phenoflow.features.images._CLUSTER_EVENTS", 20)
    np.testing.assert_array_equal(jet_images(events, axis_eta, axis_phi, FULL), expected)
    assert expected[::17].sum() == 0 and expected[5].sum() == 0 and expected.any()


def test_jet_images_into_given_array():
    events, axis_eta, axis_phi = random_jets(50)
    expected = jet_images(events, axis_eta, axis_phi, FULL)
    out = np.full((50, 33, 33), 7.0, dtype=np.float32)  # stale content must be cleared
    assert jet_images(events, axis_eta, axis_phi, FULL, out=out) is out
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError):
        jet_images(events, axis_eta, axis_phi, FULL, out=np.zeros((50, 33, 33)))  # float64


@pytest.mark.parametrize("spec", [ImageSpec(), FULL], ids=["axis", "full"])
def test_write_jet_images_streams_the_same_images_to_npy(tmp_path, spec):
    events, axis_eta, axis_phi = random_jets(230)
    bounds = [0, 100, 100, 170, 230]  # uneven chunks, one of them empty
    chunks = ((events[a:b], axis_eta[a:b], ak.Array(axis_phi[a:b])) for a, b in zip(bounds[:-1], bounds[1:]))
    path = tmp_path / "images.npy"
    assert write_jet_images(path, chunks, spec, batch_events=64) == (230, 33, 33)
    written = np.load(path, mmap_mode="r")
    assert written.dtype == np.float32 and written.shape == (230, 33, 33)
    np.testing.assert_array_equal(written, jet_images(events, axis_eta, axis_phi, spec))


def test_image_averages_in_batches_equal_the_one_shot_average():
    """Weighted sums accumulated batch by batch: the one-shot average_image of each label's rows
    to float64 rounding (rtol 1e-12); by hand for two images."""
    rng = np.random.default_rng(3)
    images = rng.exponential(10.0, size=(101, 4, 5)).astype(np.float32)
    weights = rng.normal(1.0, 0.5, size=101)  # some negative, as NLO weights
    label = rng.integers(0, 2, size=101)
    for batch in (101, 10, 1):
        averages = ImageAverages({"signal": 1, "background": 0}, (4, 5))
        for start in range(0, 101, batch):
            rows = slice(start, start + batch)
            averages.add(images[rows], label[rows], weights[rows])
        for name, value in (("signal", 1), ("background", 0)):
            expected = average_image(images[label == value], weights[label == value])
            np.testing.assert_allclose(averages.averages()[name], expected, rtol=1e-12)
    two = ImageAverages({"all": 1}, (2, 3))
    two.add(np.full((1, 2, 3), 1.0, dtype=np.float32), np.array([1]), np.array([1.0]))
    two.add(np.full((2, 2, 3), 5.0, dtype=np.float32), np.array([1, 0]), np.array([3.0, 100.0]))
    np.testing.assert_array_equal(two.averages()["all"], np.full((2, 3), 4.0))  # (1 + 15) / 4; label 0 left out


def test_image_averages_refuse_rows_out_of_step_and_zero_weight():
    averages = ImageAverages({"a": 1}, (2, 2))
    with pytest.raises(ValueError, match="2 images, 1 labels and 2 weights"):
        averages.add(np.ones((2, 2, 2), dtype=np.float32), np.ones(1), np.ones(2))
    averages.add(np.ones((2, 2, 2), dtype=np.float32), np.ones(2), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="'a' rows sum to zero"):
        averages.averages()


def test_write_jet_images_hands_each_batch_to_the_averages(tmp_path):
    events, axis_eta, axis_phi = random_jets(230)
    rng = np.random.default_rng(4)
    weights, label = rng.exponential(size=230), (rng.random(230) < 0.3).astype(int)
    averages, done = ImageAverages({"signal": 1, "background": 0}, FULL.shape), [0]

    def add(images):  # the rows of these images: the next len(images)
        rows = slice(done[0], done[0] + len(images))
        averages.add(images, label[rows], weights[rows])
        done[0] += len(images)

    chunks = [(events[a:b], axis_eta[a:b], axis_phi[a:b]) for a, b in ((0, 100), (100, 230))]
    write_jet_images(tmp_path / "images.npy", chunks, FULL, batch_events=64, on_batch=add)
    assert done == [230]
    images = jet_images(events, axis_eta, axis_phi, FULL)
    for name, value in (("signal", 1), ("background", 0)):
        expected = average_image(images[label == value], weights[label == value])
        np.testing.assert_allclose(averages.averages()[name], expected, rtol=1e-12)


def test_write_jet_images_without_events(tmp_path):
    path = tmp_path / "empty.npy"
    assert write_jet_images(path, iter(()), ImageSpec(n_eta=4, n_phi=5)) == (0, 4, 5)
    assert np.load(path).shape == (0, 4, 5)


def test_kt_subjet_definition_reclusters_like_the_kt_algorithm():
    events, _, _ = random_jets(200)
    events = events[ak.num(events) > 0]
    massless = {"pt": events.pt, "eta": events.eta, "phi": events.phi, "mass": ak.zeros_like(events.pt)}
    momenta = ak.zip(massless, with_name="Momentum4D")
    momenta = ak.zip({"px": momenta.px, "py": momenta.py, "pz": momenta.pz, "E": momenta.E}, with_name="Momentum4D")
    plain = fastjet.ClusterSequence(momenta, fastjet.JetDefinition(fastjet.kt_algorithm, 0.3)).inclusive_jets()
    ours = fastjet.ClusterSequence(momenta, kt_subjet_definition(0.3, 12)).inclusive_jets()
    assert ak.all(ak.num(plain) == ak.num(ours))
    np.testing.assert_array_equal(ak.flatten(plain.px).to_numpy(), ak.flatten(ours.px).to_numpy())
    hardest = kt_subjets(events, 0.3)
    expected = plain[ak.argsort(plain.pt, axis=1, ascending=False)][:, :2]
    np.testing.assert_allclose(ak.flatten(hardest.pt).to_numpy(), ak.flatten(expected.pt).to_numpy(), rtol=1e-12)


def test_any_jagged_layout_gives_the_same_images():
    # a boolean selection leaves a ListArray over float32 fields (the generic path); packed: the buffer path
    events, axis_eta, axis_phi = random_jets(120)
    keep = np.arange(120) % 3 != 0
    selected = ak.zip({field: ak.values_astype(events[field], np.float32) for field in ("pt", "eta", "phi")})[keep]
    packed = ak.to_packed(selected)
    assert isinstance(packed.layout, ak.contents.ListOffsetArray)
    assert not isinstance(selected.layout, ak.contents.ListOffsetArray)
    expected = jet_images(packed, axis_eta[keep], axis_phi[keep], FULL)
    np.testing.assert_array_equal(jet_images(selected, axis_eta[keep], axis_phi[keep], FULL), expected)
    window = slice(10, 30)  # a slice keeps the offsets of the whole array
    sliced = jet_images(packed[window], axis_eta[keep][window], axis_phi[keep][window], FULL)
    np.testing.assert_array_equal(sliced, expected[window])


def float64_reference(
    events: ak.Array, axis_eta: np.ndarray, axis_phi: np.ndarray, spec: ImageSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, n_eta, n_phi) built jet by jet in float64, and whether each jet has a constituent
    within 1e-6 rad of a pixel edge (where float32 rounding may pick the neighbouring pixel).

    Centring on the axis or the pT centroid, rotation of the principal axis downwards, flip; no
    normalisation.
    """
    width = spec.pixel_size
    half_width = (spec.half_width_eta, spec.half_width_phi)
    images, near_edge = np.zeros((len(events), *spec.shape)), np.zeros(len(events), dtype=bool)
    for k, (jet, jet_eta, jet_phi) in enumerate(zip(ak.to_list(events), axis_eta, axis_phi)):
        if not jet or not np.isfinite(jet_eta):
            continue
        pt = np.array([c["pt"] for c in jet])
        x = np.array([c["eta"] for c in jet]) - jet_eta
        y = (np.array([c["phi"] for c in jet]) - jet_phi + np.pi) % (2 * np.pi) - np.pi
        if spec.centre == "centroid":
            x = x - pt @ x / pt.sum()
            y = (y - pt @ y / pt.sum() + np.pi) % (2 * np.pi) - np.pi
        if spec.rotate:
            dx, dy = x - pt @ x / pt.sum(), y - pt @ y / pt.sum()
            var_x, var_y, cov_xy = pt @ (dx * dx) / pt.sum(), pt @ (dy * dy) / pt.sum(), pt @ (dx * dy) / pt.sum()
            if np.hypot(2 * cov_xy, var_x - var_y) > 1e-12:
                direction = 0.5 * np.arctan2(2 * cov_xy, var_x - var_y)
                projection = x * np.cos(direction) + y * np.sin(direction)
                if pt @ (projection * np.abs(projection)) < 0:
                    direction += np.pi
                angle = -np.pi / 2 - direction
                x, y = x * np.cos(angle) - y * np.sin(angle), x * np.sin(angle) + y * np.cos(angle)
        u, v = ((coordinate + h) / w for coordinate, h, w in zip((x, y), half_width, width))
        near_edge[k] = np.any(np.minimum(np.abs(u - np.round(u)) * width[0], np.abs(v - np.round(v)) * width[1]) < 1e-6)
        i, j = np.floor(u).astype(int), np.floor(v).astype(int)
        inside = (i >= 0) & (i < spec.n_eta) & (j >= 0) & (j < spec.n_phi)
        np.add.at(images[k], (i[inside], j[inside]), pt[inside])
        half = spec.n_eta // 2
        if spec.flip and images[k, :half].sum() > images[k, spec.n_eta - half :].sum():
            images[k] = images[k, ::-1]
    return images, near_edge


@pytest.mark.parametrize(
    "spec",
    [ImageSpec(), ImageSpec(centre="centroid", rotate=True, rotate_to="principal_axis", flip=True)],
    ids=["axis", "centroid-rotated-flipped"],
)
def test_images_agree_with_a_float64_reference_to_float32_precision(spec):
    # pixel sums and coordinates are float32 where the physics allows: the same pixels as in float64
    # (except for constituents within 1e-6 rad of a pixel edge) and the same pT to float32 precision
    events, axis_eta, axis_phi = random_jets(1500)  # more than one block of events
    images = jet_images(events, axis_eta, axis_phi, spec)
    reference, near_edge = float64_reference(events, axis_eta, axis_phi, spec)
    totals = reference.sum(axis=(1, 2))
    np.testing.assert_allclose(images.sum(axis=(1, 2), dtype=np.float64), totals, rtol=1e-6)
    clean = ~near_edge
    assert clean.mean() > 0.95 and totals[clean].any()
    np.testing.assert_array_equal(images[clean] != 0, reference[clean] != 0)
    difference = np.abs(images[clean] - reference[clean]).max(axis=(1, 2))
    assert np.all(difference <= 1e-5 * totals[clean])
    # deterministic: the same input gives the same bytes
    assert jet_images(events, axis_eta, axis_phi, spec).tobytes() == images.tobytes()
