"""Combine per-chunk generator bookkeeping into one cross section per process (pb)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from phenoflow.defaults import default
from phenoflow.variations import Variation, to_records


def variation_summary(variations: Sequence[Variation], weights: np.ndarray) -> dict:
    """The chunk summary's part on its theory variations: ``variations`` (records of
    :func:`~phenoflow.variations.to_records`) and ``variation_sum_weights`` (each variation's sum
    of its weights over the chunk's events, ``weights`` of shape (n_events, n_variations)); empty
    for a chunk without variations, whose summary stays as it was."""
    if not variations:
        return {}
    sums = [math.fsum(column) for column in np.asarray(weights, dtype=float).T]
    return {
        "variations": to_records(variations),
        "variation_sum_weights": dict(zip((v.name for v in variations), sums)),
    }


def merge_chunks(chunks: Sequence[dict], override: dict | None = None) -> dict:
    """Process summary from chunk summaries (each with sigma_pb, sigma_err_pb, n_tried, n_events, sum_weights).

    The cross section is the trial-weighted mean of the chunks' estimates, with error
    sqrt(sum (n_i err_i)^2) / sum n_i. ``override`` may set ``value_pb`` (and ``error_pb``) to
    replace the generator's value and a ``k_factor`` that multiplies either; the summary says which.

    Chunks with theory variations (:func:`variation_summary`) must all carry the same ones; the
    summary then lists them (``variations``), each one's weights summed over the chunks
    (``variation_sum_weights``) and its cross section (``variation_sigma_pb``: sigma_pb times its
    summed weights over the nominal ``sum_weights``, so k-factors and overrides scale it alike).
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
    k = float(override.get("k_factor", default("$defs.process.cross_section.k_factor")))
    summary.update(k_factor=k, sigma_pb=sigma * k, sigma_err_pb=error * k)
    return summary | _merged_variations(chunks, summary["sigma_pb"], summary["sum_weights"])


def _merged_variations(chunks: Sequence[dict], sigma_pb: float, sum_weights: float) -> dict:
    """The process summary's part on the chunks' variations (see :func:`merge_chunks`)."""
    records = chunks[0].get("variations", [])
    for c in chunks[1:]:
        if c.get("variations", []) != records:
            names = [[r["name"] for r in x.get("variations", [])] for x in (chunks[0], c)]
            raise ValueError(
                f"chunk {c.get('chunk', '?')} carries the variations {names[1]}, chunk "
                f"{chunks[0].get('chunk', '?')} {names[0]}: the chunks of a process must carry the same ones"
            )
    if not records:
        return {}
    if sum_weights == 0:
        raise ValueError("the chunks' nominal weights sum to 0: the variations' cross sections are undefined")
    sums = {r["name"]: math.fsum(c["variation_sum_weights"][r["name"]] for c in chunks) for r in records}
    return {
        "variations": records,
        "variation_sum_weights": sums,
        "variation_sigma_pb": {name: sigma_pb * s / sum_weights for name, s in sums.items()},
    }
