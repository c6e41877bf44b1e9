"""Figures of the classifiers' inputs: the average jet images, in the common style
(:mod:`phenoflow.plotstyle`), written atomically as PNG and PDF (the suffix of ``path`` is replaced).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from phenoflow.plotstyle import Collision, add_label, panel_title, save, styled


@styled
def average_images(
    images: Mapping[str, np.ndarray],
    extent: tuple[float, float, float, float],
    path: str | os.PathLike,
    *,
    collision: Collision,
) -> None:
    """Side-by-side average jet images (n_eta × n_phi each, e.g. signal and background), log colour.

    ``extent``: (eta_min, eta_max, phi_min, phi_max) of the window, in the image's own frame.
    """
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(
        1, len(images), figsize=(6.5 * len(images) + 1.5, 6.5), squeeze=False, layout="constrained"
    )
    positive = [img[img > 0] for img in images.values() if np.any(img > 0)]
    low = min(v.min() for v in positive) if positive else 1e-3
    high = max(v.max() for v in positive) if positive else 1.0
    norm = LogNorm(vmin=max(low, high * 1e-6), vmax=high)
    for ax, (title, image) in zip(axes[0], images.items()):
        shown = ax.imshow(
            np.where(image > 0, image, np.nan).T,
            origin="lower",
            extent=extent,
            aspect="equal",
            norm=norm,
            cmap="viridis",
        )
        ax.set_xlabel("$\\Delta\\eta$ (jet frame)")
        ax.set_ylabel("$\\Delta\\phi$ (jet frame)")
        panel_title(ax, title)
    fig.colorbar(shown, ax=axes[0].tolist(), label="mean pixel $p_T$ [GeV]")
    add_label(axes[0][0], collision, luminosity=False, right=axes[0][-1])
    save(fig, path)
