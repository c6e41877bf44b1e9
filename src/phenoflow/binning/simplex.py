"""Geometry of multi-class classifier outputs on the probability simplex, and n-D baseline binnings.

A softmax output with C classes lies on the (C-1)-simplex; it is described here by its first C-1
components, the *free coordinates* x (n, C-1), with x >= 0 and sum(x) <= 1 (the last class is
1 - sum(x)). Everything in this module is plain numpy: fine grid cells of the free coordinates
(the unit of the Gaussian-mixture binning's event-count-independent loss), a pixel image of any
bin map over the triangle (C = 3) for plots and for finding which bins touch, and two baseline
binnings to compare the optimised one with:

* :class:`RegularGridMap` ("equidistant"): the regular grid with m equal divisions of every free
  coordinate, keeping the cells that meet the simplex; m is the largest with at most ``n_bins``
  such cells (m (m + 1) / 2 cells for C = 3). The n-D analogue of equal-width bins.
* :class:`ArgmaxQuantileMap` ("argmax"): the usual multi-class categorisation, events go to the
  region of their most probable class; each region is cut into about n_bins / C bins at
  equal-event-count quantiles of that class's own score (the analogue of the 1-D quantile bins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import comb

import numpy as np

BinFunction = Callable[[np.ndarray], np.ndarray]


def free_coordinates(scores: np.ndarray, atol: float = 1e-4) -> np.ndarray:
    """First C-1 components of softmax vectors ``scores`` (n, C), shape (n, C-1).

    Rows must be non-negative and sum to 1 within ``atol``; raises ValueError otherwise.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"softmax scores must have shape (n, C) with C >= 2, got {scores.shape}")
    if scores.size and (scores.min() < -atol or np.max(np.abs(scores.sum(axis=1) - 1.0)) > atol):
        raise ValueError("softmax scores must be non-negative with rows summing to 1")
    return scores[:, :-1]


def grid_cells(points: np.ndarray, n_grid: int) -> tuple[np.ndarray, int]:
    """Populated cells of the regular grid of ``n_grid`` divisions per axis over [0, 1]^d.

    ``points``: (n, d). Returns the cell of every point as an index into the populated cells
    (n,), numbered in increasing flat grid order, and the number m of populated cells.
    """
    if n_grid < 1:
        raise ValueError(f"n_grid must be at least 1, got {n_grid}")
    idx = np.clip(np.floor(points * n_grid), 0, n_grid - 1).astype(np.int64)
    flat = np.ravel_multi_index(tuple(idx.T), (n_grid,) * points.shape[1])
    populated, cell = np.unique(flat, return_inverse=True)
    return cell.reshape(-1), len(populated)


def pixel_centres(n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres of an n_pixels x n_pixels grid over the unit square in the free coordinates of
    C = 3 scores (x0 horizontal, x1 vertical). Returns the softmax vectors of the pixels inside
    the triangle x0 + x1 <= 1, shape (p, 3), and their flat image indices row * n_pixels + col."""
    c = (np.arange(n_pixels) + 0.5) / n_pixels
    x0, x1 = np.meshgrid(c, c)  # rows follow x1, columns x0
    inside = (x0 + x1 <= 1.0).ravel()
    pts = np.stack([x0.ravel(), x1.ravel()], axis=1)[inside]
    return np.column_stack([pts, 1.0 - pts.sum(axis=1)]), np.flatnonzero(inside)


def bin_image(bin_function: BinFunction, n_pixels: int = 200) -> np.ndarray:
    """Image of a bin map over the C = 3 simplex, shape (n_pixels, n_pixels).

    ``bin_function`` maps softmax vectors (p, 3) to bin indices (p,). Row i, column j is the
    pixel centred on x1 = (i + 1/2)/n_pixels, x0 = (j + 1/2)/n_pixels (``origin="lower"`` for
    imshow); pixels outside the triangle are NaN.
    """
    scores, flat = pixel_centres(n_pixels)
    image = np.full(n_pixels * n_pixels, np.nan)
    image[flat] = bin_function(scores)
    return image.reshape(n_pixels, n_pixels)


def region_adjacency(image: np.ndarray, n_bins: int) -> np.ndarray:
    """Which bins touch in a bin image of :func:`bin_image`: (n_bins, n_bins) bool, symmetric,
    True where two pixels of the bins share a side. A bin smaller than a pixel touches nothing."""
    adj = np.zeros((n_bins, n_bins), dtype=bool)
    for a, b in ((image[:, :-1], image[:, 1:]), (image[:-1, :], image[1:, :])):
        ok = np.isfinite(a) & np.isfinite(b) & (a != b)
        adj[a[ok].astype(np.int64), b[ok].astype(np.int64)] = True
    return adj | adj.T


def n_grid_cells(m: int, dim: int) -> int:
    """Number of cells of the grid with m divisions per axis that meet the dim-simplex."""
    return comb(m - 1 + dim, dim)


@dataclass(frozen=True)
class RegularGridMap:
    """Regular grid over the free coordinates (see the module docstring); ``m`` divisions per axis
    of C classes. Call with softmax vectors (n, C) to get bin indices (n,) in [0, n_bins)."""

    n_classes: int
    m: int

    @classmethod
    def for_bins(cls, n_classes: int, n_bins: int) -> RegularGridMap:
        """The finest grid with at most ``n_bins`` cells on the simplex (at least one division)."""
        m = 1
        while n_grid_cells(m + 1, n_classes - 1) <= n_bins:
            m += 1
        return cls(n_classes, m)

    @property
    def n_bins(self) -> int:
        return n_grid_cells(self.m, self.n_classes - 1)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        x = free_coordinates(scores)
        dim = x.shape[1]
        idx = np.clip(np.floor(x * self.m), 0, self.m - 1).astype(np.int64)
        # points on a face (sum x = 1 exactly) can land in a cell just outside: step back inwards
        bad = idx.sum(axis=1) > self.m - 1
        while bad.any():
            rows = np.flatnonzero(bad)
            idx[rows, np.argmax(idx[rows], axis=1)] -= 1
            bad = idx.sum(axis=1) > self.m - 1
        grid = np.stack(np.meshgrid(*[np.arange(self.m)] * dim, indexing="ij"), axis=-1).reshape(-1, dim)
        lookup = np.cumsum(grid.sum(axis=1) <= self.m - 1) - 1  # flat cell -> bin number
        return lookup[np.ravel_multi_index(tuple(idx.T), (self.m,) * dim)]


@dataclass(frozen=True)
class ArgmaxQuantileMap:
    """Argmax-class regions, each cut at quantiles of its own class score (module docstring).

    ``thresholds[c]``: increasing inner cuts on score c inside region c; region c holds
    ``len(thresholds[c]) + 1`` consecutive bins. Call with softmax vectors (n, C).
    """

    thresholds: tuple[np.ndarray, ...]

    @classmethod
    def fit(cls, scores: np.ndarray, n_bins: int) -> ArgmaxQuantileMap:
        """Cuts from the events ``scores`` (n, C): ``n_bins`` bins shared out over the C regions
        as evenly as possible (lower classes first get the remainder); needs n_bins >= C."""
        scores = np.asarray(scores, dtype=np.float64)
        n_classes = scores.shape[1]
        free_coordinates(scores)
        if n_bins < n_classes:
            raise ValueError(f"the argmax baseline needs at least one bin per class ({n_classes}), got {n_bins}")
        region = np.argmax(scores, axis=1)
        per_region = np.full(n_classes, n_bins // n_classes) + (np.arange(n_classes) < n_bins % n_classes)
        cuts = []
        for c in range(n_classes):
            own = scores[region == c, c]
            q = np.quantile(own, np.arange(1, per_region[c]) / per_region[c]) if own.size else np.array([])
            cuts.append(np.unique(q))
        return cls(tuple(cuts))

    @property
    def n_bins(self) -> int:
        return sum(len(t) + 1 for t in self.thresholds)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        region = np.argmax(scores, axis=1)
        offsets = np.cumsum([0] + [len(t) + 1 for t in self.thresholds])
        out = np.empty(len(scores), dtype=np.int64)
        for c, cuts in enumerate(self.thresholds):
            rows = region == c
            out[rows] = offsets[c] + np.searchsorted(cuts, scores[rows, c], side="right")
        return out
