"""Every configured binning method and number of bins on one classifier's test scores, with
their plots: the binning stage of the workflow.

Each method's edges are judged by the same rule and yield function
(:func:`phenoflow.binning.methods.evaluate_edges`); the Gaussian mixture also yields its training history
and components. Plots go into one directory: per method, the stacked backgrounds with the
signal overlaid for its largest K (linear and log); per K, the mixture's history and components.

A multi-class classifier's softmax vectors are also binned on the simplex
(:func:`run_simplex_binnings`): the mixture in the C-1 free coordinates, a regular grid
("equidistant") and argmax regions cut at class-score quantiles ("quantile"); no exact optimum
exists there. Several signal classes count as several signals, combined as configured.

Every method optimises, merges by and reports the configured significance (``significance``:
the plain Asimov Z_A, or Cowan's Z with the background uncertainty of the config's
``significance`` block); each row also carries the plain Asimov ``z_asimov`` of its bins.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from phenoflow.binning import plots as binning_plots
from phenoflow.binning.crossfit import crossfit_binning, crossfit_row, row_bins
from phenoflow.binning.gmm.settings import GMMSettings
from phenoflow.binning.methods import evaluate_edges, method_edges
from phenoflow.binning.rule import BinRule, evaluate_bin_map, yields_with_errors
from phenoflow.binning.simplex import ArgmaxQuantileMap, RegularGridMap
from phenoflow.features.splits import group_complement_weights
from phenoflow.plotstyle import Collision

log = logging.getLogger(__name__)


def _stack_plots(row: dict, scores: pd.DataFrame, path_stem: Path, collision: Collision) -> None:
    """Stacked background processes and the signal per bin of ``row`` (each event through its
    own group's edges for a cross-fitted row), linear and log."""
    process = scores["process"].astype(str).to_numpy()
    names = sorted(set(process))
    groups = yields_with_errors(
        row_bins(row, scores), scores["weight"].to_numpy(), np.searchsorted(names, process), row["n_bins"]
    )
    is_signal = scores.groupby(process)["label"].first()
    present = [(names[i], values, errors) for i, (values, errors) in sorted(groups.items())]
    backgrounds = {n: values for n, values, _ in present if not is_signal[n]}
    signals = {n: values for n, values, _ in present if is_signal[n]}
    error = np.sqrt(sum(errors**2 for n, _, errors in present if not is_signal[n]))
    for log in (False, True):
        suffix = "log" if log else "linear"
        # bins by number: optimised bins crowd near score 1
        binning_plots.binned_stack(
            None,
            backgrounds,
            signals,
            f"{path_stem}_{suffix}.png",
            background_error=error,
            log=log,
            collision=collision,
        )


def run_binnings(
    scores: pd.DataFrame,
    methods: Sequence[str],
    n_bins: Sequence[int],
    rule: BinRule,
    gmm_settings: GMMSettings,
    seed: int,
    plot_dir: str | os.PathLike,
    *,
    collision: Collision,
    groups: np.ndarray | None = None,
) -> list[dict]:
    """Rows of :func:`phenoflow.binning.methods.evaluate_edges` for every method x K under
    ``rule``, and the plots; Z is the rule's significance, the rows' ``z_asimov`` always Z_A.

    With ``groups`` (n,; :func:`phenoflow.features.splits.crossfit_groups`) every binning is
    cross-fitted (:mod:`phenoflow.binning.crossfit`): each group's events binned by edges chosen
    on the others, the rows giving the independent and the choosing significances
    (:func:`phenoflow.binning.crossfit.crossfit_row`); without, the events that choose the bins
    also fill them.

    ``scores``: the evaluation's table of scored events (score, weight, label, process). The mixture gets
    ``seed`` and ``gmm_settings``; its rows add
    the number of effective components, the per-component background bias soft vs hard, the
    restarts' significances and its warnings (its wall time is logged, so that equal inputs give
    equal files). ``collision``: sqrt(s) and luminosity of the plots' label.
    """
    from phenoflow.binning.gmm import fit_gmm_binning

    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    x, w, y = (scores[c].to_numpy() for c in ("score", "weight", "label"))
    rows = []
    process = scores["process"].astype(str).to_numpy()
    for method in methods:
        for k in n_bins:
            fits = []  # the mixture's fits, for its plots and record

            def edges_on(xs, ws, ys, method=method, k=k, fits=fits):
                if method != "gmm":
                    return method_edges(method, xs, ws, ys, k, rule)
                fits.append(fit_gmm_binning(xs, ws, ys, k, rule=rule, settings=gmm_settings, seed=seed + len(fits)))
                log.info("gmm, K = %d: trained in %.1f s", k, fits[-1].wall_time)
                return fits[-1].edges

            if groups is None:
                row = evaluate_edges(method, edges_on(x, w, y), x, w, y, k, rule)
            else:
                fit = crossfit_binning(edges_on, x, w, y, process, groups, rule)
                row = crossfit_row(method, k, fit, rule.significance)
            row["space"] = "score"
            rows.append(row)
            if not fits:
                continue
            row["gmm"] = {
                "n_effective_components": [f.n_effective for f in fits],
                "background_bias_soft_vs_hard": [f.component_bias.tolist() for f in fits],
                "restart_significance": [np.asarray(f.restart_significance).tolist() for f in fits],
                "warnings": [note for f in fits for note in f.warnings],
            }
            fit, xs, ws, ys = fits[0], x, w, y  # the plots show the first fit, on its own choosing events
            if groups is not None:
                chosen = groups != 0
                ws = group_complement_weights(process, w, groups, 0)[chosen]
                xs, ys = x[chosen], y[chosen]
            binning_plots.training_history(fit.history, plot_dir / f"gmm_history_K{k}.png", collision=collision)
            lo = float(np.quantile(xs[ys == 1], 0.01)) if np.any(ys == 1) else 0.0
            binning_plots.mixture_components_1d(
                xs, ws, ys == 1, fit.weights, fit.means[:, 0], fit.scale_tril[:, 0, 0], fit.edges,
                plot_dir / f"gmm_components_K{k}.png", xlim=(min(lo, 0.9), 1.0), collision=collision,
            )  # fmt: skip
        _stack_plots(rows[-1], scores, plot_dir / f"stack_{method}_K{rows[-1]['n_bins_requested']}", collision)
    return rows


def run_simplex_binnings(
    scores: pd.DataFrame,
    class_names: Sequence[str],
    signal_classes: Sequence[int],
    methods: Sequence[str],
    n_bins: Sequence[int],
    rule: BinRule,
    combination: str,
    gmm_settings: GMMSettings,
    seed: int,
    plot_dir: str | os.PathLike,
    *,
    collision: Collision,
) -> list[dict]:
    """Rows for the softmax vectors (columns ``p_<class>`` of ``scores``, class index in
    ``class``) binned on the simplex by every method that has an n-D form, each K; every bin map
    merged by the same ``rule`` (touching bins) and Z combined over the signal classes by
    ``combination``, with Z the rule's significance (``z_asimov`` is always Z_A). For 3 classes the mixture's bin map is drawn per K (labelled with ``collision``)."""
    from phenoflow.binning.gmm import fit_gmm_binning

    plot_dir = Path(plot_dir)
    proba = scores[[f"p_{c}" for c in class_names]].to_numpy(np.float64)
    w, labels = scores["weight"].to_numpy(), scores["class"].to_numpy()
    common = {"rule": rule, "signal_labels": tuple(signal_classes), "combination": combination}
    rows = []
    for method in methods:
        for k in n_bins:
            notes = []
            if method == "gmm":
                fit = fit_gmm_binning(proba, w, labels, k, **common, settings=gmm_settings, seed=seed)
                n_kept, z, zi, bins, notes = (
                    fit.n_bins,
                    fit.significance,
                    fit.signal_significance,
                    fit.bins,
                    list(fit.warnings),
                )
                z_asimov = fit.significance_asimov
                if fit.image is not None:
                    binning_plots.simplex_bin_map(
                        fit.image, plot_dir / f"simplex_gmm_K{k}.png", class_names=class_names, collision=collision
                    )
            elif method in ("equidistant", "quantile"):
                if method == "quantile" and k < len(class_names):
                    continue  # the argmax baseline needs a bin per class
                fn = (
                    RegularGridMap.for_bins(len(class_names), k)
                    if method == "equidistant"
                    else ArgmaxQuantileMap.fit(proba, k)
                )
                r = evaluate_bin_map(fn, fn.n_bins, proba, w, labels, **common)
                n_kept, z, zi, bins, z_asimov = (
                    r["n_bins"],
                    r["significance"],
                    r["signal_significance"],
                    r["bins"],
                    r["significance_asimov"],
                )
            else:
                continue  # no exact optimum on the simplex
            rows.append({
                "space": "simplex", "method": method, "n_bins_requested": k, "n_bins": int(n_kept),
                "significance": float(z), "z_asimov": float(z_asimov), "signal_significance": np.asarray(zi).tolist(),
                "s": np.asarray(bins.s).tolist(), "b": bins.b.tolist(), "b_error": np.sqrt(bins.b_sumw2).tolist(),
                "b_events": bins.b_events.astype(int).tolist(), "notes": notes,
            })  # fmt: skip
    return rows
