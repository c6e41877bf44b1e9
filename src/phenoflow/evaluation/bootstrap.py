"""Bootstrap standard errors of the weighted metrics (AUC, Z_max), and of the differences between
classifiers scored on the same events.

A replica resamples the scored events with replacement within each process (the strata): a
process of n_p events gets n_p draws among its own events, so every replica keeps each process's
number of MC events and, on average, its expected yield. A replica is the events' multiplicities
c (shape (n,)); its weights are c * w, the signed physical weights, so an event drawn twice counts
twice in every yield and in sum w^2. Replica r of seed s depends on (s, r) and the events' strata
in their order only, not on how many replicas are computed together: classifiers scored on the
same events get the same replicas from the same seed, which makes their differences paired.

The metrics of a block of replicas are computed at once, on arrays (replicas, events), with the
definitions of :mod:`phenoflow.evaluation.metrics`: the weighted AUC by ranks (the summed signal
and background weights of each distinct score, the background weight below it by a cumulative
sum), Z_max from the cumulative yields at every distinct threshold ``score >= t`` keeping at least
``min_background`` expected background events (tied scores are kept or dropped together).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from phenoflow.significance import ASIMOV, Significance

#: Replicas are computed in blocks of about this many (replica, event) cells, bounding the memory
#: (a few arrays of 8 bytes per cell) whatever the number of events.
_BLOCK_CELLS = 1_000_000


@dataclass(frozen=True)
class Bootstrap:
    """How many replicas (config ``evaluation.bootstrap``) and the seed they are drawn from."""

    n_replicas: int
    seed: int

    def __post_init__(self):
        if not self.n_replicas >= 2:
            raise ValueError(
                f"evaluation.bootstrap: at least 2 replicas are needed for an error, got {self.n_replicas}"
            )


def replica_counts(strata: np.ndarray, replicas: range, seed: int) -> np.ndarray:
    """Multiplicities of the n events in each of the ``replicas`` (indices), shape (len(replicas), n).

    ``strata`` (n,): each event's stratum (process name); every stratum of n_p events gets n_p
    draws with replacement among its own events, so each row sums to n per stratum.
    """
    strata = np.asarray(strata)
    _, inverse = np.unique(strata, return_inverse=True)
    inverse = inverse.ravel()
    n = len(inverse)
    members = np.argsort(inverse, kind="stable")  # the events stratum by stratum
    sizes = np.bincount(inverse)
    first = np.cumsum(sizes) - sizes
    slot_first, slot_size = first[inverse[members]], sizes[inverse[members]]  # each draw's stratum
    out = np.empty((len(replicas), n), dtype=np.int64)
    for k, r in enumerate(replicas):
        u = np.random.default_rng([seed, r]).random(n)
        picked = np.minimum((u * slot_size).astype(np.int64), slot_size - 1)
        out[k] = np.bincount(members[slot_first + picked], minlength=n)
    return out


def _per_score(values: np.ndarray, mask: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``values`` (r, n; events in ascending score) over the events of ``mask``
    (n,) in each group of equal score (starting at ``starts``, (m,)): shape (r, m)."""
    return np.add.reduceat(values * mask, starts, axis=1)


def _reverse_cumsum(x: np.ndarray) -> np.ndarray:
    """Sum over the columns from each one to the last, per row: the yield kept by ``score >= t``."""
    return np.cumsum(x[:, ::-1], axis=1)[:, ::-1]


def _auc(s: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weighted AUC per row from the signal and background weight per distinct score (ascending),
    shapes (r, m) -> (r,); NaN where a class's summed weight is <= 0."""
    total_s, total_b = s.sum(axis=1), b.sum(axis=1)
    below = np.cumsum(b, axis=1) - b
    ok = (total_s > 0) & (total_b > 0)
    pairs = np.sum(s * (below + 0.5 * b), axis=1)
    return np.where(ok, pairs / np.where(ok, total_s * total_b, 1.0), np.nan)


def _z_max(
    s: np.ndarray,
    b: np.ndarray,
    b2: np.ndarray | None,
    min_background: float,
    significance: Significance,
    n_b: np.ndarray | None = None,
    min_mc_events: float = 0,
) -> np.ndarray:
    """Best Z per row over the thresholds, from the signal, background and background sum w^2 per
    distinct score (ascending), shapes (r, m) -> (r,); NaN where no threshold keeps the minima.
    ``n_b`` (r, m): background MC events per distinct score, of which a threshold must keep
    ``min_mc_events``."""
    s_cut, b_cut = _reverse_cumsum(s), _reverse_cumsum(b)
    allowed = b_cut >= max(min_background, np.finfo(float).tiny)
    if n_b is not None and min_mc_events > 0:
        allowed &= _reverse_cumsum(n_b) >= min_mc_events - 0.5
    b_safe = np.where(allowed, b_cut, 1.0)
    z = significance(s_cut, b_safe, 0.0 if b2 is None else _reverse_cumsum(b2))
    best = np.max(np.where(allowed, z, -np.inf), axis=1)
    return np.where(np.isfinite(best), best, np.nan)


def standard_error(values: np.ndarray) -> float | None:
    """Standard deviation (ddof 1) of the finite replica values; None with fewer than two."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.std(ddof=1)) if len(values) >= 2 else None


@dataclass
class Replicas:
    """One classifier's metrics on every replica, each of shape (n_replicas,): Z_max with the plain
    Asimov Z (``z_max_asimov``) and with the configured significance (``z_max``); for a continuous
    score the AUC (``auc``) and the AUC against each background process alone (``auc_per_background``),
    for a pass/fail score none (``auc`` None)."""

    bootstrap: Bootstrap
    z_max_asimov: np.ndarray
    z_max: np.ndarray
    auc: np.ndarray | None = None
    auc_per_background: dict[str, np.ndarray] = field(default_factory=dict)

    def errors(self) -> dict:
        """The bootstrap standard errors, JSON-ready, with how they were made."""
        return {
            "n_replicas": self.bootstrap.n_replicas,
            "seed": self.bootstrap.seed,
            "resampling": "events with replacement, per process",
            "auc": None if self.auc is None else standard_error(self.auc),
            "z_max_asimov": standard_error(self.z_max_asimov),
            "z_max": standard_error(self.z_max),
            "auc_per_background": {p: standard_error(v) for p, v in self.auc_per_background.items()},
        }

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Each metric's replica values by name: ``z_max_asimov``, ``z_max``, and ``auc`` and
        ``auc_<process>`` for a continuous score."""
        out = {"z_max_asimov": self.z_max_asimov, "z_max": self.z_max}
        if self.auc is not None:
            out["auc"] = self.auc
            out.update({f"auc_{p}": v for p, v in self.auc_per_background.items()})
        return out


def replica_metrics(
    scores: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    processes: np.ndarray,
    min_background: float,
    bootstrap: Bootstrap,
    significance: Significance = ASIMOV,
    *,
    continuous: bool = True,
    min_mc_events: int = 0,
) -> Replicas:
    """A classifier's metrics on each bootstrap replica of its scored events.

    ``scores``, ``weights`` (expected events, signed), ``labels`` (1 signal, else background) and
    ``processes`` (names, the strata): shape (n,). ``continuous`` False (a pass/fail score, which
    has no ROC curve) leaves out the AUCs. Z_max as :func:`~phenoflow.evaluation.metrics.max_significance`
    with ``min_background`` and ``min_mc_events`` (background MC events of nonzero weight, each
    counted as often as the replica draws it), each replica choosing its own best threshold.
    """
    scores = np.asarray(scores, dtype=np.float64)
    weights, processes = np.asarray(weights, dtype=np.float64), np.asarray(processes)
    is_signal = np.asarray(labels) == 1
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # groups of equal score
    masks = {"signal": is_signal, "background": ~is_signal}
    backgrounds = [str(p) for p in np.unique(processes[~is_signal])] if continuous else []
    masks.update({f"process {p}": ~is_signal & (processes == p) for p in backgrounds})
    masks = {name: mask[order].astype(np.float64) for name, mask in masks.items()}
    w_sorted, w2_sorted = weights[order], weights[order] ** 2
    nonzero = (weights[order] != 0).astype(np.float64)
    results: dict[str, list[np.ndarray]] = {}
    block = max(1, _BLOCK_CELLS // max(len(scores), 1))
    for first in range(0, bootstrap.n_replicas, block):
        counts = replica_counts(processes, range(first, min(first + block, bootstrap.n_replicas)), bootstrap.seed)
        counts = counts[:, order]
        w = counts * w_sorted
        s, b = _per_score(w, masks["signal"], starts), _per_score(w, masks["background"], starts)
        b2 = None if significance.plain else _per_score(counts * w2_sorted, masks["background"], starts)
        n_b = _per_score(counts * nonzero, masks["background"], starts)
        z_max = functools.partial(_z_max, s, b, min_background=min_background, n_b=n_b, min_mc_events=min_mc_events)
        found = {"z_max_asimov": z_max(None, significance=ASIMOV)}
        found["z_max"] = found["z_max_asimov"] if significance.plain else z_max(b2, significance=significance)
        if continuous:
            found["auc"] = _auc(s, b)
            found.update({f"auc_{p}": _auc(s, _per_score(w, masks[f"process {p}"], starts)) for p in backgrounds})
        for name, values in found.items():
            results.setdefault(name, []).append(values)
    joined = {name: np.concatenate(parts) for name, parts in results.items()}
    return Replicas(
        bootstrap,
        joined["z_max_asimov"],
        joined["z_max"],
        joined.get("auc"),
        {p: joined[f"auc_{p}"] for p in backgrounds},
    )


def paired_difference(a: np.ndarray, b: np.ndarray) -> float | None:
    """Standard error of the difference a - b of one metric of two classifiers over the same
    replicas (shape (n_replicas,) each): 0 exactly for identical replica values."""
    return standard_error(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
