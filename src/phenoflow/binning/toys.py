"""Toy datasets for binning studies.

:func:`gato_toy` is the one-dimensional (binary) toy of the GATO binning example, written
from its published description: one signal and five backgrounds, each a correlated 3-D Gaussian smeared by multiplicative noise, reduced to the
likelihood-ratio discriminant lr / (1 + lr) in [0, 1].
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logsumexp
from scipy.stats import multivariate_normal

GATO_LUMINOSITY = 100.0  # pb^-1
#: (name, cross section in pb, mean of the 3-D Gaussian); process id = position in this tuple
GATO_PROCESSES: tuple[tuple[str, float, tuple[float, float, float]], ...] = (
    ("signal", 0.5, (1.5, -1.0, -1.0)),
    ("background_1", 100.0, (-0.5, -0.5, 1.0)),
    ("background_2", 80.0, (0.5, -0.5, 0.8)),
    ("background_3", 50.0, (0.5, 0.5, -0.6)),
    ("background_4", 20.0, (-0.5, 1.0, -0.4)),
    ("background_5", 10.0, (-0.5, 0.5, -0.2)),
)
GATO_CORRELATION = 0.2
GATO_NOISE_SIGMA = 0.3


def _split_by_share(total: int, shares: np.ndarray) -> np.ndarray:
    """Integers summing to ``total`` in proportion to ``shares`` (largest remainder)."""
    exact = total * shares / shares.sum()
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


def gato_toy(n_signal: int = 100_000, n_background: int = 300_000, seed: int = 0) -> dict[str, np.ndarray]:
    """Sample the GATO 1-D toy at 100 pb^-1.

    Backgrounds share ``n_background`` events in proportion to their cross sections. Each
    class is a 3-D Gaussian (unit variances, all correlations 0.2); every sampled coordinate is
    then multiplied by independent N(1, 0.3) noise. The score is lr / (1 + lr), lr being the
    noise-free signal density over the cross-section-weighted mixture of noise-free background
    densities at the smeared point. Weights (expected events) make each process sum to
    sigma * L: signal 50, backgrounds 10000, 8000, 5000, 2000, 1000.

    Returns arrays of shape (n,), n = n_signal + n_background, grouped by process:
    ``scores`` (float, in [0, 1]), ``weights`` (float), ``labels`` (1 signal, 0 background) and
    ``process`` (int, index into :data:`GATO_PROCESSES`). Deterministic for a given ``seed``.
    """
    if n_signal < 1 or n_background < len(GATO_PROCESSES) - 1:
        raise ValueError(f"need n_signal >= 1 and n_background >= 5, got {n_signal}, {n_background}")
    rng = np.random.default_rng(seed)
    xsec = np.array([p[1] for p in GATO_PROCESSES])
    means = np.array([p[2] for p in GATO_PROCESSES])
    cov = np.full((3, 3), GATO_CORRELATION) + (1.0 - GATO_CORRELATION) * np.eye(3)
    counts = np.r_[n_signal, _split_by_share(n_background, xsec[1:])]

    x = np.concatenate([rng.multivariate_normal(m, cov, size=n) for m, n in zip(means, counts)])
    x *= rng.normal(1.0, GATO_NOISE_SIGMA, size=x.shape)

    log_sig = multivariate_normal(means[0], cov).logpdf(x)
    log_bkg_each = np.stack([multivariate_normal(m, cov).logpdf(x) for m in means[1:]], axis=1)
    log_bkg = logsumexp(log_bkg_each, axis=1, b=xsec[1:] / xsec[1:].sum())
    scores = expit(log_sig - log_bkg)  # lr / (1 + lr), stable for extreme lr

    process = np.repeat(np.arange(len(GATO_PROCESSES)), counts)
    weights = (xsec * GATO_LUMINOSITY / counts)[process]
    labels = (process == 0).astype(np.int64)
    return {"scores": scores, "weights": weights, "labels": labels, "process": process}


def softmax_toy(
    n_background: int = 6000, n_signal: tuple[int, int] = (1000, 1000), seed: int = 2
) -> dict[str, np.ndarray]:
    """Softmax outputs of a three-class classifier (background, signal A, signal B): each class's
    own logit raised by 1.5 over N(0, 1) noise in all three. Weights (expected events): the
    background sums to 2000, signal A to 20, signal B to 15.

    Returns ``scores`` (n, 3) in the class order (signal A, signal B, background), ``weights``
    (n,), ``labels`` (n,): 0 background, 1 signal A, 2 signal B. Deterministic for ``seed``.
    """
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], [n_background, *n_signal])
    logits = rng.normal(0.0, 1.0, (len(labels), 3))
    logits[np.arange(len(labels)), np.array([2, 0, 1])[labels]] += 1.5
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weights = np.choose(labels, [2000 / n_background, 20 / n_signal[0], 15 / n_signal[1]])
    return {"scores": scores, "weights": weights, "labels": labels}
