"""Every configured binning method and number of bins on one classifier's test scores, with
their plots: the binning stage of the workflow.

What runs is a :class:`Plan` (:meth:`Plan.from_config`: the methods, the numbers of bins K, the
rule and the methods' options); every method comes from the one registry
:data:`phenoflow.binning.methods.METHODS`. Each method's edges are judged by the same rule and
yield function (:func:`phenoflow.binning.methods.evaluate_edges`); a method that trains a
mixture also yields its training history and components. Plots go into one directory: per method, the stacked backgrounds with the
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from phenoflow.binning import plots as binning_plots
from phenoflow.binning.crossfit import crossfit_binning, crossfit_row, row_bins
from phenoflow.binning.gmm.settings import GMMSettings
from phenoflow.binning.methods import (
    LIKELIHOOD_METHODS,
    METHODS,
    MethodOptions,
    evaluate_edges,
    registered,
    uses_likelihood,
)
from phenoflow.binning.rule import COMBINATION, BinRule, evaluate_bin_map, yields_with_errors
from phenoflow.features.splits import group_complement_weights
from phenoflow.plotstyle import Collision

if TYPE_CHECKING:
    from phenoflow.binning.gmm.fit import GMMBinningResult

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


@dataclass(frozen=True)
class Plan:
    """What the binning stage runs: every method (keys of
    :data:`phenoflow.binning.methods.METHODS`, the config's ``binning.methods``) at every number of
    bins K (``binning.n_bins``), judged by ``rule`` and given ``options``; on the simplex several
    signals' Z combined by ``combination`` (``binning.combination``)."""

    methods: tuple[str, ...]
    n_bins: tuple[int, ...]
    rule: BinRule
    options: MethodOptions = MethodOptions()
    combination: str = COMBINATION

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"binning.methods: {unknown} are not binning methods (known: {', '.join(METHODS)})")

    @classmethod
    def from_config(
        cls, binning: Mapping, significance: Mapping | None, seed: int, inference: Mapping | None = None
    ) -> Plan:
        """From the config's ``binning`` and ``significance`` blocks; ``seed``: the stage's;
        ``inference``: the config's block, read when a method maximises the likelihood
        (:func:`~phenoflow.binning.methods.uses_likelihood`)."""
        gmm = GMMSettings.from_config(binning.get("gmm"))
        settings = None
        if uses_likelihood(binning["methods"]):
            from phenoflow.inference.study import InferenceSettings

            if inference is None:
                used = ", ".join(sorted(LIKELIHOOD_METHODS.intersection(binning["methods"])))
                raise ValueError(f"binning.methods: {used} needs the config's inference block")
            settings = InferenceSettings.from_config(inference, significance)
        options = MethodOptions(seed=seed, gmm=gmm, inference=settings)
        rule = BinRule.from_config(binning, significance)
        return cls(tuple(binning["methods"]), tuple(binning["n_bins"]), rule, options, binning["combination"])


def _mixture_record(fits: Sequence[GMMBinningResult]) -> dict:
    """The mixture's record in a row, one entry per fit (one per cross-fitted group): its effective
    components, the per-component background bias soft vs hard, the restarts' significances and
    its warnings."""
    return {
        "n_effective_components": [f.n_effective for f in fits],
        "background_bias_soft_vs_hard": [f.component_bias.tolist() for f in fits],
        "restart_significance": [np.asarray(f.restart_significance).tolist() for f in fits],
        "warnings": [note for f in fits for note in f.warnings],
    }


def _mixture_plots(fit: GMMBinningResult, events: tuple, plot_dir: Path, name: str, collision: Collision) -> None:
    """A 1-D mixture's training history and components over its own choosing ``events`` (scores,
    weights, labels), named ``<method>_history_K<k>`` and ``<method>_components_K<k>`` by ``name``
    = (method, K)."""
    xs, ws, ys = events
    method, k = name
    binning_plots.training_history(fit.history, plot_dir / f"{method}_history_K{k}.png", collision=collision)
    lo = float(np.quantile(xs[ys == 1], 0.01)) if np.any(ys == 1) else 0.0
    binning_plots.mixture_components_1d(
        xs, ws, ys == 1, fit, plot_dir / f"{method}_components_K{k}.png", xlim=(min(lo, 0.9), 1.0), collision=collision
    )


def run_binnings(
    scores: pd.DataFrame,
    plan: Plan,
    plot_dir: str | os.PathLike,
    *,
    collision: Collision,
    groups: np.ndarray | None = None,
) -> list[dict]:
    """Rows of :func:`phenoflow.binning.methods.evaluate_edges` for every method x K of ``plan``
    (each through :func:`phenoflow.binning.methods.registered`) under its rule, and the plots;
    Z is the rule's significance, the rows' ``z_asimov`` always Z_A.

    With ``groups`` (n,; :func:`phenoflow.features.splits.crossfit_groups`) every binning is
    cross-fitted (:mod:`phenoflow.binning.crossfit`): each group's events binned by edges chosen
    on the others, the rows giving the independent and the choosing significances
    (:func:`phenoflow.binning.crossfit.crossfit_row`); without, the events that choose the bins
    also fill them. The i-th choice of a binning gets the seed ``plan.options.seed`` + i.

    ``scores``: the evaluation's table of scored events (score, weight, label, process). A
    method that trains a mixture adds its record to its rows (``gmm``: :func:`_mixture_record`)
    and its plots for the first fit (its wall time is logged, so that equal inputs give equal
    files). ``collision``: sqrt(s) and luminosity of the plots' label.
    """
    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    x, w, y = (scores[c].to_numpy() for c in ("score", "weight", "label"))
    rule, options = plan.rule, plan.options
    rows = []
    process = scores["process"].astype(str).to_numpy()
    variation_columns = {c: scores[c].to_numpy(np.float64) for c in scores.columns if c.startswith("weight:")}
    for method in plan.methods:
        for k in plan.n_bins:
            chosen = []  # every choice of this binning (one per cross-fitted group)

            def edges_on(xs, ws, ys, method=method, k=k, chosen=chosen):
                # the i-th choice is made on the events outside group i (crossfit_binning's order)
                rows = slice(None) if groups is None else groups != len(chosen)
                # the variation weights scaled as the weights (cross-fitting scales them to the luminosity)
                ratio = np.divide(ws, w[rows], out=np.zeros(len(ws)), where=w[rows] != 0)
                varied = {c: v[rows] * ratio for c, v in variation_columns.items()}
                seeded = replace(options, seed=options.seed + len(chosen), processes=process[rows],
                                 variation_weights=varied)  # fmt: skip
                chosen.append(registered(method)(xs, ws, ys, k, rule, seeded))
                if chosen[-1].fit is not None:
                    log.info("%s, K = %d: trained in %.1f s", method, k, chosen[-1].fit.wall_time)
                return chosen[-1].edges

            if groups is None:
                row = evaluate_edges(method, edges_on(x, w, y), x, w, y, k, rule)
            else:
                fit = crossfit_binning(edges_on, x, w, y, process, groups, rule)
                row = crossfit_row(method, k, fit, rule.significance)
            row["space"] = "score"
            rows.append(row)
            fits = [c.fit for c in chosen if c.fit is not None]
            if not fits:
                continue
            row["gmm"] = _mixture_record(fits)
            events = (x, w, y)  # the plots show the first fit, on its own choosing events
            if groups is not None:
                rest = groups != 0
                events = (x[rest], group_complement_weights(process, w, groups, 0)[rest], y[rest])
            _mixture_plots(fits[0], events, plot_dir, (method, k), collision)
        _stack_plots(rows[-1], scores, plot_dir / f"stack_{method}_K{rows[-1]['n_bins_requested']}", collision)
    return rows


def run_simplex_binnings(
    scores: pd.DataFrame,
    class_names: Sequence[str],
    signal_classes: Sequence[int],
    plan: Plan,
    plot_dir: str | os.PathLike,
    *,
    collision: Collision,
) -> list[dict]:
    """Rows for the softmax vectors (columns ``p_<class>`` of ``scores``, class index in
    ``class``) binned on the simplex by every method of ``plan`` that has an n-D form
    (:func:`phenoflow.binning.methods.registered`), each K; every bin map merged by the same
    rule (touching bins) and Z combined over the signal classes ``signal_classes`` by
    ``plan.combination``, with Z the rule's significance (``z_asimov`` is always Z_A).
    For 3 classes a mixture's bin map is drawn per K (labelled with ``collision``)."""
    plot_dir = Path(plot_dir)
    proba = scores[[f"p_{c}" for c in class_names]].to_numpy(np.float64)
    w, labels = scores["weight"].to_numpy(), scores["class"].to_numpy()
    rule = plan.rule
    options = replace(plan.options, signal_labels=tuple(signal_classes), combination=plan.combination)
    rows = []
    for method in plan.methods:
        for k in plan.n_bins:
            chosen = registered(method)(proba, w, labels, k, rule, options)
            if chosen is None:
                continue  # no such binning on the simplex
            if chosen.fit is not None and chosen.fit.image is not None:
                binning_plots.simplex_bin_map(chosen.fit.image, plot_dir / f"simplex_{method}_K{k}.png",
                                              class_names=class_names, collision=collision)  # fmt: skip
            r = evaluate_bin_map(
                chosen.bin_map, chosen.n_bins, proba, w, labels, rule, options.signal_labels, options.combination
            )
            bins = r["bins"]
            rows.append({
                "space": "simplex", "method": method, "n_bins_requested": k, "n_bins": int(r["n_bins"]),
                "significance": float(r["significance"]), "z_asimov": float(r["significance_asimov"]),
                "signal_significance": np.asarray(r["signal_significance"]).tolist(),
                "s": np.asarray(bins.s).tolist(), "b": bins.b.tolist(), "b_error": np.sqrt(bins.b_sumw2).tolist(),
                "b_events": bins.b_events.astype(int).tolist(), "notes": chosen.warnings,
            })  # fmt: skip
    return rows
