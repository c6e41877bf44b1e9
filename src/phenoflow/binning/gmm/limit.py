"""The median expected CLs upper limit on the signal strength of the inference stage's HistFactory
likelihood as a differentiable function of per-process yields (TensorFlow, float64): the
mixture's limit objective (binning method ``gmm_limit``), beside the discovery Z of
:mod:`phenoflow.binning.gmm.profile`, whose model, deviance and profile fit it uses.

On the background-only Asimov data (n = sum_b y_b, best fit mu^ = 0 at the nominal parameters,
where the deviance is 0) the test statistic for upper limits is q~_mu = min_theta F(mu, theta),
one profile fit per mu; the median expected CLs limit at confidence ``cl`` solves
g(mu) = sqrt(q~_mu) = Phi^-1(1 - (1 - cl) / 2) (1.96 at 95 %: CLs = p_mu / (1 - p_b) with
1 - p_b = 1/2 for the median; Cowan, Cranmer, Gross and Vitells, EPJC 71 (2011) 1554, and Read,
J. Phys. G 28 (2002) 2693), as :func:`phenoflow.inference.fits.expected_results` does.

The root is found by Newton's method in mu, each step one profile fit (warm-started Newton steps
on the nuisance parameters, :func:`phenoflow.binning.gmm.profile._newton`) and dg/dmu by the
envelope theorem (theta^^ held fixed), every step no smaller than half the last mu; where the
fit has not converged enough for a positive slope, mu stays for the next fit. The last
step is taken with the yields live: its value mu - (g(mu, y) - target) / (dg/dmu) is the next
Newton iterate, and its gradient with respect to the yields -(dg/dy) / (dg/dmu) the
implicit-function theorem's at the root (dg/dy again by the envelope theorem). In training the
state (theta^^, mu) of each restart is carried from step to step, so that one Newton step in mu
per training step follows the moving root.

Everything takes leading batch dimensions: yields (..., P, K).
"""

from __future__ import annotations

import functools

import numpy as np

from phenoflow.binning.gmm.profile import (
    LikelihoodModel,
    _as_tensors,
    _deviance,
    _Inputs,
    _inputs,
    _newton,
    nominal_parameters,
)


def limit_target(cl: float = 0.95) -> float:
    """sqrt(q~_mu) at the median expected CLs limit of confidence ``cl``: Phi^-1(1 - (1 - cl) / 2)."""
    from scipy.stats import norm

    if not 0 < cl < 1:
        raise ValueError(f"the limit's confidence level must be in (0, 1), got {cl}")
    return float(norm.isf((1 - cl) * 0.5))


def rough_limit(model: LikelihoodModel, y, target: float):
    """The limit without systematics in the Gaussian approximation, target sqrt(B) / S over all
    bins, (...): Newton's start in mu (1 where there is no signal)."""
    import tensorflow as tf

    sig = np.array(model.signal)
    s = tf.reduce_sum(tf.gather(y, np.flatnonzero(sig), axis=-2), axis=(-2, -1))
    b = tf.reduce_sum(tf.gather(y, np.flatnonzero(~sig), axis=-2), axis=(-2, -1))
    return tf.stop_gradient(tf.where(s > 0, target * tf.sqrt(tf.maximum(b, 0.0)) / tf.where(s > 0, s, 1.0), 1.0))


def _root_and_slope(model: LikelihoodModel, theta, mu, data: _Inputs, target: float):
    """g(mu) - target and dg/dmu at the parameters ``theta`` (held fixed: the envelope theorem),
    (...) each; g carries the gradient of the yields in ``data``."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(mu)
        g = tf.sqrt(tf.maximum(_deviance(model, theta, mu, data), 0.0) + 1e-30)
        total = tf.reduce_sum(g)
    slope = tf.stop_gradient(tape.gradient(total, mu))
    return g - target, slope


def limit_solve(model: LikelihoodModel, y, w2, up, down, mu, theta, *, target: float, iterations: int,
                solves: int):  # fmt: skip
    """``solves`` Newton steps in mu towards the median limit (see the module docstring) from
    ``mu`` (...) and nuisance parameters ``theta`` (..., n), each preceded by ``iterations``
    Newton steps of the profile fit at the current mu; uncompiled (for use inside a compiled
    function). Returns the limit (...) (the last Newton iterate, with the implicit-function
    gradient in the yields), and the state to warm-start from: mu (stopped) and theta."""
    import tensorflow as tf

    if solves < 1:
        raise ValueError(f"the limit needs at least one Newton step in mu, got solves={solves}")
    data = _inputs(model, y, w2, up, down, 0.0)
    stopped = _Inputs(*(tf.stop_gradient(x) if tf.is_tensor(x) else x for x in vars(data).values()))

    def newton_step(mu, theta, inputs: _Inputs):
        """mu's Newton step at the profiled ``theta``: (step, whether usable)."""
        excess, slope = _root_and_slope(model, theta, mu, inputs, target)
        usable = tf.math.is_finite(slope) & (slope > 0)
        return excess / tf.where(usable, slope, 1.0), usable

    def approach(i, mu, theta, step, usable):
        # the last loop's step first (none in the first loop); no usable slope: the profile fit
        # has not converged yet (held fixed, theta^^ then gives dg/dmu of either sign), so mu
        # stays for the next fit, which starts from this one
        mu = tf.where(usable & (i > 0), tf.maximum(mu - step, 0.5 * mu), mu)
        theta = _newton(model, theta, mu, stopped, iterations)
        return i + 1, mu, theta, *newton_step(mu, theta, stopped)

    # every fit in one loop, so that a compiled caller traces the profile fit once
    mu = tf.stop_gradient(mu)
    state = (0, mu, theta, tf.zeros_like(mu), tf.zeros_like(mu, tf.bool))
    _, mu, theta, _, _ = tf.while_loop(lambda i, *_: i < solves, approach, state)
    mu, theta = tf.stop_gradient(mu), tf.stop_gradient(theta)  # no gradient into the loop
    step, usable = newton_step(mu, theta, data)  # the value is the next iterate, the gradient -(dg/dy) / (dg/dmu)
    value = tf.where(usable, mu - step, mu)
    return value, tf.stop_gradient(tf.maximum(value, 0.5 * mu)), theta


def median_limit(model: LikelihoodModel, yields, sumw2, up=None, down=None, *, cl: float = 0.95,
                 iterations: int = 20, solves: int = 8):  # fmt: skip
    """The median expected CLs upper limit on mu of the inference stage's likelihood of these
    yields (asymptotic q~_mu on the background-only Asimov data), shape (...), differentiable in
    the yields (implicit-function theorem). ``yields``, ``sumw2`` (..., P, K); ``up``, ``down``
    (..., J, K) theory yields of the model's ``shifts`` (None without); ``solves`` Newton steps
    in mu from the Gaussian estimate without systematics, each a profile fit of ``iterations``
    Newton steps warm-started from the last."""
    y, w2, up, down = _as_tensors(yields, sumw2, up, down)
    return _compiled(model, limit_target(cl), int(iterations), int(solves))(y, w2, up, down)


@functools.cache
def _compiled(model: LikelihoodModel, target: float, iterations: int, solves: int):
    """The compiled :func:`median_limit` (memoised; holds no data; traced per shape)."""
    import tensorflow as tf

    @tf.function(autograph=False)
    def limit(y, w2, up, down):
        theta0 = nominal_parameters(model, int(y.shape[-1]))
        theta = tf.zeros(tf.concat([tf.shape(y)[:-2], [len(theta0)]], 0), tf.float64) + theta0
        mu = rough_limit(model, y, target)
        return limit_solve(model, y, w2, up, down, mu, theta, target=target, iterations=iterations, solves=solves)[0]

    return limit
