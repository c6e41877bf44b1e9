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
