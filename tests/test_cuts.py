"""Cut-and-count: cuts chosen to maximise the Asimov significance, both topologies.

Most samples are regular lattices (no randomness), so every optimum is exact and computable.
"""

import json

import numpy as np
import pytest

from phenoflow.evaluation import plots
from phenoflow.models.cuts import Cut, CutAndCount
from phenoflow.plotstyle import Collision
from phenoflow.significance import asimov_significance


def lattice(n: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """n bin centres on [low, high]: an exactly uniform sample."""
    return low + (high - low) * (np.arange(n) + 0.5) / n


def sample(signal: np.ndarray, background: np.ndarray, s_total: float, b_total: float):
    """(x, y, w) with equal weights per class summing to s_total and b_total; x is (n, f)."""
    signal, background = np.atleast_2d(signal.T).T, np.atleast_2d(background.T).T
    x = np.vstack([signal, background])
    y = np.r_[np.ones(len(signal), int), np.zeros(len(background), int)]
    w = np.r_[np.full(len(signal), s_total / len(signal)), np.full(len(background), b_total / len(background))]
    return x, y, w


def z_of(model: CutAndCount, x, y, w) -> float:
    keep = model.select(x)
    return float(asimov_significance(w[keep & (y == 1)].sum(), w[keep & (y == 0)].sum()))


# -- (1) one discriminating variable, known optimum --------------------------------------------------


@pytest.mark.parametrize("topology", ["parallel", "sequential"])
def test_uniform_signal_on_upper_half_cut_at_its_edge(topology):
    # Signal uniform on [1, 2], background uniform on [0, 2]. For x >= t: below 1 the signal is all
    # kept while background drops, above 1 s/b is constant and both shrink as (2 - t), so
    # Z ~ sqrt(2 - t) falls: the optimum is t = 1 exactly, i.e. the signal minimum (quantile 0).
    x, y, w = sample(lattice(1000, 1, 2), lattice(2000, 0, 2), s_total=10.0, b_total=200.0)
    model = CutAndCount(seed=1, topology=topology)
    history = model.fit(x, y, w, validation=(x, y, w))
    assert model.cuts == [Cut(0, low=lattice(1000, 1, 2)[0])]
    assert model.cuts[0].low == pytest.approx(1.0, abs=1e-3)
    assert history["direction"].tolist() == [">"]
    assert history["train_signal"].iloc[0] == pytest.approx(10.0)
    assert history["train_background"].iloc[0] == pytest.approx(100.0)
    assert history["train_significance"].iloc[0] == pytest.approx(asimov_significance(10.0, 100.0))
    assert history["val_significance"].iloc[0] == history["train_significance"].iloc[0]


@pytest.mark.parametrize("topology", ["parallel", "sequential"])
def test_rising_signal_interior_optimum(topology):
    # Signal density 2x on [0, 1] (x = sqrt(u), u uniform), background uniform on [0, 1].
    # Keeping x >= t: s = S (1 - t^2), b = B (1 - t). Maximise Z_A(s, b) over t analytically
    # (in the small-s limit t* = 1/3; with S/B = 0.2 it moves a little).
    S, B, n_thresholds = 20.0, 100.0, 100
    t = np.linspace(0, 0.99, 99_001)
    t_best = t[np.argmax(asimov_significance(S * (1 - t**2), B * (1 - t)))]
    assert 0.3 < t_best < 0.4

    x, y, w = sample(np.sqrt(lattice(20_000)), lattice(20_000), S, B)
    model = CutAndCount(seed=1, topology=topology, n_thresholds=n_thresholds)
    model.fit(x, y, w)
    (cut,) = model.cuts
    assert cut.direction == ">"
    # The candidate values are the signal quantiles sqrt(k / (n - 1)): spacing near t*.
    grid = np.sqrt(np.linspace(0, 1, n_thresholds))
    spacing = np.diff(grid)[np.searchsorted(grid, t_best) - 1]
    assert abs(cut.low - t_best) <= spacing

    # Brute force over every event value as threshold: the grid loses almost nothing.
    order = np.argsort(-x[:, 0])
    s, b = np.cumsum(np.where(y[order] == 1, w[order], 0)), np.cumsum(np.where(y[order] == 0, w[order], 0))
    z_brute = np.nanmax(np.where(b >= 1, asimov_significance(s, np.maximum(b, 1e-300)), np.nan))
    assert z_of(model, x, y, w) == pytest.approx(z_brute, rel=1e-3)
    assert z_of(model, x, y, w) <= z_brute + 1e-12


def test_two_sided_finds_a_window_and_sequential_builds_one():
    # Signal uniform on [0.4, 0.6] inside a uniform background on [0, 1]: keep the signal band.
    x, y, w = sample(lattice(1000, 0.4, 0.6), lattice(5000), 10.0, 500.0)
    window = CutAndCount(seed=0, topology="parallel", two_sided=True)
    window.fit(x, y, w)
    (cut,) = window.cuts
    assert cut.direction == "window" and window.n_parameters == 2
    assert (cut.low, cut.high) == pytest.approx((0.4, 0.6), abs=1e-3)

    # Without windows, the sequential topology cuts the variable from both sides in two steps.
    seq = CutAndCount(seed=0, topology="sequential")
    history = seq.fit(x, y, w)
    assert sorted(history["direction"]) == ["<", ">"] and set(history["variable"]) == {0}
    assert z_of(seq, x, y, w) == pytest.approx(z_of(window, x, y, w), rel=1e-6)
    assert history["train_significance"].is_monotonic_increasing


# -- (2) an irrelevant variable gets no cut --------------------------------------------------------


@pytest.mark.parametrize("topology", ["parallel", "sequential"])
def test_irrelevant_variable_gets_no_cut(topology):
    # Variable 1 is crossed with variable 0 on a product lattice, identically in both classes: any
    # cut on it keeps the same fraction of s and b, which always lowers Z_A.
    c = lattice(20)
    xs, xb = lattice(100, 1, 2), lattice(200, 0, 2)
    signal = np.array([(a, b) for a in xs for b in c])
    background = np.array([(a, b) for a in xb for b in c])
    x, y, w = sample(signal, background, 10.0, 200.0)
    model = CutAndCount(seed=0, topology=topology, feature_names=["good", "useless"])
    history = model.fit(x, y, w)
    assert [cut.variable for cut in model.cuts] == [0]
    assert history["feature"].tolist() == ["good"]


def test_no_cut_when_nothing_discriminates():
    x, y, w = sample(lattice(100), lattice(100), 5.0, 50.0)
    for topology in ("parallel", "sequential"):
        model = CutAndCount(seed=0, topology=topology)
        assert model.fit(x, y, w).empty and model.cuts == [] and model.n_parameters == 0
        assert (model.predict_proba(x) == 1.0).all()


# -- (3) correlations: parallel and sequential differ ----------------------------------------------


def correlated_sample():
    """Signal: A on [0.5, 1], B on [0, 1]. bg1 (1000 events): A < 0.5 and B < 0.5. bg2 (100): like
    the signal. On the full sample B >= 0.5 is a good cut (it removes bg1); once A >= 0.5 has
    removed bg1, signal and bg2 have the same B shape and any B cut only hurts."""
    grid = lattice(40)
    sig = np.array([(0.5 + a / 2, b) for a in grid for b in grid])
    bg1 = np.array([(a / 2, b / 2) for a in grid for b in grid])
    x = np.vstack([sig, bg1, sig])
    y = np.r_[np.ones(len(sig), int), np.zeros(2 * len(sig), int)]
    w = np.r_[np.full(len(sig), 50 / len(sig)), np.full(len(sig), 1000 / len(sig)), np.full(len(sig), 100 / len(sig))]
    return x, y, w


def test_parallel_and_sequential_differ_when_variables_are_correlated():
    x, y, w = correlated_sample()
    parallel = CutAndCount(seed=0, topology="parallel")
    hp = parallel.fit(x, y, w)
    sequential = CutAndCount(seed=0, topology="sequential")
    hs = sequential.fit(x, y, w)

    # Parallel: A >= 0.5 (s=50, b=100) and B >= 0.5 (s=25, b=50) each improve Z alone; ANDed they
    # keep s=25, b=50. Sequential: A >= 0.5, then no B cut improves.
    assert [(c.variable, c.direction) for c in parallel.cuts] == [(0, ">"), (1, ">")]
    assert parallel.cuts[1].low == pytest.approx(0.5, abs=0.02)
    assert [(c.variable, c.direction) for c in sequential.cuts] == [(0, ">")]
    assert hp["chosen_significance"].tolist()[0] == pytest.approx(asimov_significance(50.0, 100.0))

    z_parallel, z_sequential = z_of(parallel, x, y, w), z_of(sequential, x, y, w)
    assert z_sequential == pytest.approx(asimov_significance(50.0, 100.0))
    assert z_parallel == pytest.approx(hp["train_significance"].iloc[-1])
    assert z_sequential > z_parallel + 1.0
    assert hs["train_significance"].iloc[-1] == pytest.approx(z_sequential)


# -- (4) min_background -----------------------------------------------------------------------------


@pytest.mark.parametrize("topology", ["parallel", "sequential"])
def test_min_background_is_respected(topology):
    # Signal peaked at high x (density 2x), background falling (density 2(1-x)): the unconstrained
    # optimum keeps only a few background events; with min_background = 20 the cut must loosen.
    x, y, w = sample(np.sqrt(lattice(5000)), 1 - np.sqrt(lattice(5000)), 10.0, 1000.0)
    free = CutAndCount(seed=0, topology=topology, min_background=1.0)
    free.fit(x, y, w)
    b_free = w[free.select(x) & (y == 0)].sum()
    assert b_free < 20

    bound = CutAndCount(seed=0, topology=topology, min_background=20.0)
    history = bound.fit(x, y, w)
    assert (history["train_background"] >= 20.0 * (1 - 1e-9)).all()  # up to summation rounding
    assert w[bound.select(x) & (y == 0)].sum() >= 20.0 * (1 - 1e-9)
    assert w[bound.select(x) & (y == 0)].sum() == pytest.approx(20.0, rel=0.02)  # the constraint is active
    assert z_of(bound, x, y, w) < z_of(free, x, y, w)


def test_min_background_above_the_total_is_an_error():
    x, y, w = sample(lattice(10), lattice(10), 1.0, 5.0)
    with pytest.raises(ValueError, match="min_background"):
        CutAndCount(seed=0, min_background=10.0).fit(x, y, w)


def test_parallel_drops_a_cut_whose_and_would_empty_the_background():
    # Each cut alone keeps b = 100 (bg1 or bg2 removed) but together they keep b = 0.
    grid = lattice(20)
    sig = np.array([(1 + a, 1 + b) for a in grid for b in grid])
    bg_low_a = np.array([(a, 1 + b) for a in grid for b in grid])  # removed by A >= 1
    bg_low_b = np.array([(1 + a, b) for a in grid for b in grid])  # removed by B >= 1
    x = np.vstack([sig, bg_low_a, bg_low_b])
    y = np.r_[np.ones(len(sig), int), np.zeros(2 * len(sig), int)]
    w = np.r_[np.full(len(sig), 10 / len(sig)), np.full(2 * len(sig), 100 / len(sig))]
    model = CutAndCount(seed=0, topology="parallel", min_background=5.0)
    with pytest.warns(UserWarning, match="dropped"):
        model.fit(x, y, w)
    assert len(model.cuts) == 1
    assert w[model.select(x) & (y == 0)].sum() >= 5.0


# -- (4b) min_mc_events -----------------------------------------------------------------------------


def few_events_sample(n_top: int):
    """One variable: signal 5 events (weight 1) at x = 0.95; background ``n_top`` light events
    (weight 0.1) at x = 0.95 and 30 (weight 1) on [0, 0.5]. The only candidate value is 0.95."""
    x = np.r_[np.full(5 + n_top, 0.95), lattice(30, 0.0, 0.5)][:, None]
    y = np.r_[np.ones(5, int), np.zeros(n_top + 30, int)]
    w = np.r_[np.ones(5), np.full(n_top, 0.1), np.ones(30)]
    return x, y, w


@pytest.mark.parametrize("topology", ["parallel", "sequential"])
def test_a_cut_keeping_nine_background_events_is_refused_and_ten_accepted(topology):
    # x >= 0.95 keeps s = 5 over b = 0.1 n_top (above min_background = 0.5) from n_top MC events
    for n_top in (9, 10):
        x, y, w = few_events_sample(n_top)
        model = CutAndCount(seed=0, topology=topology, min_background=0.5, min_mc_events=10)
        history = model.fit(x, y, w, validation=(x, y, w))
        if n_top == 9:
            assert model.cuts == [] and history.empty
        else:
            assert model.cuts == [Cut(0, low=0.95)]
            assert history["train_background_events"].tolist() == [10] == history["val_background_events"].tolist()
            assert history["train_significance"].iloc[0] == pytest.approx(asimov_significance(5.0, 1.0))
        free = CutAndCount(seed=0, topology=topology, min_background=0.5)
        assert free.fit(x, y, w)["train_background_events"].tolist() == [n_top]  # without the minimum: taken


def test_min_mc_events_above_the_whole_sample_is_an_error_and_negative_weights_count():
    x, y, w = few_events_sample(10)
    with pytest.raises(ValueError, match="from 40 MC events.*min_mc_events = 41"):
        CutAndCount(seed=0, min_background=0.5, min_mc_events=41).fit(x, y, w)
    w[5], w[6] = -0.1, 0.0  # one light event negative (still an MC event), one of weight 0 (none)
    model = CutAndCount(seed=0, min_background=0.5, min_mc_events=9)
    assert model.fit(x, y, w)["train_background_events"].tolist() == [9]
    assert CutAndCount(seed=0, min_background=0.5, min_mc_events=10).fit(x, y, w).empty


def test_parallel_drops_a_cut_whose_and_would_keep_too_few_mc_events():
    # signal 5 at (0.95, 0.95); background 10 light events at (0.95, 0.1), 10 at (0.1, 0.95), 6
    # lighter ones at (0.95, 0.95) and 30 heavy ones at (0.1, 0.1). Each cut alone keeps 16 MC
    # events, their AND the 6 (b = 0.06, above min_background = 0.01): refused with 10 required.
    x = np.r_[[[0.95, 0.95]] * 5, [[0.95, 0.1]] * 10, [[0.1, 0.95]] * 10, [[0.95, 0.95]] * 6, [[0.1, 0.1]] * 30]
    y = np.r_[np.ones(5, int), np.zeros(56, int)]
    w = np.r_[np.ones(5), np.full(20, 0.1), np.full(6, 0.01), np.ones(30)]
    model = CutAndCount(seed=0, topology="parallel", min_background=0.01, min_mc_events=10)
    with pytest.warns(UserWarning, match="fewer than min_mc_events = 10"):
        history = model.fit(x, y, w)
    assert len(model.cuts) == 1 and history["train_background_events"].tolist() == [16]
    both = CutAndCount(seed=0, topology="parallel", min_background=0.01, min_mc_events=6)
    assert both.fit(x, y, w)["train_background_events"].tolist() == [16, 6]


# -- (5) save / load ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("topology", "two_sided"), [("parallel", False), ("sequential", False), ("sequential", True)])
def test_save_load_round_trip(tmp_path, topology, two_sided):
    rng = np.random.default_rng(7)
    xs = rng.normal([1.0, 0.0, 0.5], 1.0, size=(2000, 3))
    xb = rng.normal([0.0, 0.0, -0.5], [1.5, 1.0, 1.0], size=(8000, 3))
    x, y, w = sample(xs, xb, 30.0, 3000.0)
    model = CutAndCount(
        seed=3, topology=topology, two_sided=two_sided, n_thresholds=50, feature_names=["a", "b", "c"], min_mc_events=20
    )
    model.fit(x, y, w)
    assert model.cuts

    path = tmp_path / "cuts.json"
    model.save(path)
    # Plain JSON (no Infinity / NaN) with readable cuts.
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert [c["feature"] for c in data["cuts"]] == [model.feature_names[c.variable] for c in model.cuts]

    loaded = CutAndCount.load(path)
    assert loaded.cuts == model.cuts
    assert loaded.n_parameters == model.n_parameters == sum(len(c["values"]) for c in data["cuts"])
    assert (loaded.topology, loaded.two_sided, loaded.feature_names) == (topology, two_sided, ["a", "b", "c"])
    assert loaded.min_mc_events == 20
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert set(np.unique(model.predict_proba(x))) <= {0.0, 1.0}
    loaded.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def test_load_rejects_other_json(tmp_path):
    (tmp_path / "x.json").write_text('{"learner": {}}')
    with pytest.raises(ValueError, match="not a cut-and-count"):
        CutAndCount.load(tmp_path / "x.json")


# -- (6) negative weights ----------------------------------------------------------------------------


@pytest.mark.parametrize("topology", ["parallel", "sequential"])
def test_negative_weights_do_not_crash(topology):
    rng = np.random.default_rng(11)
    xs = rng.normal(1.0, 1.0, size=(3000, 2))
    xb = rng.normal(0.0, 1.0, size=(6000, 2))
    x, y, w = sample(xs, xb, 20.0, 600.0)
    w = w * np.where(rng.random(len(w)) < 0.2, -1.0, 1.0)  # NLO-like: 20% negative
    model = CutAndCount(seed=0, topology=topology, two_sided=True, min_background=5.0)
    history = model.fit(x, y, w, validation=(x, y, w))
    assert np.isfinite(history[["train_significance", "chosen_significance"]].to_numpy()).all()
    assert (history["train_background"] >= 5.0).all()


def test_cut_leaving_negative_background_is_not_allowed():
    # Signal uniform on [0.5, 1] (10 events). Background: 100 on [0, 0.5), 10 on [0.5, 0.9) and a
    # negative -5 on [0.9, 1]. For x >= t (t >= 0.5): b = 25 (0.9 - t) - 5, which is <= 0 from
    # t = 0.7 on, where Z_A would be meaningless; b >= 1 needs t <= 0.66, and Z rises with t up to
    # there, so the best allowed cut sits at the constraint (b just above 1).
    background = np.r_[lattice(1000, 0.0, 0.5), lattice(400, 0.5, 0.9), lattice(100, 0.9, 1.0)]
    x, y, _ = sample(lattice(1000, 0.5, 1.0), background, 10.0, 1.0)
    w = np.r_[np.full(1000, 0.01), np.full(1000, 0.1), np.full(400, 0.025), np.full(100, -0.05)]
    model = CutAndCount(seed=0, topology="sequential", n_thresholds=101)
    history = model.fit(x, y, w)
    assert model.cuts[0].direction == ">" and 0.6 < model.cuts[0].low <= 0.66
    b = w[model.select(x) & (y == 0)].sum()
    assert 1.0 - 1e-9 <= b < 1.2
    assert history["train_background"].iloc[-1] == pytest.approx(b)


def test_objective_uses_signed_signal_yields():
    # Signal: 1000 events of +0.02 on [0.5, 1] (density 40 per unit) and 500 of -0.02 on [0.75, 1]
    # (density -40): the signed signal lives on [0.5, 0.75) only (s = 10 there, 0 above).
    # Background uniform on [0, 1], B = 100. With x >= t, t in [0.5, 0.75]: s = 40 (0.75 - t),
    # b = 100 (1 - t), and Z_A falls with t, so the first cut is x >= 0.5 (s = 10, b = 50); then
    # x <= 0.75 keeps s = 10 with b = 25. With |w| the upper cut would never be chosen: the
    # signal density doubles above 0.75.
    signal = np.r_[lattice(1000, 0.5, 1.0), lattice(500, 0.75, 1.0)]
    x, y, _ = sample(signal, lattice(2000, 0.0, 1.0), 1.0, 100.0)
    w = np.r_[np.full(1000, 0.02), np.full(500, -0.02), np.full(2000, 0.05)]
    model = CutAndCount(seed=0, topology="sequential", n_thresholds=200)
    history = model.fit(x, y, w)
    assert history["direction"].tolist() == [">", "<"]
    assert model.cuts[0].low == pytest.approx(0.5, abs=0.005)
    assert model.cuts[1].high == pytest.approx(0.75, abs=0.005)
    assert history["train_signal"].iloc[-1] == pytest.approx(10.0, abs=0.1)
    assert history["train_background"].iloc[-1] == pytest.approx(25.0, abs=0.5)
    assert history["train_significance"].iloc[-1] == pytest.approx(asimov_significance(10.0, 25.0), rel=0.02)


# -- (7) the figure ----------------------------------------------------------------------------------


@pytest.mark.parametrize("normalise", [True, False])
def test_cut_values_plot_writes_png(tmp_path, normalise):
    x, y, w = correlated_sample()
    model = CutAndCount(seed=0, topology="parallel")
    model.fit(x, y, w)
    x3 = np.c_[x, np.linspace(0, 1, len(x))]  # a third variable without a cut, and a window cut
    cuts = [*model.cuts, Cut(2, low=0.2, high=0.7)]
    path = tmp_path / "cuts.png"
    plots.cut_values(x3, y, w, cuts, path, feature_names=["A", "B", "C"], normalise=normalise,
                     collision=Collision(13000.0, 139.0))  # fmt: skip
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- API -----------------------------------------------------------------------------------------


def test_api_checks():
    assert CutAndCount.name == "cuts"
    with pytest.raises(ValueError, match="topology"):
        CutAndCount(seed=0, topology="diagonal")
    model = CutAndCount(seed=0)
    x, y, w = sample(lattice(10, 1, 2), lattice(20, 0, 2), 1.0, 20.0)
    with pytest.raises(ValueError, match="labels"):
        model.fit(x, y * 2, w)
    model.fit(x, y, w)
    with pytest.raises(ValueError, match="shape"):
        model.predict_proba(np.zeros((3, 2)))


def test_every_registered_model_class_has_the_api():
    from phenoflow.models import METHODS, describe, model_class

    for name in METHODS:
        cls = model_class(name)
        assert cls.name == name and cls.description is describe(name)
        for method in ("fit", "predict_proba", "save", "load"):
            assert callable(getattr(cls, method)), (name, method)
    with pytest.raises(KeyError, match="unknown model 'svm'"):
        model_class("svm")
