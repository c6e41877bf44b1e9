"""The weights the trainable models accept: finite and non-negative (|w| of signed physical weights)."""

from __future__ import annotations

import numpy as np


def check_training_weights(name: str, **weights: np.ndarray) -> None:
    """Raise ValueError if any of the named weight arrays has a negative (or non-finite) entry.

    The BDT and the networks train on non-negative weights: signed physical weights (NLO
    generators) enter as |w|, class-balanced by :func:`phenoflow.features.datasets.balanced_weights`.
    """
    for what, w in weights.items():
        w = np.asarray(w, dtype=np.float64)
        if w.size and not (np.isfinite(w).all() and w.min() >= 0):
            raise ValueError(
                f"{name}: {what} weights must be finite and non-negative (got minimum {w.min():.4g}); "
                "train on |w| (phenoflow.features.datasets.balanced_weights)"
            )
