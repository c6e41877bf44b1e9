"""Figures of the inference: the expected upper limits on the signal strength against the number
of bins (Brazil plot) and the processes' theory variations in the bins, in the common style (:mod:`phenoflow.plotstyle`), written atomically as
PNG and PDF (the suffix of ``path`` is replaced).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from phenoflow.defaults import default
from phenoflow.inference.likelihood import BinnedSample
from phenoflow.plotstyle import Collision, add_label, panel_title, save, styled


@styled
def expected_limits(
    limits: Mapping[str, tuple[Sequence[int], np.ndarray]],
    path: str | os.PathLike,
    *,
    collision: Collision,
    cl: float = default("inference.cl"),
) -> None:
    """Brazil plot: the expected upper limit on the signal strength mu against the number of bins
    K, one panel per binning method, median dashed with the ±1σ (green) and ±2σ (yellow) bands.

    ``limits``: method -> (K values (n,), limits (n, 5) at the -2, -1, 0, +1, +2 σ quantiles).
    """
    fig, axes = plt.subplots(
        1, len(limits), figsize=(7 * len(limits), 6.5), sharey=True, squeeze=False, layout="constrained"
    )
    for ax, (method, (k, values)) in zip(axes[0], limits.items()):
        k, values = np.asarray(k), np.asarray(values, dtype=np.float64)
        ax.fill_between(k, values[:, 0], values[:, 4], color="#ffcc00", label=r"expected $\pm 2\sigma$")
        ax.fill_between(k, values[:, 1], values[:, 3], color="#00cc00", label=r"expected $\pm 1\sigma$")
        ax.plot(k, values[:, 2], "k--", marker="o", label="expected median")
        ax.axhline(1.0, color="red", linewidth=1, label=r"$\mu = 1$")
        panel_title(ax, method)
        ax.set_xlabel("Number of bins K")
        ax.set_xticks(k)
    axes[0][0].set_ylabel(f"{100 * cl:g} % CL upper limit on $\\mu$ (CLs)")
    axes[0][0].set_yscale("log")
    axes[0][-1].legend()
    add_label(axes[0][0], collision, right=axes[0][-1])
    save(fig, path)


@styled
def theory_variations(
    samples: Sequence[BinnedSample],
    path: str | os.PathLike,
    *,
    collision: Collision,
    edges: Sequence[float] | None = None,
    binning: str = "",
) -> None:
    """The theory variations of each process that has them in the final bins, a column of panels
    per process: above, its nominal yield (events) and each group's up (solid) and down (dashed)
    yields; below, the same as ratios to the nominal (1 where the nominal is empty). ``samples``:
    the binning's :class:`BinnedSample` s, those without theory shifts left out; with none left
    the figure says that the likelihood has no theory variations. ``edges``: the bins' score edges
    (n_bins + 1,), else the bins are numbered; ``binning``: its name for the panels' titles."""
    varied = [s for s in samples if s.theory]
    if not varied:
        fig, ax = plt.subplots(figsize=(12, 3), layout="constrained")
        text = "no theory variations in the likelihood" + (f"\nbinning {binning}" if binning else "")
        ax.text(0.5, 0.5, text, ha="center", va="center")
        ax.set_axis_off()
        save(fig, path)
        return
    n_bins = len(varied[0].yields)
    x = np.arange(n_bins + 1.0) if edges is None else np.asarray(edges, dtype=np.float64)
    bad = [s.name for s in varied if x.shape != (len(s.yields) + 1,)]
    if bad:
        raise ValueError(f"{len(x)} edges for the bins of process {', '.join(bad)} ({len(varied[0].yields)} bins)")
    fig, axes = plt.subplots(
        2, len(varied), figsize=(8 * len(varied), 8), sharex=True, height_ratios=(2, 1), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    for top, bottom, sample in zip(axes[0], axes[1], varied):
        _variation_panels(top, bottom, sample, x, f"{sample.name}, {binning}" if binning else sample.name)
        bottom.set_xlabel("Classifier score" if edges is not None else "Bin")
    add_label(axes[0][0], collision, right=axes[0][-1])
    save(fig, path)


def _variation_panels(top: plt.Axes, bottom: plt.Axes, sample: BinnedSample, x: np.ndarray, title: str) -> None:
    """One process's nominal and up/down yields in ``top`` (its legend titled ``title``), their
    ratios to the nominal in ``bottom``."""
    top.stairs(sample.yields, x, color="black", linewidth=2, baseline=None, label="nominal")
    nominal = np.where(sample.yields > 0, sample.yields, 1.0)
    bottom.axhline(1.0, color="black", linewidth=2)
    for i, shift in enumerate(sample.theory):
        colour = f"C{i}"
        label = f"{shift.group} ({shift.combine} of {shift.n_members})"
        for yields, style in ((shift.up, "-"), (shift.down, "--")):
            ratio = np.where(sample.yields > 0, yields / nominal, 1.0)
            top.stairs(yields, x, color=colour, linestyle=style, baseline=None, label=label if style == "-" else None)
            bottom.stairs(ratio, x, color=colour, linestyle=style, baseline=None)
    top.set_ylabel("Events")
    highest = max(np.max(sample.yields), *(np.max(t.up) for t in sample.theory))
    if np.all(sample.yields > 0):  # room above for the legend
        top.set_yscale("log")
        top.set_ylim(top=highest * 10 ** max(0.8 * np.log10(highest / np.min(sample.yields)), 1.2))
    else:
        top.set_ylim(0, 1.8 * highest)
    top.legend(fontsize="small", loc="upper right", title=f"{title}\nup solid, down dashed", title_fontsize="small")
    bottom.set_ylabel("Ratio to nominal")
