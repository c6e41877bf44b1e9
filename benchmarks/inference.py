"""Expected-result fits of the inference stage on real workspaces: how many converge and the
seconds per workspace, optionally checked against pyhf's own hypotest route.

Run: ``.venv/bin/python benchmarks/inference.py [--write-workspaces DIR] [--cross-check NAME,...]``

The workspaces are those the inference rule would write for the saved test-split BDT scores in
``tests/data/binning_scores`` (the default analysis and boosted tops vs QCD, see its README):
edges from :func:`phenoflow.binning.methods.evaluate_binning` for the methods optimal, gmm,
quantile and equidistant at K = 3, 5, 10, 20 under the default config's rule before its minimum of
background MC events per bin (b >= 1, background MC uncertainty <= 0.5 per bin; the figures in
docs/benchmarks.md were measured so), then :func:`phenoflow.inference.likelihood.workspace_spec` with
1.7 % luminosity, MC statistics and the normalisations of :data:`NORMALISATION`: 32 workspaces
with bins of 4e3 - 1e8 background events. Each row shows the binning's Z_A, the likelihood's
Z, the median limit on mu with its +-2 sigma band and the wall time of
:func:`phenoflow.inference.likelihood.expected_results`, or its FitError. TensorFlow's import,
and pyhf's backend with a first trace (a one-bin workspace), are timed apart, once per process.

``--cross-check`` runs pyhf's own route on the named workspaces (e.g.
``default_bdt_optimal_K10``) under its TensorFlow backend with autodiff gradients: Z from
``pyhf.infer.hypotest`` with q0 on the mu = 1 Asimov data, and each limit by brentq on
hypotest's expected CLs set within +-1 % of ours (``upper_limit`` itself fails under that
backend in pyhf 0.7.6: its cache hashes tensors). Minutes per workspace; where pyhf's own SLSQP
fits stray (most workspaces) brentq finds no sign change and the row says so.

Timings are wall-clock times on whatever else the machine is running.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from phenoflow.binning.methods import evaluate_binning
from phenoflow.inference.likelihood import (
    BinnedSample,
    ExpectedResults,
    FitError,
    binned_samples,
    expected_results,
    tensorflow_backend,
    workspace_spec,
)

SCORES = Path(__file__).resolve().parents[1] / "tests" / "data" / "binning_scores"
#: Relative normalisation uncertainties per analysis (the default config's for the default one).
NORMALISATION = {"default_bdt": {"zvv_jets": 0.1, "qcd": 0.5}, "tops_bdt": {"qcd": 0.5}}
METHODS = ("optimal", "gmm", "quantile", "equidistant")
N_BINS = (3, 5, 10, 20)
RULE = {"min_background": 1.0, "max_rel_uncertainty": 0.5}  # without min_mc_events: the documented figures


def real_workspaces() -> dict[str, tuple[dict, float]]:
    """Name (analysis_method_KN) -> (workspace, the binning's Z_A) for the 32 real binnings."""
    out = {}
    for analysis, normalisation in NORMALISATION.items():
        table = pd.read_parquet(SCORES / f"{analysis}.parquet")
        x, w = table["score"].to_numpy(np.float64), table["weight"].to_numpy(np.float64)
        y, processes = table["label"].to_numpy(), table["process"].astype(str).to_numpy()
        for method in METHODS:
            for k in N_BINS:
                row = evaluate_binning(method, x, w, y, k, **RULE)
                samples, _ = binned_samples(x, w, processes, y, row["edges"])
                spec = workspace_spec(
                    samples, luminosity_uncertainty=0.017, normalisation=normalisation, mc_statistics=True
                )
                out[f"{analysis}_{method}_K{k}"] = (spec, row["z_asimov"])
    return out


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
    args = parser.parse_args()

    start = time.perf_counter()
    import tensorflow  # noqa: F401  (the gmm binning would import it first)

    print(f"TensorFlow import: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    workspaces = real_workspaces()
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
