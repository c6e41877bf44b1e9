"""Figures of the inference: the expected upper limits on the signal strength against the number
of bins (Brazil plot), in the common style (:mod:`phenoflow.plotstyle`), written atomically as
PNG and PDF (the suffix of ``path`` is replaced).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from phenoflow.plotstyle import Collision, add_label, panel_title, save, styled


@styled
def expected_limits(
    limits: Mapping[str, tuple[Sequence[int], np.ndarray]],
    path: str | os.PathLike,
    *,
    collision: Collision,
    cl: float = 0.95,
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
