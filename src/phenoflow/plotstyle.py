"""The one look of every figure: mplhep's ROOT style (experiment-neutral fonts and ticks), an
experiment-neutral "Simulation" label with sqrt(s) and the luminosity above the axes, and the
saving (PNG and PDF, fixed metadata so that equal figures are equal files, each written atomically).

The style is applied per figure by :func:`styled` (no global matplotlib state is changed apart
from selecting the non-interactive Agg backend).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402

from phenoflow.io import atomic_path  # noqa: E402

#: The style of every figure.
STYLE = mplhep.style.ROOT
#: Metadata that would differ between runs (software version, creation date) is left out.
_METADATA = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}
_DPI = 100

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Collision:
    """What a figure's label states: the centre-of-mass energy ``sqrt_s_gev`` (GeV) and the
    integrated luminosity ``luminosity_fb`` (fb^-1). None leaves either out: a figure that is
    not about a luminosity, a toy without beams."""

    sqrt_s_gev: float | None
    luminosity_fb: float | None = None


def label_text(collision: Collision, *, luminosity: bool = True) -> str:
    """The right-hand label, e.g. ``13 TeV, 139 fb$^{-1}$`` (the energy is sqrt(s)); without the luminosity
    when ``luminosity`` is False (a figure that does not depend on it) or it is None."""
    parts = [] if collision.sqrt_s_gev is None else [f"{collision.sqrt_s_gev / 1000:g} TeV"]
    if luminosity and collision.luminosity_fb is not None:
        parts.append(f"{collision.luminosity_fb:g} fb$^{{-1}}$")
    return ", ".join(parts)


def add_label(ax: plt.Axes, collision: Collision, *, luminosity: bool = True, right: plt.Axes | None = None) -> None:
    """Put the label above ``ax``: "Simulation" (italic) on the left, :func:`label_text` on the
    right, above ``right`` if given (the last panel of a row). Placed by mplhep's ``add_text``:
    ``exp_label`` would draw the whole figure once more to place its parts (about 40 % more time
    per figure). Panel names then go inside the axes (:func:`panel_title`), not above them."""
    mplhep.label.add_text("Simulation", loc="over left", fontstyle="italic", ax=ax)
    mplhep.label.add_text(label_text(collision, luminosity=luminosity), loc="over right", ax=right or ax)


def panel_title(ax: plt.Axes, text: str) -> None:
    """A panel's name at the top centre inside ``ax`` (above it is the label's place)."""
    box = {"facecolor": "white", "edgecolor": "none", "alpha": 0.8}
    ax.text(0.5, 0.96, text, transform=ax.transAxes, ha="center", va="top", fontsize="small", bbox=box)


def styled(function: Callable[P, R]) -> Callable[P, R]:
    """Draw (and save) the figure of ``function`` in :data:`STYLE`."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with plt.style.context(STYLE):
            return function(*args, **kwargs)

    return wrapper


def save(fig: plt.Figure, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``fig`` as ``path`` with the suffixes .png and .pdf, each atomically, and close it;
    return the two paths."""
    written = []
    for kind in ("png", "pdf"):
        target = Path(path).with_suffix(f".{kind}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=kind, metadata=_METADATA[kind], dpi=_DPI)
        written.append(target)
    plt.close(fig)
    return written[0], written[1]
