"""Figures of bin optimisation in the common style (:mod:`phenoflow.plotstyle`): stacked yields
per bin, Z against the number of bins, training history, the 1-D mixture components and the 2-D
simplex bin map.

Every function draws one figure with the "Simulation" label (sqrt(s) and the luminosity of
``collision``: every binning is optimised for the yields at that luminosity) and writes it twice,
as PNG and as PDF beside it (the suffix of ``path`` is replaced), each atomically; it returns the
two paths.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import mplhep
import numpy as np

from phenoflow.plotstyle import Collision, add_label, panel_title, save, styled

if TYPE_CHECKING:
    from phenoflow.binning.gmm.fit import GMMBinningResult


@styled
def binned_stack(
    edges: np.ndarray | None,
    backgrounds: Mapping[str, np.ndarray],
    signals: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    *,
    background_error: np.ndarray | None = None,
    log: bool = False,
    signal_scale: float = 1.0,
    xlabel: str = "Classifier score",
    collision: Collision,
) -> tuple[Path, Path]:
    """Expected events per bin: backgrounds stacked (smallest at the bottom), each signal drawn
    on top as a line, scaled by ``signal_scale``, and the total background MC uncertainty as a
    hatched band.

    ``edges`` (n_bins + 1,), or None for bins numbered 0..n_bins-1 (n-D bin maps);
    ``backgrounds`` / ``signals``: name -> yields (n_bins,); ``background_error``: sqrt(sum w^2)
    of the total background (n_bins,). ``log`` switches the y axis to log scale.
    """
    n_bins = len(next(iter(backgrounds.values())))
    bins = np.arange(n_bins + 1.0) if edges is None else np.asarray(edges, dtype=np.float64)
    order = sorted(backgrounds, key=lambda name: float(np.sum(backgrounds[name])))
    fig, ax = plt.subplots(figsize=(10, 8))
    mplhep.histplot([backgrounds[n] for n in order], bins, stack=True, histtype="fill", label=order, ax=ax, alpha=0.8)
    total = np.sum([backgrounds[n] for n in order], axis=0)
    if background_error is not None:
        ax.stairs(
            total + background_error,
            bins,
            baseline=np.clip(total - background_error, 0, None),
            fill=True,
            facecolor="none",
            edgecolor="grey",
            hatch="///",
            linewidth=0,
            label="MC stat. unc.",
        )
    for name, values in signals.items():
        text = f"{name} x {signal_scale:g}" if signal_scale != 1 else name
        mplhep.histplot(np.asarray(values) * signal_scale, bins, histtype="step", linewidth=2.5, label=text, ax=ax)
    ax.set_xlabel(xlabel if edges is not None else "Bin")
    ax.set_ylabel("Expected events per bin")
    if log:
        ax.set_yscale("log")
        positive = total[total > 0]
        ax.set_ylim(bottom=0.5 * positive.min() if positive.size else 1e-3, top=20 * max(total.max(), 1e-3))
    else:
        ax.set_ylim(0, 1.35 * max(total.max(), 1e-9))
    ax.set_xlim(bins[0], bins[-1])
    ax.legend(fontsize="small", ncols=2)
    add_label(ax, collision)
    return save(fig, path)


@styled
def significance_vs_bins(
    table: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    path: str | os.PathLike,
    *,
    collision: Collision,
    ylabel: str | None = None,
) -> tuple[Path, Path]:
    """Combined significance against the number of bins K, one line per method;
    ``table``: method -> (K values, Z values)."""
    fig, ax = plt.subplots(figsize=(10, 8))
    for method, (k, z) in table.items():
        ax.plot(k, z, marker="o", label=method)
    ax.set_xlabel("Number of bins K")
    ax.set_ylabel(ylabel or r"$Z = (\sum_k Z_{A,k}^2)^{1/2}$")
    ax.legend()
    add_label(ax, collision)
    return save(fig, path)


@styled
def training_history(
    history: Mapping[str, np.ndarray], path: str | os.PathLike, *, collision: Collision
) -> tuple[Path, Path]:
    """Loss, soft significance, and temperature with learning rate (log scale) against the
    training step, in three panels; ``history`` as in
    :class:`phenoflow.binning.gmm.GMMBinningResult` (keys loss, z_soft, temperature,
    learning_rate; each (n_steps,))."""
    steps = np.arange(len(history["loss"]))
    # fixed margins: a layout engine would double the drawing time of this figure
    fig, (loss, z, rates) = plt.subplots(3, 1, figsize=(10, 12), sharex=True)
    fig.subplots_adjust(left=0.14, right=0.97, top=0.95, bottom=0.075, hspace=0.06)
    loss.plot(steps, history["loss"])
    loss.set_ylabel("Loss")
    z.plot(steps, history["z_soft"], color="C1")
    z.set_ylabel(r"$Z_\mathrm{soft}$")
    rates.plot(steps, history["temperature"], label="temperature $T$")
    rates.plot(steps, history["learning_rate"], label="learning rate")
    rates.set_yscale("log")
    rates.set_xlabel("Step")
    rates.legend()
    add_label(loss, collision)
    return save(fig, path)


@styled
def mixture_components_1d(
    scores: np.ndarray,
    weights: np.ndarray,
    is_signal: np.ndarray,
    fit: GMMBinningResult,
    path: str | os.PathLike,
    *,
    xlim: tuple[float, float] = (0.0, 1.0),
    n_hist: int = 100,
    collision: Collision,
    reference: tuple[np.ndarray, str] | None = None,
    title: str | None = None,
) -> tuple[Path, Path]:
    """Weighted score histograms of signal and background (log scale) in ``xlim`` with the
    components pi_k N(x | mu_k, sigma_k) of the 1-D mixture ``fit`` (right axis) and its bin
    boundaries (dashed); optionally a second set of edges (solid red, e.g. the exact optimum's)
    to compare, ``reference`` = (edges, label).

    ``scores``, ``weights`` (expected events), ``is_signal``: (n,). Use a narrow ``xlim`` to see
    components crowded near 1.
    """
    mixture_weights, means, sigmas, edges = fit.weights, fit.means[:, 0], fit.scale_tril[:, 0, 0], fit.edges
    bins = np.linspace(*xlim, n_hist + 1)
    x = np.linspace(*xlim, 2000)
    fig, ax = plt.subplots(figsize=(11, 8))
    for sel, name in ((~is_signal, "background"), (is_signal, "signal")):
        h, _ = np.histogram(scores[sel], bins=bins, weights=weights[sel])
        mplhep.histplot(h, bins, histtype="fill" if name == "background" else "step", alpha=0.5, label=name, ax=ax)
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 300)  # room above the histograms for the legend and the title
    ax.set_xlabel("Classifier score")
    ax.set_ylabel("Expected events per bin")
    right = ax.twinx()
    density = (
        mixture_weights[:, None]
        * np.exp(-0.5 * ((x[None] - means[:, None]) / sigmas[:, None]) ** 2)
        / (np.sqrt(2 * np.pi) * sigmas[:, None])
    )
    for k, curve in enumerate(density):
        right.plot(x, curve, linewidth=1.5, color=f"C{(k + 2) % 10}")
    right.set_yscale("log")
    top = density.max() if density.size else 1.0
    right.set_ylim(top * 1e-4, top * 30)  # peaks below the legend
    right.set_ylabel(r"$\pi_k\,\mathcal{N}(x\,|\,\mu_k, \sigma_k)$")
    for e in edges[1:-1]:
        if xlim[0] < e < xlim[1]:
            ax.axvline(e, color="black", linestyle="--", linewidth=1)
    ax.plot([], [], color="black", linestyle="--", linewidth=1, label="mixture's bin edges")
    if reference is not None:
        reference_edges, reference_label = reference
        for e in reference_edges[1:-1]:
            if xlim[0] < e < xlim[1]:
                ax.axvline(e, color="red", linewidth=1, alpha=0.7)
        ax.plot([], [], color="red", linewidth=1, label=reference_label)
    if title:
        panel_title(ax, title)
    ax.set_xlim(*xlim)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.95 - 0.05 * (title.count("\n") + 1)) if title else None, ncols=2)
    add_label(ax, collision)
    return save(fig, path)


@styled
def simplex_bin_map(
    image: np.ndarray,
    path: str | os.PathLike,
    *,
    class_names: Sequence[str] = ("class 0", "class 1", "class 2"),
    points: np.ndarray | None = None,
    collision: Collision,
) -> tuple[Path, Path]:
    """Bins over the 3-class simplex: ``image`` (n, n) of bin indices on the free coordinates
    (from :func:`phenoflow.binning.simplex.bin_image`; NaN outside the triangle), coloured by bin, with
    the triangle's edges and optionally a sample of softmax ``points`` (p, 3) on top."""
    n_bins = int(np.nanmax(image)) + 1 if np.isfinite(image).any() else 1
    fig, ax = plt.subplots(figsize=(9, 8))
    cmap = plt.get_cmap("tab20", n_bins)
    shown = ax.imshow(
        image, origin="lower", extent=(0, 1, 0, 1), cmap=cmap, vmin=-0.5, vmax=n_bins - 0.5, interpolation="nearest"
    )
    ax.plot([0, 1, 0, 0], [0, 0, 1, 0], color="black", linewidth=1.5)
    if points is not None:
        ax.scatter(points[:, 0], points[:, 1], s=2, color="black", alpha=0.3)
    ax.set_xlabel(f"P({class_names[0]})")
    ax.set_ylabel(f"P({class_names[1]})")
    ax.text(
        0.97,
        0.9,
        f"P({class_names[2]}) = 1 - P({class_names[0]}) - P({class_names[1]})",
        ha="right",
        transform=ax.transAxes,
        fontsize="x-small",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fig.colorbar(shown, ax=ax, label="Bin", ticks=np.arange(n_bins) if n_bins <= 20 else None)
    add_label(ax, collision)
    return save(fig, path)
