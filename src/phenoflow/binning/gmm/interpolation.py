"""pyhf's interpolation of its systematics in TensorFlow: normsys code 4 and histosys code 4p,
the codes a ``pyhf.Model`` uses by default (:mod:`phenoflow.binning.gmm.profile`)."""

from __future__ import annotations

import numpy as np

#: code 4's polynomial between -1 and 1: a = _CODE4 @ (hi - 1, lo - 1, hi ln hi, -lo ln lo,
#: hi ln^2 hi, lo ln^2 lo), the conditions f(+-1), f'(+-1), f''(+-1) solved (pyhf's A^-1 at alpha0 = 1)
_CODE4 = np.linalg.inv(
    np.array(
        [[d**i for i in range(1, 7)] for d in (1, -1)]
        + [[i * d ** (i - 1) for i in range(1, 7)] for d in (1, -1)]
        + [[i * (i - 1) * d ** (i - 2) for i in range(1, 7)] for d in (1, -1)],
        dtype=np.float64,
    )
)


def code4(alpha, log_hi, log_lo):
    """pyhf's normsys interpolation code 4 (alpha0 = 1): the factor at ``alpha`` for up and down
    factors exp(``log_hi``) and exp(``log_lo``) (TensorFlow, broadcasting)."""
    import tensorflow as tf

    hi, lo = tf.exp(log_hi), tf.exp(log_lo)
    b = tf.stack([hi - 1.0, lo - 1.0, hi * log_hi, -lo * log_lo, hi * log_hi**2, lo * log_lo**2], axis=-1)
    a = tf.linalg.matvec(tf.constant(_CODE4, alpha.dtype), b)
    x = tf.clip_by_value(alpha, -1.0, 1.0)
    poly = 1.0 + x * (a[..., 0] + x * (a[..., 1] + x * (a[..., 2] + x * (a[..., 3] + x * (a[..., 4] + x * a[..., 5])))))
    outside = tf.exp(tf.where(alpha >= 0, alpha * log_hi, -alpha * log_lo))
    return tf.where(tf.abs(alpha) >= 1.0, outside, poly)


def code4p(alpha, delta_up, delta_down):
    """pyhf's histosys interpolation code 4p: the shift at ``alpha`` for the shifts ``delta_up``
    = up - nominal and ``delta_down`` = nominal - down (TensorFlow, broadcasting)."""
    import tensorflow as tf

    a2 = alpha * alpha
    inner = alpha * 0.5 * (delta_up + delta_down) + a2 * (a2 * (3.0 * a2 - 10.0) + 15.0) * 0.0625 * (
        delta_up - delta_down
    )
    return tf.where(alpha > 1.0, alpha * delta_up, tf.where(alpha < -1.0, alpha * delta_down, inner))
