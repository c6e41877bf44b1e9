"""Combine per-chunk generator bookkeeping into one cross section per process (pb)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def merge_chunks(chunks: Sequence[dict], override: dict | None = None) -> dict:
    """Process summary from chunk summaries (each with sigma_pb, sigma_err_pb, n_tried, n_events, sum_weights).

    The cross section is the trial-weighted mean of the chunks' estimates, with error
    sqrt(sum (n_i err_i)^2) / sum n_i. ``override`` may set ``value_pb`` (and ``error_pb``) to
    replace the generator's value and a ``k_factor`` that multiplies either; the summary says which.
    """
    if not chunks:
        raise ValueError("no chunks to merge")
    trials = [c["n_tried"] for c in chunks]
    total = sum(trials)
    sigma = sum(n * c["sigma_pb"] for n, c in zip(trials, chunks)) / total
    error = math.sqrt(sum((n * c["sigma_err_pb"]) ** 2 for n, c in zip(trials, chunks))) / total
    summary = {
        "n_chunks": len(chunks),
        "n_events": sum(c["n_events"] for c in chunks),
        "n_tried": total,
        "sum_weights": math.fsum(c["sum_weights"] for c in chunks),
        "generator_sigma_pb": sigma,
        "generator_sigma_err_pb": error,
        "sigma_source": "generator",
    }
    override = override or {}
    if override.get("value_pb") is not None:
        sigma, error = float(override["value_pb"]), float(override.get("error_pb", 0.0))
        summary["sigma_source"] = "config"
    k = float(override.get("k_factor", 1.0))
    summary.update(k_factor=k, sigma_pb=sigma * k, sigma_err_pb=error * k)
    return summary
