"""Cut-and-count: rectangular cuts on the input variables chosen to maximise the Asimov significance
(or, with a background uncertainty from the config's ``significance`` block, Cowan's significance).

Two topologies:

- ``"parallel"``: each variable's cut is chosen on the original (unselected) training sample, on its
  own; the selection is the AND of the cuts that improve Z on their own.
- ``"sequential"``: greedy; each step adds the (variable, cut) that maximises Z on what the previous
  cuts left, until Z stops improving.

Weights must be physical weights (expected events at the full luminosity): Z_A(s, b) depends on the
absolute yields, so class-balanced training weights would give a meaningless optimum. With
``relative_background_uncertainty`` > 0 or ``mc_statistics`` the objective is Cowan's Z(s, b,
sigma_b), sigma_b^2 = (rel b)^2 + (sum w^2 of the kept background), the figure the workflow
quotes for every classifier's best working point: the cuts then avoid selections whose
background is large (where a relative systematic dominates) or made of a few heavy events. They are
signed (NLO generators write negative weights), and s and b of every candidate selection are
signed sums, so the objective is the physical Z_A; a selection whose b is <= 0, below
``min_background`` or made of fewer than ``min_mc_events`` background MC events (rows of nonzero
weight, either sign) is never allowed, and one whose s is <= 0 has Z_A = 0. Only the candidate cut
values, weighted signal quantiles, use |w| (a quantile needs a monotonic distribution function).

A cut keeps a closed interval of one variable, ``low <= x <= high``: ``">"`` keeps ``x >= value``,
``"<"`` keeps ``x <= value``, ``"window"`` keeps ``low <= x <= high``. Candidate values are weighted
quantiles of the signal (so each candidate is a signal value and the cut keeps it).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import fields
from typing import ClassVar, NamedTuple

import numpy as np
import pandas as pd

from phenoflow.defaults import block_defaults
from phenoflow.io import read_json, write_json
from phenoflow.models.registry import ModelDescription, describe
from phenoflow.significance import ASIMOV, Significance

_FORMAT = "phenoflow.cuts/1"
#: The settings a cut-and-count block of the config may set, with their defaults (the schema's)
_DEFAULTS = block_defaults("$defs.cuts")


class Cut(NamedTuple):
    """Keep events with ``low <= x[:, variable] <= high``; an open side is -inf or +inf.

    Unpacks as a ``(variable, low, high)`` triple, the form :func:`phenoflow.evaluation.plots.cut_values` takes.
    """

    variable: int
    low: float = -math.inf
    high: float = math.inf

    @property
    def direction(self) -> str:
        """``">"`` (lower bound only), ``"<"`` (upper bound only) or ``"window"`` (both)."""
        if math.isinf(self.high):
            return ">"
        if math.isinf(self.low):
            return "<"
        return "window"

    @property
    def values(self) -> tuple[float, ...]:
        """The finite cut values: one for ``">"`` and ``"<"``, (low, high) for a window."""
        return tuple(v for v in (self.low, self.high) if not math.isinf(v))

    def keep(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask (n,) of the rows of ``x`` (n, f) that pass this cut."""
        column = x[:, self.variable]
        return (column >= self.low) & (column <= self.high)

    def describe(self, feature_names: Sequence[str] | None = None) -> str:
        name = feature_names[self.variable] if feature_names else f"x[{self.variable}]"
        if self.direction == ">":
            return f"{name} >= {self.low:.6g}"
        if self.direction == "<":
            return f"{name} <= {self.high:.6g}"
        return f"{self.low:.6g} <= {name} <= {self.high:.6g}"

    def as_dict(self, feature_names: Sequence[str] | None = None) -> dict:
        """JSON form (no infinities): variable, feature, direction and values."""
        return {
            "variable": int(self.variable),
            "feature": feature_names[self.variable] if feature_names else None,
            "direction": self.direction,
            "values": [float(v) for v in self.values],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Cut:
        v, values = int(d["variable"]), [float(x) for x in d["values"]]
        if d["direction"] == ">":
            return cls(v, low=values[0])
        if d["direction"] == "<":
            return cls(v, high=values[0])
        if d["direction"] == "window":
            return cls(v, low=values[0], high=values[1])
        raise ValueError(f"unknown cut direction {d['direction']!r}")


class _Candidate(NamedTuple):
    significance: float
    cut: Cut
    s: float
    b: float


class CutAndCount:
    """Rectangular cuts maximising the weighted Asimov significance Z_A (see the module docstring),
    or the ``significance`` given (the config's ``significance`` block): Cowan's Z with its
    relative background uncertainty and, if its ``mc_statistics``, the kept background's MC error
    sqrt(sum w^2) (by default neither: :data:`~phenoflow.significance.ASIMOV`).

    ``topology``: ``"parallel"`` or ``"sequential"``. ``n_thresholds``: number of weighted signal
    quantiles (levels 0, 1/(n-1), ..., 1) tried per variable and direction. ``min_background``: a
    cut is allowed only if the selection keeps at least this many expected background events (so Z
    cannot blow up on an empty background; with negative weights a sum <= 0 is never allowed).
    ``min_mc_events``: likewise, the selection must keep at least this many background MC events
    (training rows of nonzero weight, either sign), so that no cut isolates a handful of them
    (0: no minimum). ``two_sided``: also try windows (both bounds at once) per variable.
    ``tolerance``: a cut must raise Z by more than this fraction of the current Z.
    ``feature_names``: optional, for readable JSON and plots.

    Sequential rule: each variable is cut at most once per direction (a ``">"`` and a ``"<"`` may
    both be chosen, which makes a window; a window uses both directions); there is no tightening
    of an existing cut. The thresholds are re-computed on the signal that the earlier cuts left.

    Parallel rule: a variable gets its best cut (on the full training sample) only if that cut alone
    improves Z; the cuts are ANDed in order of decreasing Z, and a cut that would take the combined
    selection below ``min_background`` or ``min_mc_events`` is dropped (with a warning).

    The algorithm is deterministic: ``seed`` and ``threads`` are accepted for the common model API
    and not used.
    """

    name = "cuts"
    description: ClassVar[ModelDescription] = describe("cuts")

    def __init__(
        self,
        seed: int,
        threads: int = 1,
        topology: str = _DEFAULTS["topology"],
        n_thresholds: int = _DEFAULTS["n_thresholds"],
        min_background: float = _DEFAULTS["min_background"],
        min_mc_events: int = 0,
        two_sided: bool = _DEFAULTS["two_sided"],
        tolerance: float = _DEFAULTS["tolerance"],
        feature_names: Sequence[str] | None = None,
        significance: Significance = ASIMOV,
    ):
        if topology not in ("parallel", "sequential"):
            raise ValueError(f"topology must be 'parallel' or 'sequential', not {topology!r}")
        if n_thresholds < 2:
            raise ValueError(f"n_thresholds must be at least 2, not {n_thresholds}")
        self.seed = seed
        self.threads = threads
        self.topology = topology
        self.n_thresholds = int(n_thresholds)
        self.min_background = float(min_background)
        self.min_mc_events = int(min_mc_events)
        self.two_sided = bool(two_sided)
        self.tolerance = float(tolerance)
        self.feature_names = list(feature_names) if feature_names is not None else None
        #: The significance the cuts maximise (plain Asimov Z_A unless a background uncertainty is set).
        self.significance = significance
        #: The chosen cuts, in the order they were chosen; the selection is their AND.
        self.cuts: list[Cut] = []
        #: Number of input variables seen by :meth:`fit` (None before fitting).
        self.n_features: int | None = None
        #: Z (Z_A or Cowan's, see :attr:`significance`) of the training sample without any cut.
        self.baseline_significance: float | None = None

    @property
    def n_parameters(self) -> int:
        """Number of cut values (one per one-sided cut, two per window)."""
        return sum(len(c.values) for c in self.cuts)

    # -- training ---------------------------------------------------------------------------------

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """Choose the cuts on (x, y, w), shapes (n, f), (n,), (n,); w in expected events.

        Returns the history, one row per chosen cut in order: step, variable, feature, direction,
        value (NaN for a window), low, high (the kept interval), chosen_significance (the Z that
        chose the cut: alone on the full sample for parallel, after the earlier cuts for
        sequential), and the signal, background, background MC events and Z after this and all
        earlier cuts on the training and (if given, with its own physical weights) validation
        samples.
        """
        x, y, w = _check(x, y, w)
        if self.feature_names is not None and len(self.feature_names) != x.shape[1]:
            raise ValueError(f"{len(self.feature_names)} feature names for {x.shape[1]} variables")
        self.n_features = x.shape[1]
        signal = y == 1
        b0, n0 = float(w[~signal].sum()), int(np.count_nonzero(_mc_events(w, signal)))
        if not self._allowed(b0, n0):
            raise ValueError(
                f"training background {b0:.4g} from {n0} MC events is below min_background = "
                f"{self.min_background} or min_mc_events = {self.min_mc_events}"
            )
        self.baseline_significance = self._z(w, signal, np.ones(len(w), dtype=bool))

        if self.topology == "sequential":
            chosen = self._fit_sequential(x, signal, w)
        else:
            chosen = self._fit_parallel(x, signal, w)
        self.cuts = [c.cut for c in chosen]
        return self._history(chosen, x, y, w, validation)

    def _fit_sequential(self, x: np.ndarray, signal: np.ndarray, w: np.ndarray) -> list[_Candidate]:
        mask = np.ones(len(w), dtype=bool)
        z = self.baseline_significance
        used: set[tuple[int, str]] = set()
        chosen = []
        while True:
            best = None
            xm, sm, wm = x[mask], signal[mask], w[mask]
            for v in range(x.shape[1]):
                directions = {d for d in (">", "<") if (v, d) not in used}
                candidate = self._best_cut(xm[:, v], sm, wm, v, directions)
                if candidate is not None and (best is None or candidate.significance > best.significance):
                    best = candidate
            if best is None or not best.significance > z * (1 + self.tolerance):
                return chosen
            chosen.append(best)
            z = best.significance
            mask &= best.cut.keep(x)
            if not math.isinf(best.cut.low):
                used.add((best.cut.variable, ">"))
            if not math.isinf(best.cut.high):
                used.add((best.cut.variable, "<"))

    def _fit_parallel(self, x: np.ndarray, signal: np.ndarray, w: np.ndarray) -> list[_Candidate]:
        z0 = self.baseline_significance
        best = [self._best_cut(x[:, v], signal, w, v, {">", "<"}) for v in range(x.shape[1])]
        improving = [c for c in best if c is not None and c.significance > z0 * (1 + self.tolerance)]
        improving.sort(key=lambda c: -c.significance)  # stable: ties keep variable order
        chosen, mask = [], np.ones(len(w), dtype=bool)
        for c in improving:
            trial = mask & c.cut.keep(x)
            if not self._allowed(w[trial & ~signal].sum(), np.count_nonzero(_mc_events(w, signal) & trial)):
                warnings.warn(
                    f"parallel cuts: dropped {c.cut.describe(self.feature_names)}: the AND would keep "
                    f"less than min_background = {self.min_background} background events or fewer than "
                    f"min_mc_events = {self.min_mc_events} background MC events",
                    stacklevel=2,
                )
                continue
            chosen.append(c)
            mask = trial
        return chosen

    def _best_cut(
        self, column: np.ndarray, signal: np.ndarray, w: np.ndarray, variable: int, directions: set[str]
    ) -> _Candidate | None:
        """Best allowed cut on one variable among the given one-sided directions (and a window if
        ``two_sided`` and both directions are available), or None if no cut is allowed."""
        grid = _weighted_quantiles(column[signal], np.abs(w[signal]), self.n_thresholds)
        if grid.size == 0 or not directions:
            return None
        # Yields (the background's sum of w^2 and MC events too) with x < t and x <= t per grid value t.
        lt, le = {}, {}
        classes = [("s", signal, w), ("b", ~signal, w), ("n", ~signal, _mc_events(w, signal).astype(np.float64))]
        if self.significance.mc_statistics:
            classes.append(("b2", ~signal, w**2))
        for label, sel, weight in classes:
            # x < grid[k] (x <= grid[k]) exactly when k >= the number of grid values <= x (< x).
            lt[label] = _cumulative(np.searchsorted(grid, column[sel], side="right"), weight[sel], grid.size)
            le[label] = _cumulative(np.searchsorted(grid, column[sel], side="left"), weight[sel], grid.size)
        if not self.significance.mc_statistics:
            lt["b2"] = le["b2"] = np.zeros(grid.size)
        total = {label: float(weight[sel].sum()) for label, sel, weight in classes}
        total.setdefault("b2", 0.0)

        sums = ("s", "b", "b2", "n")
        candidates = []  # (s, b, b2, n, low, high) arrays per family
        inf = np.full(grid.size, np.inf)
        if ">" in directions:
            candidates.append((*(total[k] - lt[k] for k in sums), grid, inf))
        if "<" in directions:
            candidates.append((*(le[k] for k in sums), -inf, grid))
        if self.two_sided and directions == {">", "<"} and grid.size > 1:
            i, j = np.triu_indices(grid.size, k=1)
            candidates.append((*(le[k][j] - lt[k][i] for k in sums), grid[i], grid[j]))
        s, b, b2, n, low, high = (np.concatenate(parts) for parts in zip(*candidates))
        allowed = self._allowed(b, n)
        if not allowed.any():
            return None
        z = np.where(allowed, self.significance(s, np.where(allowed, b, 1.0), b2), -np.inf)
        k = int(np.argmax(z))
        return _Candidate(float(z[k]), Cut(variable, float(low[k]), float(high[k])), float(s[k]), float(b[k]))

    def _allowed(self, b: np.ndarray | float, n: np.ndarray | float) -> np.ndarray | bool:
        """Whether a selection keeping background ``b`` from ``n`` background MC events is
        allowed: b > 0, b >= min_background up to rounding (a relative 1e-9, so that sums in a
        different order agree) and n >= min_mc_events (whole events: exact)."""
        return (b > 0) & (b >= self.min_background * (1 - 1e-9)) & (np.asarray(n) >= self.min_mc_events)

    def _z(self, w: np.ndarray, signal: np.ndarray, mask: np.ndarray) -> float:
        """Z (:attr:`significance`) of the events ``mask`` (n,) of a sample with weights ``w``."""
        s, b = w[mask & signal].sum(), w[mask & ~signal].sum()
        return float(self.significance(s, b, np.sum(w[mask & ~signal] ** 2)))

    def _history(self, chosen, x, y, w, validation) -> pd.DataFrame:
        rows = []
        mask = np.ones(len(w), dtype=bool)
        if validation is not None:
            xv, yv, wv = _check(*validation)
            mask_v = np.ones(len(wv), dtype=bool)
        for step, c in enumerate(chosen):
            mask &= c.cut.keep(x)
            s, b = float(w[mask & (y == 1)].sum()), float(w[mask & (y == 0)].sum())
            row = {
                "step": step,
                "variable": c.cut.variable,
                "feature": self.feature_names[c.cut.variable] if self.feature_names else None,
                "direction": c.cut.direction,
                "value": c.cut.values[0] if len(c.cut.values) == 1 else math.nan,
                "low": c.cut.low,
                "high": c.cut.high,
                "chosen_significance": c.significance,
                "train_signal": s,
                "train_background": b,
                "train_background_events": int(np.count_nonzero(_mc_events(w, y == 1) & mask)),
                "train_significance": self._z(w, y == 1, mask),
                "val_signal": math.nan,
                "val_background": math.nan,
                "val_background_events": math.nan,
                "val_significance": math.nan,
            }
            if validation is not None:
                mask_v &= c.cut.keep(xv)
                sv, bv = float(wv[mask_v & (yv == 1)].sum()), float(wv[mask_v & (yv == 0)].sum())
                nv = int(np.count_nonzero(_mc_events(wv, yv == 1) & mask_v))
                row.update(
                    val_signal=sv,
                    val_background=bv,
                    val_background_events=nv,
                    val_significance=self._z(wv, yv == 1, mask_v),
                )
            rows.append(row)
        columns = [
            "step",
            "variable",
            "feature",
            "direction",
            "value",
            "low",
            "high",
            "chosen_significance",
            "train_signal",
            "train_background",
            "train_background_events",
            "train_significance",
            "val_signal",
            "val_background",
            "val_background_events",
            "val_significance",
        ]
        return pd.DataFrame(rows, columns=columns)

    # -- inference and persistence ----------------------------------------------------------------

    def select(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask (n,): True for the rows of ``x`` (n, f) that pass all cuts."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or (self.n_features is not None and x.shape[1] != self.n_features):
            raise ValueError(f"expected x of shape (n, {self.n_features}), got {x.shape}")
        mask = np.ones(len(x), dtype=bool)
        for cut in self.cuts:
            mask &= cut.keep(x)
        return mask

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """1.0 for rows passing all cuts, else 0.0; shape (n,).

        Not a probability: a cut-and-count has a single working point, so a ROC curve built from
        this score has just that point (plus the trivial end points).
        """
        return self.select(x).astype(np.float64)

    def save(self, path: str | os.PathLike) -> None:
        """Save the settings and cuts as JSON (atomically)."""
        write_json(
            path,
            {
                "format": _FORMAT,
                "settings": {
                    "seed": self.seed,
                    "threads": self.threads,
                    "topology": self.topology,
                    "n_thresholds": self.n_thresholds,
                    "min_background": self.min_background,
                    "min_mc_events": self.min_mc_events,
                    "two_sided": self.two_sided,
                    "tolerance": self.tolerance,
                    "feature_names": self.feature_names,
                    **self.significance.as_dict(),
                },
                "n_features": self.n_features,
                "baseline_significance": self.baseline_significance,
                "cuts": [c.as_dict(self.feature_names) for c in self.cuts],
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> CutAndCount:
        """Load a model saved by :meth:`save`."""
        data = read_json(path)
        if data.get("format") != _FORMAT:
            raise ValueError(f"{path}: not a cut-and-count model (format {data.get('format')!r})")
        # the file keeps the significance's fields among the settings
        settings = dict(data["settings"])
        significance = {f.name: settings.pop(f.name) for f in fields(Significance) if f.name in settings}
        model = cls(**settings, significance=Significance.from_config(significance))
        model.n_features = data["n_features"]
        model.baseline_significance = data["baseline_significance"]
        model.cuts = [Cut.from_dict(d) for d in data["cuts"]]
        return model


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Distinct values at the weighted quantile levels 0, 1/(n-1), ..., 1 (inverse CDF, no
    interpolation: each is one of ``values``). Weights must be >= 0; empty if they sum to 0."""
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    if values.size == 0:
        return np.empty(0)
    order = np.argsort(values, kind="stable")
    values, cdf = values[order], np.cumsum(weights[order])
    cdf /= cdf[-1]
    index = np.searchsorted(cdf, np.linspace(0.0, 1.0, n), side="left")
    return np.unique(values[np.minimum(index, values.size - 1)])


def _mc_events(w: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Background MC events (nonzero weight, either sign): boolean mask (n,)."""
    return (w != 0) & ~signal


def _cumulative(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """c[k] = sum of ``weights`` with ``index <= k``, for k = 0 .. n-1."""
    return np.cumsum(np.bincount(index, weights, n + 1))[:n]


def _check(x, y, w) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y, w = np.asarray(x, dtype=np.float64), np.asarray(y), np.asarray(w, dtype=np.float64)
    if x.ndim != 2 or y.shape != (len(x),) or w.shape != (len(x),):
        raise ValueError(f"expected shapes (n, f), (n,), (n,); got {x.shape}, {y.shape}, {w.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 1 (signal) or 0 (background)")
    if not np.isfinite(x).all():
        raise ValueError("x has non-finite values")
    return x, y, w
