"""Hand-made events for the rule's minimum number of background MC events, shared by the tests of
every method that obeys it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from phenoflow.binning.rule import BinRule

#: The rule of the hand-made cases: b >= 0.5 and rel. MC uncertainty <= 0.6 hold for four or more of
#: the light top events (1/sqrt(n) <= 0.5) and for nine of them with one heavy event (sqrt(1.09)/1.9
#: = 0.55), so only the count decides
RULE = BinRule(min_background=0.5, max_rel_uncertainty=0.6)
#: The same with at least ten background MC events per bin
TEN = replace(RULE, min_mc_events=10)


def top_sample(n_top: int):
    """Background: 40 events of weight 1 at scores 0.05 .. 0.45 and ``n_top`` light ones (weight
    0.1) at 0.90 .. 0.99; signal: 10 events of weight 0.5 at 0.055 .. 0.445 and 10 at 0.905 ..
    0.985. Equal-width and equal-signal bins for K = 2 cut at 0.5 and 0.675, between the regions,
    so their top bin holds exactly the ``n_top`` light background events."""
    scores = np.r_[np.linspace(0.05, 0.45, 40), np.linspace(0.90, 0.99, n_top), np.linspace(0.055, 0.445, 10),
                   np.linspace(0.905, 0.985, 10)]  # fmt: skip
    weights = np.r_[np.ones(40), np.full(n_top, 0.1), np.full(20, 0.5)]
    labels = np.r_[np.zeros(40 + n_top, int), np.ones(20, int)]
    return scores, weights, labels


def background_counts(edges, scores, weights, labels) -> list[int]:
    """Background MC events (nonzero weight) in each bin of ``edges``, the last bin closed, counted
    one bin at a time."""
    return [int(np.sum((labels == 0) & (weights != 0) & (scores >= lo) & (scores < hi)))
            for lo, hi in zip(edges[:-1], np.r_[edges[1:-1], np.inf])]  # fmt: skip
