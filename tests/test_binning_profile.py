"""The mixture's likelihood objective (phenoflow.binning.gmm.profile) against the inference
stage's own profiled fits of the same bins, its gradients against finite differences, and a
constructed case where a control bin of a background's normalisation decides the binning."""

from dataclasses import replace

import numpy as np
import pytest

from phenoflow.binning.gmm.limit import median_limit
from phenoflow.binning.gmm.profile import LikelihoodModel, discovery_significance
from phenoflow.binning.rule import BinRule, combined_significance
from phenoflow.inference.fits import expected_results
from phenoflow.inference.likelihood import BinnedSample, MCStatistics, workspace_spec
from phenoflow.inference.theory import TheoryShift, TheorySystematics

NAMES = ("sig", "zjets", "qcd")
SIGNAL = (True, False, False)
YIELDS = np.array([[2.0, 5.0, 10.0, 20.0, 30.0], [1000.0, 400.0, 100.0, 30.0, 8.0], [500.0, 100.0, 40.0, 10.0, 3.0]])
#: sum w^2: Z+jets events of weight 0.5, QCD of weight 20 (N_eff of the background 2.7 - 420 per bin:
#: bins 3 and 4 fall below the threshold of 10 and get Poisson terms)
SUMW2 = YIELDS * np.array([[0.01], [0.5], [20.0]])
#: theory shifts: a scale envelope on Z+jets, and "isr" (correlated) on Z+jets and the signal
SHIFTS = (("zjets", "scale"), ("zjets", "isr"), ("sig", "isr"))
UP = np.array([YIELDS[1] * [1.05, 1.08, 1.12, 1.2, 1.3], YIELDS[1] * 1.03, YIELDS[0] * [1.1, 1.05, 1.0, 0.98, 0.95]])
DOWN = np.array([YIELDS[1] * [0.97, 0.93, 0.9, 0.85, 0.8], YIELDS[1] * 0.98, YIELDS[0] * [0.92, 0.97, 1.0, 1.02, 1.04]])


def reference(model: LikelihoodModel, yields, sumw2, up=None, down=None) -> tuple[float, float]:
    """The inference stage's Z and median limit of these bins: workspace_spec and expected_results."""
    samples = []
    for i, (name, signal) in enumerate(zip(model.processes, model.signal)):
        theory = tuple(
            TheoryShift(group, "envelope", 2, up[j], down[j]) for j, (p, group) in enumerate(model.shifts) if p == name
        )
        samples.append(BinnedSample(name, signal, yields[i], sumw2[i], theory))
    spec = workspace_spec(
        samples,
        luminosity_uncertainty=model.luminosity_uncertainty,
        normalisation=dict(model.normalisation),
        mc_statistics=model.mc_statistics,
        theory=model.theory,
    )
    result = expected_results(spec, bands=(0,))
    return result.significance, result.limits[2]


CASES = {
    "lumi and normsys": LikelihoodModel(NAMES, SIGNAL, 0.017, {"zjets": 0.1, "qcd": 0.5}, MCStatistics(enabled=False)),
    "staterror and shapesys": LikelihoodModel(NAMES, SIGNAL, 0.017, {"zjets": 0.1, "qcd": 0.5}, MCStatistics()),
    "staterror only, signal included": LikelihoodModel(
        NAMES, SIGNAL, 0.0, {}, MCStatistics(include_signal=True, poisson_below=0.0)
    ),
    "histosys (shape)": LikelihoodModel(
        NAMES, SIGNAL, 0.017, {"qcd": 0.5}, MCStatistics(enabled=False), TheorySystematics(mode="shape"), SHIFTS
    ),
    "normsys and histosys of theory (both)": LikelihoodModel(
        NAMES, SIGNAL, 0.017, {"zjets": 0.1, "qcd": 0.5}, MCStatistics(), TheorySystematics(mode="both"), SHIFTS
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_significance_and_limit_equal_the_inference_stages_fits(name):
    """At hard yields Z and the median limit are the profiled fits' of the inference stage to
    1e-7 (measured: within 2e-12 for Z, 1e-9 for the limit, the SLSQP fits' tolerance)."""
    model = CASES[name]
    up, down = (UP, DOWN) if model.shifts else (None, None)
    z_ref, limit_ref = reference(model, YIELDS, SUMW2, up, down)
    z, _ = discovery_significance(model, YIELDS, SUMW2, up, down)
    assert float(z) == pytest.approx(z_ref, rel=1e-7)
    assert float(median_limit(model, YIELDS, SUMW2, up, down)) == pytest.approx(limit_ref, rel=1e-7)


def test_a_limit_far_from_its_gaussian_start_is_pyhfs():
    """Ten bins of a small signal on 10^8 QCD events of weight 1.7 x 10^5 with a 50 % normalisation
    (the tops example's): the limit (mu ~ 20) lies a hundred times beyond the Gaussian start, the
    profile fit after the first Newton step in mu has not converged, and its slope is negative
    there; mu then stays for the next fit (doubling it overshot into the region where the fit
    hits its bounds and left the limit at 34). The limit is pyhf's to 1e-6 (its fits' tolerance
    at these yields: 1e-7 apart)."""
    from phenoflow.binning.gmm.limit import limit_target, rough_limit

    qcd = np.array([8.36e7, 7.25e6, 1.85e6, 3.54e6, 2.02e6, 1.69e6, 4.38e6, 1.69e6, 1.69e6, 1.69e6])
    tops = np.array([9946.0, 6394.0, 4618.0, 1954.0, 7104.0, 888.0, 8347.0, 20602.0, 7637.0, 48662.0])
    yields, sumw2 = np.array([tops, qcd]), np.array([tops * 177.6, qcd * 1.685e5])
    model = LikelihoodModel(("tops", "qcd"), (True, False), 0.017, {"qcd": 0.5}, MCStatistics())
    _, limit_ref = reference(model, yields, sumw2)
    assert 15 < limit_ref < 25 and limit_ref > 50 * float(rough_limit(model, yields, limit_target()))
    assert float(median_limit(model, yields, sumw2)) == pytest.approx(limit_ref, rel=1e-6)


def test_poisson_bins_matter_and_batches_agree():
    """The shapesys bins change Z (so the test above checks them), and a batch of yields gives
    each member's own value."""
    with_poisson = CASES["staterror and shapesys"]
    gaussian = LikelihoodModel(NAMES, SIGNAL, 0.017, {"zjets": 0.1, "qcd": 0.5}, MCStatistics(poisson_below=0.0))
    z_poisson = float(discovery_significance(with_poisson, YIELDS, SUMW2)[0])
    z_gauss = float(discovery_significance(gaussian, YIELDS, SUMW2)[0])
    assert abs(z_poisson / z_gauss - 1) > 0.05
    batch = np.stack([YIELDS, YIELDS * [[2.0], [1.0], [1.0]]])
    z_batch = discovery_significance(with_poisson, batch, np.stack([SUMW2, SUMW2]))[0].numpy()
    assert z_batch[0] == pytest.approx(z_poisson, rel=1e-10)
    assert z_batch[1] == pytest.approx(float(discovery_significance(with_poisson, batch[1], SUMW2)[0]), rel=1e-10)


def _gradients(function, arrays):
    import tensorflow as tf

    tensors = [tf.constant(a) for a in arrays]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        value = function(*tensors)
    return float(value), [g.numpy() for g in tape.gradient(value, tensors)]


@pytest.mark.parametrize("kind", ["significance", "limit"])
def test_gradients_agree_with_finite_differences(kind):
    """dZ (envelope theorem) and d limit (implicit function) with respect to every yield and some
    sums of w^2 and theory yields (in Gaussian and Poisson bins) against central differences of
    steps 1e-5 relative, to 1e-4 of the largest."""
    model = CASES["normsys and histosys of theory (both)"]
    if kind == "significance":

        def f(y, w2, up, down):
            return discovery_significance(model, y, w2, up, down, iterations=30)[0]
    else:

        def f(y, w2, up, down):
            return median_limit(model, y, w2, up, down, iterations=30, solves=14)

    arrays = [YIELDS, SUMW2, UP, DOWN]
    _, grads = _gradients(f, arrays)
    checked = [(0, index) for index in np.ndindex(YIELDS.shape)]
    checked += [(a, index) for a in (1, 2, 3) for index in [(0, 1), (1, 2), (2, 4)]]
    # every shifted copy (+step and -step of each checked entry) in one batch, one compiled fit
    batch = [np.repeat(x[None], 2 * len(checked), axis=0) for x in arrays]
    steps = np.array([1e-5 * arrays[a][index] for a, index in checked])
    for i, (a, index) in enumerate(checked):
        batch[a][(2 * i, *index)] += steps[i]
        batch[a][(2 * i + 1, *index)] -= steps[i]
    values = np.asarray(f(*batch)).reshape(len(checked), 2)
    numeric = (values[:, 0] - values[:, 1]) / (2 * steps)
    analytic = np.array([grads[a][index] for a, index in checked])
    for a in range(len(arrays)):
        mine = np.array([b == a for b, _ in checked])
        np.testing.assert_allclose(analytic[mine], numeric[mine], atol=1e-4 * np.abs(numeric[mine]).max(), rtol=1e-3)


#: Four score regions: C (low) the control of background "a", pure; D background "b" alone; M and H
#: the signal over "a". "a" has a 50 % normalisation uncertainty, "b" 90 %.
REGIONS = np.array([[0.0, 0.0, 15.0, 10.0], [1000.0, 0.0, 50.0, 10.0], [0.0, 3000.0, 0.0, 0.0]])
CONTROL = LikelihoodModel(("sig", "a", "b"), (True, False, False), 0.0, {"a": 0.5, "b": 0.9}, MCStatistics(False))
#: The inference stage's median expected limits on mu of {C, D, M+H} and {C+D, M, H} (pyhf)
LIMIT_CONTROL, LIMIT_SPLIT = 0.6747, 1.0472


def test_a_control_bin_wins_the_likelihood_and_loses_the_per_bin_proxy():
    """K = 3 bins of the four regions: {C, D, M+H} keeps C as the control of a's normalisation
    (likelihood Z 2.94, median limit 0.675); {C+D, M, H} splits the signal (the per-bin Asimov
    sum prefers it, 3.44 against 3.04) but leaves a's normalisation free against b's in C+D
    (likelihood Z 1.82, limit 1.047)."""
    control, split = ([0, 1, 2, 4], [0, 2, 3, 4])
    z, proxy = {}, {}
    for name, edges in (("control", control), ("split", split)):
        y = np.stack([REGIONS[:, a:b].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)
        z[name] = float(discovery_significance(CONTROL, y, y * 1e-6)[0])
        proxy[name] = combined_significance(y[0], y[1:].sum(axis=0))
        limit = reference(CONTROL, y, y * 1e-6)[1]
        assert limit == pytest.approx(LIMIT_CONTROL if name == "control" else LIMIT_SPLIT, abs=1e-4)
    assert proxy["split"] > proxy["control"] * 1.1
    assert z["control"] > z["split"] * 1.5


def control_events(n_per_region: int = 200, seed: int = 0):
    """Events spread uniformly over the four score quarters of :data:`REGIONS` (C, D, M, H):
    scores, weights, labels and process names."""
    rng = np.random.default_rng(seed)
    x, w, label, process = [], [], [], []
    for p, name in enumerate(CONTROL.processes):
        for r in np.flatnonzero(REGIONS[p]):
            x.append(rng.uniform(r / 4, (r + 1) / 4, n_per_region))
            w.append(np.full(n_per_region, REGIONS[p, r] / n_per_region))
            label.append(np.full(n_per_region, int(p == 0)))
            process.append(np.full(n_per_region, name))
    return tuple(np.concatenate(a) for a in (x, w, label, process))


def test_the_likelihood_trained_mixture_finds_the_control_bin():
    """K = 3 on the four regions: the mixture on the proxy (method gmm) splits the signal (an edge
    at M|H, none near C|D), the mixture on the likelihood (method gmm_likelihood) keeps C apart (an
    edge at C|D) and reaches a likelihood Z above 2.8 (the best partition of the regions: 2.94),
    where the proxy's bins give 1.85; the mixture on the median limit (method gmm_limit) keeps C
    apart too, within 5 % of the control partition's limit (0.684 against 0.675), where the proxy's
    bins give the split's (1.04)."""
    from phenoflow.binning.gmm import GMMSettings
    from phenoflow.binning.gmm.fit import _likelihood_of_edge_sets, _likelihood_of_edges
    from phenoflow.binning.methods import MethodOptions, registered
    from phenoflow.inference.study import InferenceSettings

    x, w, label, process = control_events()
    index = np.array([CONTROL.processes.index(p) for p in process])
    inference = InferenceSettings.from_config(
        {"normalisation": {"a": 0.5, "b": 0.9}, "mc_statistics": False, "theory": {}, "cl": 0.95,
         "mc_limited_below": 0.8, "luminosity_uncertainty": 0.0}, None
    )  # fmt: skip
    options = MethodOptions(gmm=GMMSettings(n_fine=200, n_coarse=50), inference=inference, processes=process)
    z, limit, edges = {}, {}, {}
    objectives = {"gmm": "proxy", "gmm_likelihood": "discovery", "gmm_limit": "limit"}
    for method, objective in objectives.items():
        chosen = registered(method)(x, w, label, 3, BinRule(), options)
        assert chosen.fit.settings.objective == objective
        edges[method] = chosen.edges
        z[method] = _likelihood_of_edges(CONTROL, chosen.edges, x, w, index)
        limit[method] = 1 / _likelihood_of_edge_sets(CONTROL, [chosen.edges], (x, w, index, None), 3, "limit")[0]
    assert not np.any(np.abs(edges["gmm"][1:-1] - 0.25) < 0.05)
    assert np.any(np.abs(edges["gmm_likelihood"][1:-1] - 0.25) < 0.02)
    assert z["gmm_likelihood"] > 2.8 and z["gmm"] < 1.9
    # the limit too is the control's: {C, D, M+H} gives LIMIT_CONTROL, the proxy's bins LIMIT_SPLIT
    assert np.any(np.abs(edges["gmm_limit"][1:-1] - 0.25) < 0.02)
    assert chosen.fit.likelihood_limit == pytest.approx(limit["gmm_limit"], rel=1e-9)
    assert limit["gmm_limit"] < LIMIT_CONTROL * 1.05 and limit["gmm"] > LIMIT_SPLIT * 0.99


def test_the_likelihood_method_reads_the_inference_block_and_has_no_simplex_binning():
    """Method gmm_likelihood makes the plan read the inference block (an error naming the method
    without it); binning.gmm has no objective key (the method is the one way in); on softmax
    vectors the method gives no binning, as the exact optimum."""
    from phenoflow.binning.gmm import GMMSettings
    from phenoflow.binning.methods import MethodOptions, registered
    from phenoflow.binning.study import Plan

    assert GMMSettings().objective == "proxy"
    with pytest.raises(ValueError, match="binning.gmm.objective is not a setting"):
        GMMSettings.from_config({"objective": "likelihood"})
    binning = {"methods": ["gmm", "gmm_likelihood"], "n_bins": [3], "min_background": 1.0,
               "max_rel_uncertainty": 0.5, "min_mc_events": 10, "combination": "quadrature", "gmm": {}}  # fmt: skip
    inference = {"luminosity_uncertainty": 0.017, "normalisation": {"qcd": 0.5}, "mc_statistics": True,
                 "theory": {}, "cl": 0.95, "mc_limited_below": 0.8}  # fmt: skip
    plan = Plan.from_config(binning, None, 1, inference)
    assert plan.options.inference.normalisation == {"qcd": 0.5} and plan.options.inference.mc_statistics.enabled
    with pytest.raises(ValueError, match="binning.methods: gmm_likelihood needs the config's inference"):
        Plan.from_config(binning, None, 1)
    assert Plan.from_config({**binning, "methods": ["gmm"]}, None, 1).options.inference is None
    proba = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    assert registered("gmm_likelihood")(proba, np.ones(2), np.array([1, 0]), 3, BinRule(), MethodOptions()) is None


def _default_table():
    """The saved default analysis's BDT scores and the benchmark's likelihood of them (1.7 %
    luminosity, 10 % Z+jets and 50 % QCD normalisation, MC statistics), with its per-bin rule."""
    from pathlib import Path

    import pandas as pd

    from phenoflow.significance import Significance

    table = pd.read_parquet(Path(__file__).parent / "data" / "binning_scores" / "default_bdt.parquet")
    x, w = table["score"].to_numpy(np.float64), table["weight"].to_numpy(np.float64)
    label, process = table["label"].to_numpy(np.int64), table["process"].astype(str).to_numpy()
    names = sorted(set(process))
    model = LikelihoodModel(names, [bool(np.all(label[process == p] == 1)) for p in names], 0.017,
                            {"zvv_jets": 0.1, "qcd": 0.5}, MCStatistics())  # fmt: skip
    rule = BinRule(min_background=1.0, max_rel_uncertainty=0.5, min_mc_events=10, significance=Significance(0.1, True))
    return (x, w, label, process), model, rule


@pytest.mark.parametrize(("k", "objective"), [(3, "discovery"), (10, "discovery"), (10, "limit")])
def test_the_dp_optimum_is_a_start_and_the_result_is_never_below_it(k, objective):
    """The likelihood mixture's last restart starts at the DP optimum of the per-bin proxy of the
    same events and rule (binning.optimal.optimal_edges), bins and all: with that restart alone
    and one step of training the result is the DP's bins. With every restart and a short training
    the result, chosen by the exact likelihood Z (median limit) of the hard bins, is not below
    (above) the DP's."""
    from phenoflow.binning.gmm import GMMSettings, fit_gmm_binning
    from phenoflow.binning.gmm.fit import _likelihood_of_edge_sets
    from phenoflow.binning.optimal import optimal_edges
    from phenoflow.binning.rule import bin_index

    (x, w, label, process), model, rule = _default_table()
    index = np.array([model.processes.index(p) for p in process])
    dp = optimal_edges(x, w, label, k, rule)
    merit_dp = _likelihood_of_edge_sets(model, [dp], (x, w, index, None), k, objective)[0]  # Z or 1 / limit

    def merit(fit) -> float:
        return fit.likelihood_significance if objective == "discovery" else 1.0 / fit.likelihood_limit

    alone = GMMSettings(objective=objective, n_restarts=1, n_steps=1)
    fit = fit_gmm_binning(x, w, label, k, rule=rule, settings=alone, likelihood=(model, process))
    np.testing.assert_array_equal(bin_index(x, fit.edges), bin_index(x, dp))
    # the same fit in another batch: equal to 1e-12 (Z) and 1e-10 (the limit's root in mu)
    assert merit(fit) == pytest.approx(merit_dp, rel=1e-10)
    short = GMMSettings(objective=objective, n_steps=20)
    fit = fit_gmm_binning(x, w, label, k, rule=rule, settings=short, likelihood=(model, process))
    assert merit(fit) >= merit_dp * (1 - 1e-10)


def test_theory_shifts_of_the_mixture_equal_the_inference_stages_at_hard_bins():
    """With the shower variations of the saved default table (ISR and FSR envelopes on every
    process, mode both: normsys and histosys), the objective the mixture trains on
    (training._likelihood_z on one-hot per-bin sums, the members' up and down taken by
    theory.soft_shifts) and the final choice's fit both equal the inference stage's Z of a
    workspace built from the same variation columns (binned_samples, workspace_spec,
    expected_results) to 1e-7; the theory systematics lower Z there."""
    from pathlib import Path

    import pandas as pd
    import tensorflow as tf

    from phenoflow.binning.gmm.fit import _likelihood_of_edge_sets, _likelihood_of_edges
    from phenoflow.binning.gmm.limit import limit_target
    from phenoflow.binning.gmm.profile import nominal_parameters
    from phenoflow.binning.gmm.theory import member_columns, theory_rows
    from phenoflow.binning.gmm.training import _likelihood_z, _Loop
    from phenoflow.binning.rule import bin_index
    from phenoflow.inference.likelihood import binned_samples
    from phenoflow.variations import Variation

    table = pd.read_parquet(Path(__file__).parent / "data" / "binning_scores" / "default_theory_bdt.parquet")
    x, w = table["score"].to_numpy(np.float64), table["weight"].to_numpy(np.float64)
    label, process = table["label"].to_numpy(np.int64), table["process"].astype(str).to_numpy()
    columns = {c: table[c].to_numpy(np.float64) for c in table.columns if c.startswith("weight:")}
    names = sorted(set(process))
    varied = [Variation(c.removeprefix("weight:"), c.split(":")[1], "envelope") for c in columns]
    variations = {p: varied for p in names}
    shifts, rows, members = theory_rows(names, variations, list(columns))
    model = LikelihoodModel(names, [bool(np.all(label[process == p] == 1)) for p in names], 0.017,
                            {"zvv_jets": 0.1}, MCStatistics(), TheorySystematics(), shifts)  # fmt: skip
    assert model.theory_on and model.theory.mode == "both" and len(shifts) == 2 * len(names)
    edges = np.r_[0.0, np.quantile(x[label == 0], [0.5, 0.8]), np.quantile(x[label == 1], [0.5, 0.8]), 1.0]
    bins = bin_index(x, edges)
    samples, _ = binned_samples(bins, 5, w, process, label, variations=variations, variation_weights=columns)
    spec = workspace_spec(samples, luminosity_uncertainty=0.017, normalisation={"zvv_jets": 0.1},
                          mc_statistics=MCStatistics(), theory=TheorySystematics())  # fmt: skip
    z_ref = expected_results(spec, bands=(0,)).significance
    index = np.array([names.index(p) for p in process])
    weights_m = member_columns(rows, members, index, columns)
    assert _likelihood_of_edges(model, edges, x, w, index, (rows, weights_m)) == pytest.approx(z_ref, rel=1e-7)
    one_hot = np.eye(5)[bins]  # (n, K): the hard assignment
    per_event = [np.where(index == p, w, 0.0) ** k for k in (1, 2) for p in range(len(names))] + list(weights_m.T)
    sums = (one_hot.T @ np.column_stack(per_event))[None]  # (1, K, 2P + M)
    b = sums[..., [names.index(p) for p in names if p != "zz_qqvv"]].sum(axis=-1)
    loop = _Loop(1, True, "quadrature", likelihood=model, newton=(20, 20), theory=rows)
    start = tf.constant(nominal_parameters(model, 5)[None])
    z, _ = tf.function(lambda *a: _likelihood_z(loop, *a, 20), autograph=False)(  # compiled as in training
        tf.constant(sums), tf.constant(b), tf.constant(b), start
    )
    assert float(z[0]) == pytest.approx(z_ref, rel=1e-7)
    # the limit objective (1 / the median limit; mu appended to the state, 0: the Gaussian start)
    limit_ref = expected_results(spec, bands=(0,)).limits[2]
    limit_loop = replace(loop, limit_target=limit_target(), solves=(8, 8))
    start = tf.constant(np.r_[nominal_parameters(model, 5), 0.0][None])
    merit, state = tf.function(lambda *a: _likelihood_z(limit_loop, *a, 20, 8), autograph=False)(
        tf.constant(sums), tf.constant(b), tf.constant(b), start
    )
    assert 1.0 / float(merit[0]) == pytest.approx(limit_ref, rel=1e-7)
    assert float(state[0, -1]) == pytest.approx(limit_ref, rel=1e-7)  # the warm start of the next step
    events = (x, w, index, (rows, weights_m))
    assert 1.0 / _likelihood_of_edge_sets(model, [edges], events, 5, "limit")[0] == pytest.approx(limit_ref, rel=1e-7)
    plain = LikelihoodModel(model.processes, model.signal, 0.017, {"zvv_jets": 0.1}, MCStatistics())
    assert _likelihood_of_edges(plain, edges, x, w, index) > z_ref * 1.001
