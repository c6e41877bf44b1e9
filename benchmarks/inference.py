"""Expected-result fits of the inference stage on real workspaces: how many converge and the
seconds per workspace, optionally checked against pyhf's own hypotest route.

Run: ``.venv/bin/python benchmarks/inference.py [--write-workspaces DIR] [--cross-check NAME,...]
[--mc-statistics MODEL] [--compare-mc-statistics] [--mc-limited]``

The workspaces are those the inference rule would write for the saved test-split BDT scores in
``tests/data/binning_scores`` (the default analysis and boosted tops vs QCD, see its README):
edges from :func:`phenoflow.binning.methods.evaluate_binning` for the methods optimal, gmm,
quantile and equidistant at K = 3, 5, 10, 20 under the default config's rule before its minimum of
background MC events per bin (b >= 1, background MC uncertainty <= 0.5 per bin; the figures in
docs/benchmarks.md were measured so), then :func:`phenoflow.inference.likelihood.workspace_spec` with
1.7 % luminosity, MC statistics and the normalisations of :data:`NORMALISATION`: 32 workspaces
with bins of 4e3 - 1e8 background events. Each row shows the binning's Z_A, the likelihood's
Z, the median limit on mu with its +-2 sigma band and the wall time of
:func:`phenoflow.inference.fits.expected_results`, or its FitError. TensorFlow's import,
and pyhf's backend with a first trace (a one-bin workspace), are timed apart, once per process.

``--cross-check`` runs pyhf's own route on the named workspaces (e.g.
``default_bdt_optimal_K10``) under its TensorFlow backend with autodiff gradients: Z from
``pyhf.infer.hypotest`` with q0 on the mu = 1 Asimov data, and each limit by brentq on
hypotest's expected CLs set within +-1 % of ours (``upper_limit`` itself fails under that
backend in pyhf 0.7.6: its cache hashes tensors). Minutes per workspace; where pyhf's own SLSQP
fits stray (most workspaces) brentq finds no sign change and the row says so.

``--compare-mc-statistics`` builds the BDT's optimal binnings at K = 3, 5, 10, 20 of three runs
(the default analysis of 55 000 events, binned as its config does, i.e. with Cowan's Z at 10 %
and MC statistics; the older default and the tops, binned as above) with each MC-statistics
model of :data:`MC_MODELS` and prints the likelihood's Z and median limit [-2 sigma, +2 sigma]
(the signal's share of the staterror, Gaussian against Poisson terms in bins of few
MC events), with the bins' effective background MC events N_eff.

``--mc-limited`` fits the same optimal binnings with the default MC statistics and without them
(:func:`phenoflow.inference.mclimit.mc_impact`, as the inference rule does) and prints the ratios
Z with / Z without and median limit without / with, and for a result below 0.8 the events needed
(the generated counts of :data:`GENERATED`), with the seconds and fits it took.

Timings are wall-clock times on whatever else the machine is running.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from phenoflow.binning.methods import evaluate_binning
from phenoflow.binning.rule import BinRule, bin_index
from phenoflow.inference.fits import ExpectedResults, FitError, expected_results, tensorflow_backend
from phenoflow.inference.likelihood import (
    BinnedSample,
    MCStatistics,
    binned_samples,
    effective_background_events,
    workspace_spec,
)
from phenoflow.inference.mclimit import describe, mc_impact
from phenoflow.significance import ASIMOV, Significance

SCORES = Path(__file__).resolve().parents[1] / "tests" / "data" / "binning_scores"
#: Relative normalisation uncertainties per analysis (the default config's for the default one).
NORMALISATION = {"default_bdt": {"zvv_jets": 0.1, "qcd": 0.5}, "tops_bdt": {"qcd": 0.5}}
METHODS = ("optimal", "gmm", "quantile", "equidistant")
N_BINS = (3, 5, 10, 20)
RULE = BinRule(min_background=1.0, max_rel_uncertainty=0.5)  # without min_mc_events: the documented figures
#: The MC-statistics models compared by ``--compare-mc-statistics``: the former default (the
#: signal in the staterror, Gaussian everywhere), the signal out, each with Poisson terms below 10
#: effective background MC events (the default is "signal-out-poisson"), and none at all.
MC_MODELS = {
    "signal-in-gaussian": MCStatistics(include_signal=True, poisson_below=0.0),
    "signal-out-gaussian": MCStatistics(include_signal=False, poisson_below=0.0),
    "signal-out-poisson": MCStatistics(include_signal=False, poisson_below=10.0),
    "signal-in-poisson": MCStatistics(include_signal=True, poisson_below=10.0),
    "none": MCStatistics(enabled=False),
}
#: Runs of --compare-mc-statistics: scores file -> the figure of merit of its binning.
COMPARED_RUNS = {"default_55k_bdt": Significance(0.1, True), "default_bdt": ASIMOV, "tops_bdt": ASIMOV}
#: Generated events per process of those runs (tests/data/binning_scores/README.md).
GENERATED = {
    "default_55k_bdt": {"zz_qqvv": 5000, "zvv_jets": 10000, "qcd": 40000},
    "default_bdt": {"zz_qqvv": 5000, "zvv_jets": 5000, "qcd": 5000},
    "tops_bdt": {"ttbar": 3000, "qcd": 3000},
}


def binnings(
    analysis: str, methods=METHODS, n_bins=N_BINS, significance: Significance = ASIMOV
) -> dict[str, tuple[list[BinnedSample], float]]:
    """Name (analysis_method_KN) -> (the processes' bins, the binning's Z_A) for the saved scores
    ``analysis`` binned under :data:`RULE`."""
    table = pd.read_parquet(SCORES / f"{analysis}.parquet")
    x, w = table["score"].to_numpy(np.float64), table["weight"].to_numpy(np.float64)
    y, processes = table["label"].to_numpy(), table["process"].astype(str).to_numpy()
    out = {}
    for method in methods:
        for k in n_bins:
            row = evaluate_binning(method, x, w, y, k, replace(RULE, significance=significance))
            bins = bin_index(x, np.asarray(row["edges"]))
            out[f"{analysis}_{method}_K{k}"] = (
                binned_samples(bins, row["n_bins"], w, processes, y)[0],
                row["z_asimov"],
            )
    return out


def real_workspaces(mc_statistics: MCStatistics) -> dict[str, tuple[dict, float]]:
    """Name (analysis_method_KN) -> (workspace, the binning's Z_A) for the 32 real binnings."""
    out = {}
    for analysis, normalisation in NORMALISATION.items():
        for name, (samples, z_asimov) in binnings(analysis).items():
            spec = workspace_spec(
                samples, luminosity_uncertainty=0.017, normalisation=normalisation, mc_statistics=mc_statistics
            )
            out[name] = (spec, z_asimov)
    return out


def compare_mc_statistics() -> None:
    """Print Z and the median limit [-2 sigma, +2 sigma] of each model of :data:`MC_MODELS` on the
    optimal binnings of :data:`COMPARED_RUNS`."""
    print(f"\n{'binning':26s} {'N_eff of the bins':>24s}  " + " | ".join(f"{m:^30s}" for m in MC_MODELS))
    for analysis, significance in COMPARED_RUNS.items():
        normalisation = NORMALISATION[analysis.replace("_55k", "")]
        for name, (samples, _) in binnings(analysis, ("optimal",), significance=significance).items():
            n_eff = effective_background_events(samples)
            cells = []
            for model in MC_MODELS.values():
                spec = workspace_spec(
                    samples, luminosity_uncertainty=0.017, normalisation=normalisation, mc_statistics=model
                )
                try:
                    r = expected_results(spec)
                    cells.append(f"Z {r.significance:.3f}, {r.limits[2]:.3g} [{r.limits[0]:.3g}, {r.limits[4]:.3g}]")
                except FitError as err:
                    cells.append(f"FitError: {str(err)[:20]}")
            low = f"{np.sum(n_eff < 10)} of {n_eff.size} < 10, min {n_eff.min():.1f}"
            print(f"{name:26s} {low:>24s}  " + " | ".join(f"{c:^30s}" for c in cells))


def mc_limited(threshold: float = 0.8) -> None:
    """Print, for the optimal binnings of :data:`COMPARED_RUNS` with the default MC statistics, Z
    and the median limit with and without them, their ratios and the events needed below
    ``threshold``, with the seconds and the fits of the comparison and search."""
    options = MC_MODELS["signal-out-poisson"]
    print(
        f"\n{'binning':26s} {'Z':>7s} {'Z no MC':>8s} {'limit':>7s} {'no MC':>7s} {'ratios':>13s} {'s':>5s} {'fits':>4s}  events needed"
    )
    for analysis, significance in COMPARED_RUNS.items():
        normalisation = NORMALISATION[analysis.replace("_55k", "")]
        for name, (samples, _) in binnings(analysis, ("optimal",), significance=significance).items():
            fits = []

            def evaluate(s, mc: MCStatistics, normalisation=normalisation, fits=fits) -> tuple[float, float]:
                fits.append(mc.enabled)
                spec = workspace_spec(s, luminosity_uncertainty=0.017, normalisation=normalisation, mc_statistics=mc)
                r = expected_results(spec, bands=(0,))
                return r.significance, r.limits[2]

            with_mc = evaluate(samples, options)
            fits.clear()
            start = time.perf_counter()
            impact = mc_impact(samples, with_mc, evaluate, options, threshold)
            seconds = time.perf_counter() - start
            ratios = f"{impact.z_ratio:.3f}, {impact.limit_ratio:.3f}"
            needed = describe(impact.needed, GENERATED[analysis]) if impact.limited else "not MC-limited"
            print(
                f"{name:26s} {with_mc[0]:7.3f} {impact.z_without:8.3f} {with_mc[1]:7.3g} {impact.limit_without:7.3g}"
                f" {ratios:>13s} {seconds:5.1f} {len(fits):4d}  {needed}"
            )


def pyhf_route(spec: dict, ours: ExpectedResults) -> tuple[float, np.ndarray]:
    """Z and the five expected limits by pyhf's hypotest (TensorFlow backend, autodiff
    gradients); NaN limits where brentq finds no sign change within +-1 % of ours."""
    import pyhf
    from scipy.optimize import brentq
    from scipy.stats import norm

    with tensorflow_backend():
        model = pyhf.Workspace(spec).model()
        pars = np.asarray(model.config.suggested_init(), dtype=np.float64)
        pars[model.config.poi_index] = 1.0
        z = float(norm.isf(float(pyhf.infer.hypotest(0.0, model.expected_data(pars), model, test_stat="q0"))))
        pars[model.config.poi_index] = 0.0
        background_only = model.expected_data(pars)

        def cls_minus_alpha(mu: float, band: int) -> float:
            expected = pyhf.infer.hypotest(mu, background_only, model, return_expected_set=True)[1]
            return float(expected[band]) - (1 - ours.cl)

        limits = []
        for band, limit in enumerate(ours.limits):
            try:
                limits.append(brentq(cls_minus_alpha, 0.99 * limit, 1.01 * limit, args=(band,), rtol=1e-6))
            except (ValueError, pyhf.exceptions.FailedMinimization):
                limits.append(np.nan)
    return z, np.array(limits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write-workspaces", type=Path, default=None, help="folder for the 32 workspaces (JSON)")
    parser.add_argument("--cross-check", default="", help="comma-separated workspace names for pyhf's own route")
    parser.add_argument(
        "--mc-statistics", choices=list(MC_MODELS), default="signal-out-poisson", help="MC statistics of the 32"
    )
    parser.add_argument("--compare-mc-statistics", action="store_true", help="only compare the MC-statistics models")
    parser.add_argument("--mc-limited", action="store_true", help="only the results without MC statistics")
    args = parser.parse_args()
    if args.compare_mc_statistics:
        compare_mc_statistics()
        return
    if args.mc_limited:
        mc_limited()
        return

    start = time.perf_counter()
    import tensorflow  # noqa: F401  (the gmm binning would import it first)

    print(f"TensorFlow import: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    workspaces = real_workspaces(MC_MODELS[args.mc_statistics])
    print(f"{len(workspaces)} workspaces built in {time.perf_counter() - start:.1f} s (binning included)")
    if args.write_workspaces is not None:
        args.write_workspaces.mkdir(parents=True, exist_ok=True)
        for name, (spec, _) in workspaces.items():
            (args.write_workspaces / f"{name}.json").write_text(json.dumps(spec, indent=1))
    one_bin = [
        BinnedSample("s", True, np.array([10.0]), np.array([1.0])),
        BinnedSample("b", False, np.array([100.0]), np.array([4.0])),
    ]
    start = time.perf_counter()
    expected_results(workspace_spec(one_bin, luminosity_uncertainty=0.017))
    print(
        f"Warm-up (pyhf's TensorFlow backend and a first trace, once per process): {time.perf_counter() - start:.1f} s"
    )
    print(f"Load average before: {os.getloadavg()[0]:.1f}\n")

    print(f"{'workspace':28s} {'Z_A':>7s} {'Z':>8s} {'median limit [-2σ, +2σ]':>30s} {'s':>6s}")
    seconds, results = [], {}
    for name, (spec, z_asimov) in workspaces.items():
        start = time.perf_counter()
        try:
            result = expected_results(spec)
        except FitError as err:
            seconds.append(time.perf_counter() - start)
            print(f"{name:28s} {z_asimov:7.3f} FitError: {err} {seconds[-1]:6.2f}")
            continue
        seconds.append(time.perf_counter() - start)
        results[name] = result
        band = f"{result.limits[2]:.4g} [{result.limits[0]:.4g}, {result.limits[4]:.4g}]"
        print(f"{name:28s} {z_asimov:7.3f} {result.significance:8.4f} {band:>30s} {seconds[-1]:6.2f}")
    print(
        f"\nconverged: {len(results)} of {len(workspaces)}; seconds per workspace: mean {np.mean(seconds):.2f}, max {np.max(seconds):.2f}"
    )
    print(f"Load average after: {os.getloadavg()[0]:.1f}")

    for name in filter(None, args.cross_check.split(",")):
        if name not in results:
            print(f"\n{name}: no result of ours to check")
            continue
        start = time.perf_counter()
        z, limits = pyhf_route(workspaces[name][0], results[name])
        ours = results[name]
        print(f"\n{name}: pyhf's hypotest route, {time.perf_counter() - start:.0f} s")
        print(f"  Z: pyhf {z:.7g}, ours {ours.significance:.7g}, relative difference {ours.significance / z - 1:+.1e}")
        deviation = np.array(ours.limits) / limits - 1
        print(
            f"  limits: pyhf {np.array2string(limits, precision=6)}, ours/pyhf - 1: {np.array2string(deviation, precision=1)}"
        )


if __name__ == "__main__":
    main()
