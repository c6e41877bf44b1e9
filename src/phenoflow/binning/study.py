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
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from phenoflow.binning import plots as binning_plots
from phenoflow.binning.methods import evaluate_binning, evaluate_edges
from phenoflow.binning.rule import bin_index, evaluate_bin_map, yields_with_errors
from phenoflow.binning.simplex import ArgmaxQuantileMap, RegularGridMap
from phenoflow.evaluation.metrics import ASIMOV, Significance
from phenoflow.plotstyle import Collision

log = logging.getLogger(__name__)

#: Keys of the config's binning.gmm block and the fit_gmm_binning arguments they set.
GMM_OPTIONS = {
    "steps": "n_steps",
    "restarts": "n_restarts",
    "fine_bins": "n_fine",
    "coarse_bins": "n_coarse",
    "temperature": "temperature",
    "learning_rate": "learning_rate",
    "schedule": ("temperature_schedule", "learning_rate_schedule"),
    "penalty": ("penalty_background", "penalty_uncertainty"),
}


def gmm_arguments(settings: Mapping) -> dict:
    """fit_gmm_binning keyword arguments from the config's binning.gmm block."""
    out = {}
    for key, value in settings.items():
        target = GMM_OPTIONS[key]
        for name in (target,) if isinstance(target, str) else target:
            out[name] = tuple(value) if isinstance(value, list) else value
    return out


def _rule(min_background: float, max_rel_uncertainty: float, min_mc_events: float, significance: Significance) -> dict:
    """The rule's keyword arguments, as every method and judge takes them."""
    return {
        "min_background": min_background,
        "max_rel_uncertainty": max_rel_uncertainty,
        "min_mc_events": min_mc_events,
        "significance": significance,
    }


def _stack_plots(row: dict, scores: pd.DataFrame, path_stem: Path, collision: Collision) -> None:
    """Stacked background processes and the signal per bin of ``row``'s edges, linear and log."""
    edges = np.asarray(row["edges"])
    process = scores["process"].astype(str).to_numpy()
    names = sorted(set(process))
    groups = yields_with_errors(
        bin_index(scores["score"].to_numpy(), edges),
        scores["weight"].to_numpy(),
        np.searchsorted(names, process),
        len(edges) - 1,
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
    min_background: float,
    max_rel_uncertainty: float,
    min_mc_events: float,
    gmm_settings: Mapping,
    seed: int,
    plot_dir: str | os.PathLike,
    significance: Significance = ASIMOV,
    *,
    collision: Collision,
) -> list[dict]:
    """Rows of :func:`phenoflow.binning.methods.evaluate_edges` for every method x K under the
    rule (``min_background``, ``max_rel_uncertainty``, ``min_mc_events``), and the plots; Z is
    ``significance`` (default the plain Asimov Z_A), the rows' ``z_asimov`` always Z_A.

    ``scores``: the evaluation's test table (score, weight, label, process). The mixture gets
    ``seed`` and the options of ``gmm_settings`` (config keys of :data:`GMM_OPTIONS`); its rows add
    the number of effective components, the per-component background bias soft vs hard, the
    restarts' significances and its warnings (its wall time is logged, so that equal inputs give
    equal files). ``collision``: sqrt(s) and luminosity of the plots' label.
    """
    from phenoflow.binning.gmm import fit_gmm_binning

    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    x, w, y = (scores[c].to_numpy() for c in ("score", "weight", "label"))
    rule = _rule(min_background, max_rel_uncertainty, min_mc_events, significance)
    rows = []
    for method in methods:
        for k in n_bins:
            if method != "gmm":
                rows.append({**evaluate_binning(method, x, w, y, k, **rule), "space": "score"})
                continue
            fit = fit_gmm_binning(x, w, y, k, seed=seed, **rule, **gmm_arguments(gmm_settings))
            row = evaluate_edges("gmm", fit.edges, x, w, y, k, **rule)
            row["space"] = "score"
            row["gmm"] = {
                "n_effective_components": fit.n_effective,
                "background_bias_soft_vs_hard": fit.component_bias.tolist(),
                "restart_significance": np.asarray(fit.restart_significance).tolist(),
                "warnings": list(fit.warnings),
            }
            log.info("gmm, K = %d: trained in %.1f s", k, fit.wall_time)
            rows.append(row)
            binning_plots.training_history(fit.history, plot_dir / f"gmm_history_K{k}.png", collision=collision)
            lo = float(np.quantile(x[y == 1], 0.01)) if np.any(y == 1) else 0.0
            binning_plots.mixture_components_1d(
                x, w, y == 1, fit.weights, fit.means[:, 0], fit.scale_tril[:, 0, 0], fit.edges,
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
    min_background: float,
    max_rel_uncertainty: float,
    min_mc_events: float,
    combination: str,
    gmm_settings: Mapping,
    seed: int,
    plot_dir: str | os.PathLike,
    significance: Significance = ASIMOV,
    *,
    collision: Collision,
) -> list[dict]:
    """Rows for the softmax vectors (columns ``p_<class>`` of ``scores``, class index in
    ``class``) binned on the simplex by every method that has an n-D form, each K; every bin map
    merged by the same rule (``min_background``, ``max_rel_uncertainty``, ``min_mc_events``;
    touching bins) and Z combined over the signal classes by
    ``combination``, with Z = ``significance`` (default the plain Asimov Z_A; ``z_asimov`` is
    always Z_A). For 3 classes the mixture's bin map is drawn per K (labelled with ``collision``)."""
    from phenoflow.binning.gmm import fit_gmm_binning

    plot_dir = Path(plot_dir)
    proba = scores[[f"p_{c}" for c in class_names]].to_numpy(np.float64)
    w, labels = scores["weight"].to_numpy(), scores["class"].to_numpy()
    rule = _rule(min_background, max_rel_uncertainty, min_mc_events, significance)
    common = {"signal_labels": tuple(signal_classes), "combination": combination, **rule}
    rows = []
    for method in methods:
        for k in n_bins:
            notes = []
            if method == "gmm":
                fit = fit_gmm_binning(proba, w, labels, k, seed=seed, **common, **gmm_arguments(gmm_settings))
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
