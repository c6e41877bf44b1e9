"""The mixture's differentiable objective (TensorFlow): the annealing schedules, Z_A and Cowan's Z^2
of soft yields, and the rule as a floor on the background (:func:`rule_background`) and squared
hinge penalties (:func:`rule_penalty`). See :mod:`phenoflow.binning.gmm` for the method."""

from __future__ import annotations

import numpy as np

from phenoflow.binning.rule import COMBINATIONS

SCHEDULES = ("constant", "cosine", "exponential")
_B_FLOOR = 1e-12  # background floor inside the loss (expected events), keeps Z_A finite as b -> 0
_N_FLOOR = 1e-6  # MC-event floor of a soft bin's mean weight b / n in rule_background


def schedule(kind: str, start: float, end: float, n_steps: int) -> np.ndarray:
    """Values at steps 0 .. n_steps-1 going from ``start`` to ``end``, shape (n_steps,).

    "constant": ``start`` throughout; "cosine": half a cosine from start to end; "exponential":
    geometric interpolation (start and end must be positive).
    """
    t = np.arange(n_steps) / max(n_steps - 1, 1)
    if kind == "constant":
        return np.full(n_steps, float(start))
    if kind == "cosine":
        return end + (start - end) * 0.5 * (1.0 + np.cos(np.pi * t))
    if kind == "exponential":
        if start <= 0 or end <= 0:
            raise ValueError(f"an exponential schedule needs positive start and end, got {start}, {end}")
        return start * (end / start) ** t
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got '{kind}'")


_SERIES_BELOW = 1e-2  # log1p(x)/x by its series below this x (remainder x^6/7 < 2e-13)


def significance_squared_with_uncertainty(s, b, variance):
    """Cowan's Z^2 of signal ``s`` over background ``b`` > 0 known to within sigma_b^2 =
    ``variance`` >= 0 (TensorFlow tensors, broadcasting; float32 or float64), the square of
    :func:`phenoflow.significance.asimov_significance_with_uncertainty`, written without
    any division by the variance:

        Z^2 = 2 ((s+b) log1p(s b / (b (b+v) + s v)) - s b / (b+v) * log1p(x) / x),  x = v s / (b (b+v)),

    (the formula's (b^2/v) log1p(x) is s b/(b+v) log1p(x)/x). At v = 0 it is exactly Z_A^2, and
    log1p(x)/x is its series 1 - x/2 + ... - x^5/6 below x = 0.01, so values and gradients stay
    finite as v -> 0 (and fall smoothly, like 1/v, as v -> inf). s < 0 counts as 0; Z^2 >= 0.
    """
    import tensorflow as tf

    s = tf.maximum(s, 0.0)
    b_v = b + variance
    first = (s + b) * tf.math.log1p(s * b / (b * b_v + s * variance))
    x = variance * s / (b * b_v)
    small = x < _SERIES_BELOW
    x_small = tf.where(small, x, tf.zeros_like(x))  # both branches finite: no NaN in the gradients
    x_large = tf.where(small, tf.ones_like(x), x)
    series = 1.0 + x_small * (-1 / 2 + x_small * (1 / 3 + x_small * (-1 / 4 + x_small * (1 / 5 - x_small / 6))))
    ratio = tf.where(small, series, tf.math.log1p(x_large) / x_large)
    return tf.maximum(2.0 * (first - s * b / b_v * ratio), 0.0)


def differentiable_significance(s, b, combination: str = "quadrature", w2=None, uncertainty=None):
    """Differentiable combined significance of soft yields (TensorFlow tensors).

    ``s``: signal yields (..., n_signals, n_bins); ``b``: background yields (..., n_bins).
    Returns (Z (...,), Z_i (..., n_signals)), Z_i as in :func:`phenoflow.binning.rule.signal_significances`;
    float32 or float64. Without ``uncertainty`` Z is the plain Asimov Z_A; with ``uncertainty`` =
    (rel, mc) (scalars or tensors) it is Cowan's Z with sigma_b^2 = (rel b')^2 + mc sum w^2 per
    bin, b' the background signal i sees and ``w2`` (..., n_bins) the background's soft sum of
    w^2 (mc = 1 with the MC statistics, 0 without). Safe as b -> 0: the background of each bin is
    floored at 1e-12 events, so values and gradients stay finite. "minimum" is smooth here:
    -tau logsumexp(-Z_i / tau), tau = 2% of the mean Z_i (below the exact minimum by at most tau
    ln n_signals).
    """
    import tensorflow as tf

    others = tf.maximum(b[..., None, :] + tf.reduce_sum(s, axis=-2, keepdims=True) - s, _B_FLOOR)
    sp = tf.maximum(s, 0.0)
    if uncertainty is None:
        za2 = tf.maximum(2.0 * ((sp + others) * tf.math.log1p(sp / others) - sp), 0.0)
    else:
        rel, mc = uncertainty
        variance = (rel * others) ** 2 + mc * tf.maximum(w2, 0.0)[..., None, :]
        za2 = significance_squared_with_uncertainty(sp, others, variance)
    z_sig = tf.sqrt(tf.reduce_sum(za2, axis=-1) + 1e-30)
    if combination == "quadrature":
        z = tf.sqrt(tf.reduce_sum(z_sig**2, axis=-1))
    elif combination == "geometric_mean":
        z = tf.exp(tf.reduce_mean(tf.math.log(z_sig), axis=-1))
    elif combination == "minimum":
        tau = 0.02 * tf.stop_gradient(tf.reduce_mean(z_sig, axis=-1, keepdims=True)) + 1e-12
        z = -tau[..., 0] * tf.reduce_logsumexp(-z_sig / tau, axis=-1)
    else:
        raise ValueError(f"combination must be one of {', '.join(COMBINATIONS)}, got '{combination}'")
    return z, z_sig


def rule_penalty(b, w2, rule, n=None):
    """Squared-hinge penalty of soft bins against the rule (TensorFlow tensors), shape (...,).

    ``b``, ``w2``, ``n``: background yield, sum of w^2 and (soft) number of background MC
    events per bin (..., n_bins; ``n`` may be None when lambda_n = 0); ``rule`` = (min_b,
    max_rel, min_n, lambda_b, lambda_u, lambda_n, margin). Returns lambda_b sum_k relu(1 - b_k /
    (min_b (1 + margin)))^2 + lambda_u sum_k relu(1 - n_eff_k max_rel^2 / (1 + margin)^2)^2 +
    lambda_n sum_k relu(1 - n_k / (min_n (1 + margin)))^2 with n_eff_k = b_k^2 / w2_k the
    effective number of MC events of the bin (b_k < 0 counts as 0): the rule sqrt(w2_k) / b_k <=
    max_rel is n_eff_k >= 1 / max_rel^2. The hinges are bounded by 1 for b, n >= 0, so a soft bin
    holding a small fraction gamma of one MC event (relative uncertainty 1/sqrt(gamma), which a
    hinge on sqrt(w2)/b would square into 1/gamma) cannot blow the loss and its gradients up.
    With signed weights a soft bin's b can be <= 0: the background hinge keeps growing
    (linearly in -b, so with a gradient pulling b up).
    """
    import tensorflow as tf

    min_b, max_rel, min_n, lam_b, lam_u, lam_n, margin = rule
    short = tf.nn.relu(1.0 - b / (min_b * (1.0 + margin)))
    bp = tf.maximum(b, 0.0)
    n_eff = bp * bp / tf.maximum(w2, 1e-30)
    few = tf.nn.relu(1.0 - n_eff * max_rel**2 / (1.0 + margin) ** 2)
    penalty = lam_b * tf.reduce_sum(short**2, axis=-1) + lam_u * tf.reduce_sum(few**2, axis=-1)
    if n is None:
        return penalty
    lacking = tf.nn.relu(1.0 - n / (min_n * (1.0 + margin)))
    return penalty + lam_n * tf.reduce_sum(lacking**2, axis=-1)


def rule_background(b, b_rule, w2_rule, min_background, inv_rel2, n_rule=None, min_events=0.0):
    """The background a bin would need to obey the rule, max(b, min_background,
    w2 / (max_rel^2 b'), min_events b' / n) (TensorFlow tensors, broadcasting): ``b`` the
    background Z is taken at, ``b_rule`` = b', ``w2_rule`` and ``n_rule`` = n (background MC
    events; may be None without ``min_events``) the yields the rule is judged on (the soft yields
    themselves in training), ``inv_rel2`` = 1 / max_rel^2 (0 without that constraint). It is b
    itself where the rule holds, more where it does not: the mixture's objective takes Z at this
    background, so a bin gains nothing by breaking the rule. A bin with one MC event where the
    rule asks for four (through max_rel, or ``min_events``) counts as if it had that many events'
    background at its mean weight, and widening it to take them in (as a bin obeying the rule
    must) costs no significance. w2 / b' and b' / n are taken as 0 where b' <= 0 (the floor
    min_background, or the 1e-12 floor of the significance, takes over), and n is floored at
    1e-6 events (a component holding less than that gains nothing worth a NaN gradient).
    """
    import tensorflow as tf

    positive = tf.where(b_rule > 0, b_rule, tf.zeros_like(b_rule))
    needed = tf.maximum(tf.maximum(b, min_background), inv_rel2 * tf.math.divide_no_nan(w2_rule, positive))
    if n_rule is None:
        return needed
    return tf.maximum(needed, min_events * positive / tf.maximum(n_rule, _N_FLOOR))
