"""Figures in the HEP style (mplhep): ROC curves, score distributions, binned yields.

Every function draws one figure and writes it atomically to the given path (PNG or PDF by suffix).
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

from phenoflow.io import atomic_path  # noqa: E402

plt.style.use(mplhep.style.ROOT)
# Fixed metadata so that equal figures are equal files.
_SAVE = {"metadata": {"Software": None}, "dpi": 100}


def _save(fig: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1], **_SAVE)
    plt.close(fig)


def roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]], path: str | os.PathLike) -> None:
    """Background rejection 1/eps_B (log) against signal efficiency eps_S.

    ``curves``: method name -> (eps_S, eps_B, AUC).
    """
    fig, ax = plt.subplots(figsize=(8, 7))
    for name, (tpr, fpr, auc) in curves.items():
        ok = fpr > 0
        ax.plot(tpr[ok], 1.0 / fpr[ok], label=f"{name} (AUC = {auc:.3f})")
    ax.set_yscale("log")
    ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
    ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
    ax.set_xlim(0, 1)
    ax.legend()
    _save(fig, path)


def score_distributions(
    scores: np.ndarray,
    weights: np.ndarray,
    processes: np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike,
    edges: Sequence[float] | None = None,
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
        mplhep.histplot([hist(n) for n in backgrounds], bins, stack=True, histtype="fill", label=backgrounds, ax=ax, alpha=0.7)
    for name in sorted(signal):
        mplhep.histplot(hist(name), bins, histtype="step", linewidth=2.5, color="black", label=f"{name} (signal)", ax=ax)
    ax.set_yscale("log")
    ax.set_xlabel("Classifier score")
    ax.set_ylabel("Expected events per bin")
    if edges is not None:
        for e in edges[1:-1]:
            ax.axvline(e, color="grey", linestyle="--", linewidth=1)
    ax.legend()
    _save(fig, path)


def significance_vs_bins(table: Mapping[str, tuple[Sequence[int], Sequence[float]]], path: str | os.PathLike) -> None:
    """Combined significance against the number of bins, one line per binning method."""
    fig, ax = plt.subplots(figsize=(8, 6))
    for method, (k, z) in table.items():
        ax.plot(k, z, marker="o", label=method)
    ax.set_xlabel("Number of bins")
    ax.set_ylabel(r"$Z = \sqrt{\sum_k Z_{A,k}^2}$")
    ax.legend()
    _save(fig, path)


def average_images(
    images: Mapping[str, np.ndarray], extent: tuple[float, float, float, float], path: str | os.PathLike
) -> None:
    """Side-by-side average jet images (n_eta × n_phi each, e.g. signal and background), log colour.

    ``extent``: (eta_min, eta_max, phi_min, phi_max) of the window, in the image's own frame.
    """
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(1, len(images), figsize=(6.5 * len(images) + 1.5, 6.5), squeeze=False, layout="constrained")
    positive = [img[img > 0] for img in images.values() if np.any(img > 0)]
    low = min(v.min() for v in positive) if positive else 1e-3
    high = max(v.max() for v in positive) if positive else 1.0
    norm = LogNorm(vmin=max(low, high * 1e-6), vmax=high)
    for ax, (title, image) in zip(axes[0], images.items()):
        shown = ax.imshow(np.where(image > 0, image, np.nan).T, origin="lower", extent=extent, aspect="equal", norm=norm, cmap="viridis")
        ax.set_xlabel("$\\Delta\\eta$ (jet frame)")
        ax.set_ylabel("$\\Delta\\phi$ (jet frame)")
        ax.set_title(title)
    fig.colorbar(shown, ax=axes[0].tolist(), label="mean pixel $p_T$ [GeV]")
    _save(fig, path)


def cutflow(table, path: str | os.PathLike) -> None:
    """Cutflow per process: expected events (log scale, MC error bars) and raw MC events per step.

    ``table``: rows with columns process, step, events, yield, yield_error (as the skim writes).
    """
    steps = list(dict.fromkeys(table["step"]))
    x = np.arange(len(steps))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 9), sharex=True, layout="constrained")
    for process, rows in table.groupby("process", sort=False):
        rows = rows.set_index("step").loc[steps]
        top.errorbar(x, rows["yield"], yerr=rows["yield_error"], marker="o", capsize=3, label=str(process))
        bottom.plot(x, rows["events"], marker="o", label=str(process))
    top.set_yscale("log")
    top.set_ylabel("expected events")
    top.legend(fontsize="small")
    bottom.set_yscale("log")
    bottom.set_ylabel("MC events")
    bottom.set_xticks(x, steps, rotation=30, ha="right", fontsize="small")
    _save(fig, path)
