"""Figures of the evaluation stage in the common style (:mod:`phenoflow.plotstyle`): ROC curves,
score distributions, overtraining checks, training histories, confusion matrices, cut values and
the classifier comparison (the other stages draw their own: ``events.plots``, ``features.plots``,
``inference.plots``, ``binning.plots``).

Every function draws one figure with the "Simulation" label and writes it atomically as PNG and
PDF (the suffix of ``path`` is replaced). ``collision`` gives the label's sqrt(s) and luminosity;
figures that do not depend on the luminosity (efficiencies, shapes, images, training) show
sqrt(s) only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import mplhep
import numpy as np
import pandas as pd

from phenoflow.plotstyle import Collision, add_label, panel_title, save, styled


def _working_point(ax, eps_s: np.ndarray, eps_b: np.ndarray, label: str) -> None:
    """A pass/fail selection's ROC points as markers (those with eps_B > 0), leaving out the trivial
    "keep everything" point eps_S = eps_B = 1 when another point remains."""
    ok = eps_b > 0
    nontrivial = ok & ~((eps_s >= 1) & (eps_b >= 1))
    ok = nontrivial if nontrivial.any() else ok
    ax.plot(eps_s[ok], 1.0 / eps_b[ok], linestyle="none", marker="*", markersize=14, label=label)


@styled
def roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, float | None]], path: str | os.PathLike, *, collision: Collision
) -> None:
    """Background rejection 1/eps_B (log) against signal efficiency eps_S, one entry per method:
    one classifier's own figure, or all of them compared.

    ``curves``: method name -> (eps_S, eps_B, AUC), arrays of equal shape. Points with eps_B <= 0
    (infinite rejection) cannot be drawn and are left out. An AUC of None marks a pass/fail score
    (a cut-and-count), drawn as its working point: markers, leaving out the trivial "keep
    everything" point eps_S = eps_B = 1 when another point remains.
    """
    fig, ax = plt.subplots(figsize=(8, 7), layout="constrained")
    for name, (eps_s, eps_b, auc) in curves.items():
        eps_s, eps_b = np.asarray(eps_s, dtype=np.float64), np.asarray(eps_b, dtype=np.float64)
        if auc is None:
            _working_point(ax, eps_s, eps_b, f"{name} (working point)")
            continue
        ok = eps_b > 0
        ax.plot(eps_s[ok], 1.0 / eps_b[ok], label=f"{name} (AUC = {auc:.3f})")
    ax.set_yscale("log")
    ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
    ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
    ax.set_xlim(0, 1)
    ax.legend()
    add_label(ax, collision, luminosity=False)
    save(fig, path)


@styled
def score_distributions(
    scores: np.ndarray,
    weights: np.ndarray,
    processes: np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike,
    edges: Sequence[float] | None = None,
    *,
    collision: Collision,
) -> None:
    """Weighted score histograms (expected events, log scale): backgrounds stacked, each signal
    (label 1) overlaid as a line so that it stays visible under a large background.

    ``edges`` (optional) are drawn as vertical lines, e.g. the bins of the binning stage.
    """
    bins = np.linspace(0, 1, 41)
    fig, ax = plt.subplots(figsize=(8, 7))
    names = list(dict.fromkeys(processes))
    signal = {n for n in names if np.all(labels[processes == n] == 1)}

    def hist(name: str) -> np.ndarray:
        return np.histogram(scores[processes == name], bins=bins, weights=weights[processes == name])[0]

    backgrounds = sorted((n for n in names if n not in signal), key=lambda n: weights[processes == n].sum())
    if backgrounds:
        mplhep.histplot(
            [hist(n) for n in backgrounds], bins, stack=True, histtype="fill", label=backgrounds, ax=ax, alpha=0.7
        )
    for name in sorted(signal):
        mplhep.histplot(
            hist(name), bins, histtype="step", linewidth=2.5, color="black", label=f"{name} (signal)", ax=ax
        )
    ax.set_yscale("log")
    ax.set_xlabel("Classifier score")
    ax.set_ylabel("Expected events per bin")
    if edges is not None:
        for e in edges[1:-1]:
            ax.axvline(e, color="grey", linestyle="--", linewidth=1)
    ax.legend()
    add_label(ax, collision)
    save(fig, path)


# --- Comparing classifiers ------------------------------------------------------------------------


@styled
def overtraining(
    train: Mapping[str, tuple[np.ndarray, np.ndarray]],
    test: Mapping[str, tuple[np.ndarray, np.ndarray]],
    ks: Mapping[str, float],
    path: str | os.PathLike,
    bins: int | Sequence[float] = 30,
    *,
    collision: Collision,
) -> None:
    """Overtraining check: unit-area weighted score histograms per class, training vs test.

    ``train`` and ``test``: class name -> (scores (n,), weights (n,)); ``ks``: class name -> the
    p-value of the train/test Kolmogorov-Smirnov test, shown in the legend. Training samples
    are drawn filled, test samples as points with their statistical errors sqrt(sum w^2),
    normalised like the histogram. ``bins``: a number of equal bins over the range of all scores,
    or the bin edges.
    """
    samples = [*train.values(), *test.values()]
    if np.ndim(bins) == 0:
        low = min(float(np.min(s)) for s, _ in samples if len(s))
        high = max(float(np.max(s)) for s, _ in samples if len(s))
        edges = np.linspace(low, high if high > low else low + 1.0, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
    widths, centres = np.diff(edges), 0.5 * (edges[1:] + edges[:-1])

    def normalised(scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = np.histogram(scores, bins=edges, weights=weights)[0]
        variances = np.histogram(scores, bins=edges, weights=np.asarray(weights) ** 2)[0]
        area = np.sum(counts * widths)
        area = area if area != 0 else 1.0
        return counts / area, np.sqrt(variances) / abs(area)

    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(9, 7), layout="constrained")
    top = 0.0
    for i, name in enumerate(dict.fromkeys([*train, *test])):
        colour = colours[i % len(colours)]
        if name in train:
            density, _ = normalised(*train[name])
            top = max(top, float(np.max(density, initial=0.0)))
            mplhep.histplot(density, edges, histtype="fill", alpha=0.35, color=colour, label=f"{name}, train", ax=ax)
        if name in test:
            density, error = normalised(*test[name])
            top = max(top, float(np.max(density + error, initial=0.0)))
            p = ks.get(name)
            label = f"{name}, test" if p is None else f"{name}, test (KS p = {p:.2g})"
            style = {"linestyle": "none", "marker": "o", "markersize": 5, "color": colour}
            ax.errorbar(centres, density, yerr=error, xerr=widths / 2, label=label, **style)
    ax.set_xlabel("Classifier score")
    ax.set_ylabel("Normalised to unit area")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, 1.6 * top if top > 0 else 1.0)  # room for the legend above the histograms
    ax.legend(fontsize="x-small", loc="upper center", ncols=2)
    add_label(ax, collision, luminosity=False)
    save(fig, path)


@styled
def training_history(histories, path: str | os.PathLike, *, collision: Collision) -> None:
    """Training and validation loss per epoch (or boosting iteration), and the validation AUC,
    of every fold's model (one colour per fold; training loss solid, validation loss dashed).

    ``histories``: one DataFrame per fold (or a single DataFrame) with ``train_loss`` and/or
    ``val_loss`` and optionally ``val_auc`` (drawn on a second axis, dotted), indexed by its
    ``epoch`` or ``iteration`` column when it has one, else by row number.
    """
    if isinstance(histories, pd.DataFrame):
        histories = [histories]
    fig, ax = plt.subplots(figsize=(8, 6), layout="constrained")
    twin = None
    lines = []
    x_name = None
    styles = (("train_loss", "training loss", "-"), ("val_loss", "validation loss", "--"))
    for fold, history in enumerate(histories):
        x_name = next((c for c in ("epoch", "iteration") if c in history.columns), None)
        x = history[x_name].to_numpy() if x_name else np.arange(len(history))
        colour = f"C{fold % 10}"
        tag = f"fold {fold}: " if len(histories) > 1 else ""
        for column, label, style in styles:
            if column in history.columns:
                lines += ax.plot(x, history[column].to_numpy(), style, color=colour, label=tag + label)
        if "val_auc" in history.columns:
            twin = twin or ax.twinx()
            auc_colour = colour if len(histories) > 1 else "black"
            lines += twin.plot(x, history["val_auc"].to_numpy(), ":", color=auc_colour, label=tag + "validation AUC")
    ax.set_xlabel((x_name or "epoch").capitalize())
    ax.set_ylabel("Loss")
    if twin is not None:
        twin.set_ylabel("Validation AUC")
    if lines:
        ax.legend(lines, [line.get_label() for line in lines], fontsize="x-small", ncols=1 + (len(lines) > 6))
    add_label(ax, collision, luminosity=False)
    save(fig, path)


@styled
def confusion(matrix: np.ndarray, class_names: Sequence[str], path: str | os.PathLike, *, collision: Collision) -> None:
    """Confusion matrix (rows true, columns predicted; k×k), each row normalised to its true
    class's total weight and every cell annotated with that fraction."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    fractions = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals != 0)
    k = len(class_names)
    size = max(6.0, 1.1 * k + 3)
    fig, ax = plt.subplots(figsize=(size + 1.5, size), layout="constrained")
    image = ax.imshow(fractions, vmin=0, vmax=1, cmap="Blues", origin="upper")
    for (i, j), value in np.ndenumerate(fractions):
        colour = "white" if value > 0.5 else "black"
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize="small", color=colour)
    ax.set_xticks(range(k), class_names)
    ax.set_yticks(range(k), class_names)
    ax.minorticks_off()
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    fig.colorbar(image, ax=ax, label="Fraction of true class")
    add_label(ax, collision, luminosity=False)
    save(fig, path)


@styled
def cut_values(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    cuts: Sequence[tuple[int, float, float]],
    path: str | os.PathLike,
    feature_names: Sequence[str] | None = None,
    normalise: bool = True,
    bins: int = 40,
    *,
    collision: Collision,
) -> None:
    """One panel per variable: weighted signal and background distributions before any cut, the
    cut values as vertical lines and the kept side shaded.

    ``x`` (n, f), ``y`` (n,) 1 signal / 0 background, ``w`` (n,) physical weights. ``cuts``:
    (variable, low, high) kept intervals, ±inf on an open side (a cut-and-count ``Cut`` unpacks so);
    several cuts on one variable are ANDed. ``normalise``: each class scaled to unit area (shapes,
    linear scale); otherwise expected events per bin (log scale). The x range is the 0.5-99.5
    percentile range of all events, widened to show every cut value; events outside it are counted
    in the edge bins.
    """
    x, y, w = np.asarray(x, dtype=np.float64), np.asarray(y), np.asarray(w, dtype=np.float64)
    n = x.shape[1]
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 5.5 * nrows), squeeze=False, layout="constrained")
    for v, ax in enumerate(axes.flat):
        if v >= n:
            ax.set_axis_off()
            continue
        mine = [(lo, hi) for var, lo, hi in cuts if var == v]
        finite = [c for lo_hi in mine for c in lo_hi if np.isfinite(c)]
        lo, hi = np.percentile(x[:, v], [0.5, 99.5])
        lo, hi = min([lo, *finite]), max([hi, *finite])
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        for label, name, colour in ((0, "background", "tab:blue"), (1, "signal", "tab:red")):
            sel = y == label
            h = np.histogram(np.clip(x[sel, v], lo, hi), bins=edges, weights=w[sel])[0]
            if normalise and h.sum() > 0:
                h = h / (h.sum() * np.diff(edges))
            mplhep.histplot(h, edges, histtype="step", linewidth=2, color=colour, label=name, ax=ax)
        if mine:
            keep_lo = max(c[0] for c in mine)
            keep_hi = min(c[1] for c in mine)
            ax.axvspan(max(keep_lo, lo), min(keep_hi, hi), color="tab:green", alpha=0.15, label="kept")
            for c in finite:
                ax.axvline(c, color="black", linestyle="--", linewidth=1.5)
        else:
            panel_title(ax, "no cut")
        ax.set_xlabel(feature_names[v] if feature_names is not None else f"variable {v}")
        ax.set_ylabel("normalised to unit area" if normalise else "expected events per bin")
        if not normalise:
            ax.set_yscale("log")
        ax.legend(fontsize="small")
    add_label(axes[0][0], collision, luminosity=not normalise, right=axes[0][-1])
    save(fig, path)
