"""Gaussian-mixture bin optimisation against the exact dynamic-programming optimum: the GATO toy,
saved real classifier scores of two analyses, and a three-class classifier on the simplex.

Run: ``.venv/bin/python benchmarks/binning.py [--sections toy,real,events,simplex] [--signal N]
[--background M] [--seed S] [--min-background B] [--max-rel-uncertainty R]
[--relative-background-uncertainty U] [--mc-statistics] [--plots DIR]``

Section "real" (saved test-split scores in ``tests/data/binning_scores``: the default analysis
and boosted all-hadronic tops vs QCD, see its README) uses the default config's rule (b >= 1,
background MC uncertainty <= 0.5 and at least 10 background MC events per bin) and prints, for the plain Asimov Z_A and for Cowan's Z
with 10 % systematic and MC statistics (the default ``significance`` block), each labelled: the
exact optimum over every cut between events (:func:`phenoflow.binning.optimal.event_optimum`,
no fine grid; the reference), the workflow's ``optimal`` method (DP on 200 equal fine bins), the
mixture (defaults, seed 0), GMM / exact, the bins each keeps and the mixture's seconds per K.
Section "events" (the same tables): what the rule's minimum of 10 background MC events costs, per
K the exact optimum's Z without it (b >= 1, MC uncertainty <= 0.5: four equal-weight events pass)
and with it, the bins each keeps, how many of the optimum's bins held fewer than 10 background MC
events without it, and the mixture's Z under the full rule against the optimum.
Section "likelihood" (fresh scores: the default analysis's BDT with its ISR and FSR shower
variations, ``default_theory_bdt``, and the tops example's BDT, ``tops_fresh_bdt``; the default
config's rule and Cowan's Z with 10 % and MC statistics as the proxy, the default config's
inference settings: 1.7 % luminosity, 10 % Z+jets and 50 % QCD normalisation, MC statistics,
theory systematics from the variation columns): per K the inference stage's exact profiled Z and
median limit of the DP optimum of the proxy (``optimal``), the mixture on the proxy (``gmm``) and
the mixtures on the likelihood's discovery Z (``gmm_likelihood``) and on its median limit
(``gmm_limit``), each merged under the rule, their Z and limit over the DP's and the seconds each
method takes per K.
Section "simplex": the mixture on the softmax outputs of a three-class toy
(:func:`phenoflow.binning.toys.softmax_toy`, two signals combined in quadrature, b >= 10 per
bin) against the best of the n-D baselines (regular grid, argmax-and-quantile regions), the
same rule applied to all; no exact optimum exists there.

Section "toy":

On :func:`phenoflow.binning.toys.gato_toy` (100 000 signal + 300 000 background events by default), for
K = 3, 5, 10, 20 bins, under the rule "every bin has at least B expected background events and a
relative MC uncertainty sqrt(sum w^2)/b of the background of at most R" (defaults B = 5, R = 0.2,
the thresholds of the GATO example), this prints:

* equidistant and equal-signal-quantile bins, merged until the rule holds;
* the exact optimum of :func:`phenoflow.binning.optimal.optimal_partition` under the rule on
  three fine binnings: 200 equal bins (what the workflow's ``optimal`` used before it cut between events), 2000 equal
  bins, and the 2000 MC-event-quantile cells the mixture itself sees. Finer fine bins can only
  give a higher optimum, but the quantile cells resolve the last per mille of the score, where
  the significance of this toy sits. The reference is the best of the three, so the ratio is
  against the strongest optimum computed, not the default one;
* the mixture (:func:`phenoflow.binning.gmm.fit_gmm_binning`, defaults, seed 0) with the rule's
  penalties, its hard bins checked and merged under the same rule, the ratio to the reference
  and its wall time per K. The time covers everything inside the fit: fine binning of all
  events, training, choosing among the restarts, the hard result. TensorFlow's import and the
  first traces of the training loop happen once, in two small warm-up fits timed separately;
* the same without the rule (DP requiring only b > 0 per bin, the mixture without penalties,
  bins with b = 0 merged), labelled "unconstrained".

Z is the plain Asimov Z_A, or with ``--relative-background-uncertainty`` / ``--mc-statistics``
Cowan's Z with that per-bin background uncertainty (the config's ``significance`` block), which
every method then maximises and is judged by.

Timings are wall-clock times on whatever else the machine is running.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from phenoflow.binning.baselines import equal_signal_quantile_edges, equidistant
from phenoflow.binning.gmm import FINE_CELLS_1D, GMMSettings, fine_cells, fit_gmm_binning
from phenoflow.binning.optimal import event_optimum, fine_histograms, optimal_partition
from phenoflow.binning.rule import (
    RULE_TOLERANCE,
    BinRule,
    apply_rule_1d,
    bin_index,
    binned_yields,
    combined_significance,
    evaluate_bin_map,
    yields_with_errors,
)
from phenoflow.binning.simplex import ArgmaxQuantileMap, RegularGridMap
from phenoflow.binning.toys import GATO_LUMINOSITY, gato_toy, softmax_toy
from phenoflow.plotstyle import Collision
from phenoflow.significance import ASIMOV, Significance

K_VALUES = (3, 5, 10, 20)
DP_FINE = (200, 2000)
REAL_SCORES = Path(__file__).resolve().parent.parent / "tests" / "data" / "binning_scores"
REAL_RULE = BinRule(min_background=1.0, max_rel_uncertainty=0.5, min_mc_events=10)  # the default config's rule
SIMPLEX_RULE = BinRule(min_background=10.0)

#: The plots' label: the toy's luminosity (pb^-1 -> fb^-1); it has no beams.
TOY = Collision(None, GATO_LUMINOSITY / 1000)
#: The saved real scores' label: both analyses are at 13 TeV, their yields at 139 fb^-1.
REAL = Collision(13000.0, 139.0)


def z_under_rule(edges, scores, weights, labels, rule: BinRule) -> tuple[float, int]:
    """Combined Z of ``edges`` after merging under the rule, and the number of bins left."""
    merged, _ = apply_rule_1d(edges, scores, weights, labels, rule)
    y = binned_yields(scores, weights, labels, merged)
    return combined_significance(y["s"], y["b"], y["b_sumw2"], rule.significance), len(merged) - 1


def dp_optimum(s, b, w2, k, rule: BinRule) -> tuple[float, float]:
    """sqrt of the DP objective and its time in seconds."""
    start = time.perf_counter()
    part = optimal_partition(s, b, w2, k, rule)
    return math.sqrt(part.objective), time.perf_counter() - start


def run(data: dict, rule: BinRule, penalties: bool, plots: Path | None, tag: str) -> dict:
    """One table: every method at every K under one rule."""
    scores, weights, labels = data["scores"], data["weights"], data["labels"]
    fine = {n: fine_histograms(scores, weights, labels, n)[:3] for n in DP_FINE}
    cells = fine_cells(scores, weights, labels, (1,), FINE_CELLS_1D).yields
    fine["cells"] = (cells.s[0], cells.b, cells.b_sumw2)
    rows = {}
    for k in K_VALUES:
        row = {}
        for name, method in (("equidistant", equidistant), ("quantile", equal_signal_quantile_edges)):
            edges = method(scores, weights, labels, k)
            row[name], _ = z_under_rule(edges, scores, weights, labels, rule)
        for name, (s, b, w2) in fine.items():
            row[f"dp {name}"], row[f"dp {name} time"] = dp_optimum(s, b, w2, k, rule)
        settings = GMMSettings() if penalties else GMMSettings(penalty_background=0.0, penalty_uncertainty=0.0)
        result = fit_gmm_binning(scores, weights, labels, k, rule=rule, settings=settings)
        y = binned_yields(scores, weights, labels, result.edges)
        assert np.all(y["b"] >= rule.min_background) and np.all(y["b"] > 0)
        assert np.all(np.sqrt(y["b_sumw2"]) <= rule.max_rel_uncertainty * y["b"] * (1 + RULE_TOLERANCE))
        row["gmm"], row["gmm bins"], row["gmm time"] = result.significance, result.n_bins, result.wall_time
        row["gmm min b"] = float(y["b"].min())
        row["gmm max rel"] = float(np.max(np.sqrt(y["b_sumw2"]) / y["b"]))
        row["gmm notes"] = result.warnings
        rows[k] = row
        if plots is not None:
            draw(result, data, plots, f"{tag}_k{k}")
    return rows


def draw(result, data: dict, folder: Path, name: str) -> None:
    """Stacked yields, history and components of one fit."""
    from phenoflow.binning import plots as binning_plots
    from phenoflow.binning.toys import GATO_PROCESSES

    scores, weights, process = data["scores"], data["weights"], data["process"]
    groups = yields_with_errors(bin_index(scores, result.edges), weights, process, result.n_bins)
    names = {i: p[0] for i, p in enumerate(GATO_PROCESSES)}
    backgrounds = {names[i]: v for i, (v, _) in groups.items() if i != 0}
    error = np.sqrt(sum(e**2 for i, (_, e) in groups.items() if i != 0))
    for log in (False, True):
        binning_plots.binned_stack(
            result.edges,
            backgrounds,
            {"signal": groups[0][0]},
            folder / f"{name}_stack{'_log' * log}.png",
            background_error=error,
            log=log,
            signal_scale=100.0,
            collision=TOY,
        )
    binning_plots.training_history(result.history, folder / f"{name}_history.png", collision=TOY)
    binning_plots.mixture_components_1d(
        scores,
        weights,
        data["labels"] == 1,
        result,
        folder / f"{name}_components.png",
        xlim=(0.95, 1.0),
        collision=TOY,
    )


def print_table(rows: dict, title: str) -> None:
    print(f"\n{title}")
    header = (
        "K",
        "equidist",
        "quantile",
        "DP n=200",
        "DP n=2000",
        "DP cells",
        "reference",
        "GMM",
        "GMM/ref",
        "GMM/DP200",
        "bins",
        "GMM s",
        "DP2000 s",
    )
    print(" ".join(f"{h:>9}" for h in header))
    for k, r in rows.items():
        ref = max(r["dp 200"], r["dp 2000"], r["dp cells"])
        which = {r["dp 200"]: "200", r["dp 2000"]: "2000", r["dp cells"]: "cells"}[ref]
        cols = (k, r["equidistant"], r["quantile"], r["dp 200"], r["dp 2000"], r["dp cells"])
        line = f"{cols[0]:>9d} " + " ".join(f"{v:9.4f}" for v in cols[1:])
        line += f" {ref:6.4f}({which:>5}) {r['gmm']:9.4f} {r['gmm'] / ref:9.4f} {r['gmm'] / r['dp 200']:9.4f}"
        line += f" {r['gmm bins']:>9d} {r['gmm time']:9.2f} {r['dp 2000 time']:9.2f}"
        print(line)
    for k, r in rows.items():
        notes = "; ".join(r["gmm notes"]) or "none"
        print(
            f"  K={k}: GMM bins have b >= {r['gmm min b']:.2f}, rel. MC unc. <= {r['gmm max rel']:.3f}; notes: {notes}"
        )


def real_tables():
    """(name, scores, weights, labels) of every saved score table."""
    import pandas as pd

    for path in sorted(REAL_SCORES.glob("*.parquet")):
        table = pd.read_parquet(path)
        columns = (("score", np.float64), ("weight", np.float64), ("label", np.int64))
        yield (path.stem, *(table[c].to_numpy(t) for c, t in columns))


def describe_z(significance: Significance) -> str:
    """The Z a table quotes, in words."""
    return "plain Asimov Z_A" if significance.plain else "Cowan, sigma_b: " + significance.describe()


def mc_events(significance: Significance) -> None:
    """The exact optimum without and with the rule's minimum of background MC events, and the
    mixture under the full rule, on every saved score table."""
    minimum = REAL_RULE.min_mc_events
    rule = replace(REAL_RULE, significance=significance)
    before = replace(rule, min_mc_events=0)
    for name, x, w, y in real_tables():
        print(
            f"\n{name} ({len(x)} events, {np.count_nonzero((y == 0) & (w != 0))} background MC); Z: {describe_z(significance)}"
        )
        header = ("K", "Z before", "bins", f"< {minimum} ev.", "min ev.", "Z after", "bins", "after/bef.", "GMM/after")
        print(" ".join(f"{h:>10}" for h in header))
        for k in K_VALUES:
            edges0, z0 = event_optimum(x, w, y, k, before)
            counts = binned_yields(x, w, y, edges0)["b_events"]
            edges1, z1 = event_optimum(x, w, y, k, rule)
            fit = fit_gmm_binning(x, w, y, k, rule=rule, seed=0)
            assert binned_yields(x, w, y, fit.edges)["b_events"].min() >= minimum
            print(
                f"{k:>10d} {z0:10.4f} {len(edges0) - 1:>10d} {np.count_nonzero(counts < minimum):>10d} "
                f"{int(counts.min()):>10d} {z1:10.4f} {len(edges1) - 1:>10d} {z1 / z0:10.4f} {fit.significance / z1:10.4f}"
            )


def real_scores(significance: Significance, plots: Path | None) -> None:
    """GMM against the exact optimum over all cuts between events, on every saved score table."""
    rule = replace(REAL_RULE, significance=significance)
    for name, x, w, y in real_tables():
        print(
            f"\n{name} ({len(x)} events, {w[y == 1].sum():.4g} signal / {w[y == 0].sum():.4g} background expected); "
            f"Z: {describe_z(significance)}"
        )
        header = ("K", "exact DP", "bins", "DP n=200", "bins", "GMM", "bins", "GMM/exact", "GMM s")
        print(" ".join(f"{h:>10}" for h in header))
        for k in K_VALUES:
            edges, exact = event_optimum(x, w, y, k, rule)
            s200, b200, w200, n200, fine = fine_histograms(x, w, y, 200)
            part = optimal_partition(s200, b200, w200, k, rule, b_events=n200)
            coarse = fine[part.indices]
            z200, n200 = z_under_rule(coarse, x, w, y, rule)
            fit = fit_gmm_binning(x, w, y, k, rule=rule, seed=0)
            print(
                f"{k:>10d} {exact:10.4f} {len(edges) - 1:>10d} {z200:10.4f} {n200:>10d} {fit.significance:10.4f} "
                f"{fit.n_bins:>10d} {fit.significance / exact:10.4f} {fit.wall_time:10.2f}"
            )
            if plots is not None:
                from phenoflow.binning import plots as binning_plots

                tag = "asimov" if significance.plain else "cowan"
                binning_plots.mixture_components_1d(
                    x, w, y == 1, fit, plots / f"real_{name}_{tag}_k{k}_components.png",
                    xlim=(float(np.quantile(x[y == 1], 0.02)), 1.0), reference=(edges, "DP optimum"), collision=REAL,
                    title=f"{name}, K = {k}\nGMM {fit.significance:.4g} ({fit.n_bins} bins), "
                    f"exact optimum {exact:.4g} ({len(edges) - 1} bins)",
                )  # fmt: skip


def simplex_three_class(significance: Significance) -> None:
    """The mixture on the simplex of a three-class toy against the best n-D baseline."""
    toy = softmax_toy()
    x, w, y = toy["scores"], toy["weights"], toy["labels"]
    common = dict(rule=replace(SIMPLEX_RULE, significance=significance), signal_labels=(1, 2), combination="quadrature")
    print(
        f"\nThree-class toy on the simplex ({len(y)} events; signals A and B combined in quadrature; b >= "
        f"{SIMPLEX_RULE.min_background:g} per bin); "
        f"Z: {describe_z(significance)}"
    )
    header = ("K", "grid", "bins", "argmax-q", "bins", "GMM", "bins", "GMM/best", "GMM s")
    print(" ".join(f"{h:>10}" for h in header))
    for k in K_VALUES:
        base = {}
        for name, bin_map in (("grid", RegularGridMap.for_bins(3, k)), ("argmax-q", ArgmaxQuantileMap.fit(x, k))):
            r = evaluate_bin_map(bin_map, bin_map.n_bins, x, w, y, **common)
            base[name] = (r["significance"], r["n_bins"])
        fit = fit_gmm_binning(x, w, y, k, **common, seed=0)
        best = max(z for z, _ in base.values())
        cols = " ".join(f"{z:10.4f} {n:>10d}" for z, n in base.values())
        print(
            f"{k:>10d} {cols} {fit.significance:10.4f} {fit.n_bins:>10d} {fit.significance / best:10.4f} {fit.wall_time:10.2f}"
        )


#: The default config's inference block: 1.7 % luminosity, 10 % Z+jets and 50 % QCD normalisation,
#: MC statistics with Poisson terms below 10 effective background MC events
LIKELIHOOD_SETTINGS = {"luminosity_uncertainty": 0.017, "normalisation": {"zvv_jets": 0.1, "qcd": 0.5}}


def _variations(table) -> tuple[dict, dict]:
    """The table's variation weight columns (``weight:<group>:<name>``) as every process's
    variations (each group an envelope, as the default analysis's shower variations) and the
    columns by name."""
    from phenoflow.variations import Variation

    columns = {c: table[c].to_numpy(np.float64) for c in table.columns if c.startswith("weight:")}
    varied = [Variation(c.removeprefix("weight:"), c.split(":")[1], "envelope") for c in columns]
    return {p: varied for p in set(table["process"].astype(str))} if varied else {}, columns


def likelihood_of(edges, events, settings, theory) -> tuple[float, float, int]:
    """The inference stage's expected Z and median limit of ``edges`` merged under the rule (the
    exact profiled fits of workspace_spec and expected_results, with the theory systematics of
    ``theory`` = (variations, columns)), and the bins kept. ``events``: x, w, y, process."""
    from phenoflow.inference.fits import FitError, expected_results
    from phenoflow.inference.likelihood import binned_samples, workspace_spec

    x, w, y, process = events
    merged, _ = apply_rule_1d(edges, x, w, y, REAL_RULE)
    samples, _ = binned_samples(bin_index(x, merged), len(merged) - 1, w, process, y, variations=theory[0],
                                variation_weights=theory[1])  # fmt: skip
    normalisation = {p: u for p, u in settings["normalisation"].items() if p in set(process)}
    spec = workspace_spec(
        samples, luminosity_uncertainty=settings["luminosity_uncertainty"], normalisation=normalisation
    )
    try:
        result = expected_results(spec, bands=(0,))
    except FitError:
        return float("nan"), float("nan"), len(merged) - 1
    return result.significance, result.limits[2], len(merged) - 1


def likelihood_section() -> None:
    """Per K: the likelihood Z and median limit of the DP optimum of the per-bin proxy (the
    workflow's ``optimal``), the mixture on the proxy (``gmm``), the mixture on the likelihood's
    discovery Z (``gmm_likelihood``) and on its median expected limit (``gmm_limit``), both with
    the table's theory variations; the ratios of the likelihood-trained mixtures' figure to the
    DP's (Z up, limit down) and the mixtures' seconds per K, on the default analysis's fresh scores
    with shower variations and the tops example's fresh scores."""
    import pandas as pd

    from phenoflow.binning.methods import MethodOptions, registered
    from phenoflow.inference.study import InferenceSettings

    rule = replace(REAL_RULE, significance=Significance(0.1, True))
    inference = InferenceSettings.from_config(
        {**LIKELIHOOD_SETTINGS, "mc_statistics": True, "theory": {}, "cl": 0.95, "mc_limited_below": 0.8}, None
    )
    methods = ("optimal", "gmm", "gmm_likelihood", "gmm_limit")
    for name in ("default_theory_bdt", "tops_fresh_bdt"):
        table = pd.read_parquet(REAL_SCORES / f"{name}.parquet")
        x, w = table["score"].to_numpy(np.float64), table["weight"].to_numpy(np.float64)
        y, process = table["label"].to_numpy(np.int64), table["process"].astype(str).to_numpy()
        theory = _variations(table)
        options = MethodOptions(inference=inference, processes=process, variations=theory[0],
                                variation_weights=theory[1])  # fmt: skip
        print(f"\n{name}: likelihood Z and median 95 % CL limit on mu (bins kept); rule {rule.describe()}")
        header = ("K", "method", "Z", "bins", "limit", "Z/DP", "limit/DP", "seconds")
        print(f"{header[0]:>3} {header[1]:>15}", " ".join(f"{h:>9}" for h in header[2:]))
        for k in K_VALUES:
            z = {}
            for method in methods:
                start = time.perf_counter()
                edges = registered(method)(x, w, y, k, rule, options).edges
                z[method] = (*likelihood_of(edges, (x, w, y, process), LIKELIHOOD_SETTINGS, theory),
                             time.perf_counter() - start)  # fmt: skip
            for method in methods:
                value, limit, kept, seconds = z[method]
                print(
                    f"{k:>3d} {method:>15} {value:9.4f} {kept:9d} {limit:9.4f} {value / z['optimal'][0]:9.3f}"
                    f" {limit / z['optimal'][1]:9.3f} {seconds:9.1f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sections",
        default="toy,real,events,simplex,likelihood",
        help="comma-separated: toy, real, events, simplex, likelihood",
    )
    parser.add_argument("--signal", type=int, default=100_000)
    parser.add_argument("--background", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-background", type=float, default=5.0)
    parser.add_argument("--max-rel-uncertainty", type=float, default=0.2)
    parser.add_argument("--relative-background-uncertainty", type=float, default=0.0)
    parser.add_argument("--mc-statistics", action="store_true", help="the bins' sqrt(sum w^2) in sigma_b")
    parser.add_argument("--plots", type=Path, default=None, help="folder for figures of every GMM fit")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    known = {"toy", "real", "events", "simplex", "likelihood"}
    if sections - known:
        parser.error(f"unknown sections: {sorted(sections - known)}")
    significance = Significance(args.relative_background_uncertainty, args.mc_statistics)
    if args.plots is not None:
        args.plots.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    for k, n in ((2, 400), (3, 300)):  # imports TensorFlow, traces the loop, then relaxes every shape once
        warm = gato_toy(n, 3 * n, seed=k)  # n_steps, restarts, K and the cell count all vary
        for z in (significance, ASIMOV, Significance(0.1, True)):  # every Z the sections use
            fit_gmm_binning(
                warm["scores"],
                warm["weights"],
                warm["labels"],
                k,
                rule=BinRule(significance=z),
                settings=GMMSettings(n_steps=k, n_restarts=k, n_fine=200 * k),
            )
            three = softmax_toy(3 * n, (n, n), seed=k)  # and the simplex loop (C = 3)
            fit_gmm_binning(three["scores"], three["weights"], three["labels"], k, signal_labels=(1, 2),
                            rule=BinRule(significance=z), settings=GMMSettings(n_steps=k, n_restarts=k, n_fine=10 * k))  # fmt: skip
    print(f"Warm-up (TensorFlow import and tracing, once per process): {time.perf_counter() - start:.1f} s")
    print("Timings: wall-clock seconds per K after the warm-up, on whatever else the machine is running")

    if "real" in sections:
        print(
            f"\n== Saved real scores; rule {REAL_RULE.describe()}; "
            "Z = sqrt(sum Z^2); reference: exact optimum over every cut =="
        )
        for z in (ASIMOV, Significance(0.1, True)):
            real_scores(z, args.plots)
    if "events" in sections:
        print(
            f"\n== Saved real scores: the exact optimum without and with >= {REAL_RULE.min_mc_events} background MC "
            "events per bin (both b >= 1, rel. MC unc. <= 0.5); GMM under the full rule =="
        )
        for z in (ASIMOV, Significance(0.1, True)):
            mc_events(z)
    if "likelihood" in sections:
        print("\n== The mixture on the likelihood: the inference stage's profiled Z of each binning ==")
        likelihood_section()
    if "simplex" in sections:
        print("\n== Simplex binning of a three-class classifier ==")
        for z in (ASIMOV, Significance(0.1, True)):
            simplex_three_class(z)
    if "toy" not in sections:
        return
    print("\n== GATO toy ==")
    toy_section(args, significance)


def toy_section(args: argparse.Namespace, significance: Significance) -> None:
    """The GATO toy under the rule and unconstrained."""
    data = gato_toy(args.signal, args.background, seed=args.seed)
    is_sig = data["labels"] == 1
    print(
        f"GATO toy: {args.signal} signal + {args.background} background events (seed {args.seed}); "
        f"{data['weights'][is_sig].sum():.1f} signal and {data['weights'][~is_sig].sum():.1f} background "
        "expected events"
    )
    print(
        f"Rule: min_background = {args.min_background:g} expected background events per bin, "
        f"max_rel_uncertainty = {args.max_rel_uncertainty:g} (sqrt(sum w^2)/b of the background per bin)"
    )
    print(
        "DP: exact optimum on 200 equal fine bins, 2000 equal fine bins, and the GMM's "
        f"{FINE_CELLS_1D} MC-quantile cells; reference = best of the three"
    )
    print(f"Z: {describe_z(significance)}")

    under = BinRule(
        min_background=args.min_background, max_rel_uncertainty=args.max_rel_uncertainty, significance=significance
    )
    rule = run(data, under, True, args.plots, "rule")
    rule_text = f"b >= {args.min_background:g}, rel. MC unc. <= {args.max_rel_uncertainty:g}"
    print_table(rule, f"Under the rule ({rule_text}); Z = sqrt(sum Z^2)")
    free = run(data, BinRule(significance=significance), False, args.plots, "unconstrained")
    print_table(free, "Unconstrained (DP: only b > 0 per bin; GMM: no penalties, bins with b = 0 merged)")
    if args.plots is not None:
        from phenoflow.binning import plots as binning_plots

        table = {
            m: (list(K_VALUES), [rule[k][key] for k in K_VALUES])
            for m, key in (
                ("equidistant", "equidistant"),
                ("quantile", "quantile"),
                ("DP (2000 fine bins)", "dp 2000"),
                ("GMM", "gmm"),
            )
        }
        binning_plots.significance_vs_bins(table, args.plots / "z_vs_k_rule.png", collision=TOY)


if __name__ == "__main__":
    main()
