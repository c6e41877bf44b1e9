"""The mixture's training: Adam on every restart at once in one compiled ``tf.function``, the
temperature annealed, the hard state under the rule checked every few steps. See
:mod:`phenoflow.binning.gmm` for the method."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from phenoflow.binning.gmm.cells import _SCALE_FLOOR, FineCells, _Init
from phenoflow.binning.gmm.loss import differentiable_significance, rule_background, rule_penalty
from phenoflow.binning.gmm.settings import GMMSettings
from phenoflow.binning.rule import BinRule

_HARD_SLACK = 1e-5  # float32 training's slack on the rule (RULE_TOLERANCE; sums of ~1e3 cells)


@dataclass(frozen=True)
class _Trained:
    log_weights: np.ndarray  # (R, K), after the last step
    means: np.ndarray  # (R, K, d)
    scale_tril: np.ndarray  # (R, K, d, d)
    history: dict[str, np.ndarray]  # name -> (n_steps, R) or (n_steps,)
    best_log_weights: np.ndarray  # the same at each restart's best hard state under the rule
    best_means: np.ndarray
    best_scale_tril: np.ndarray


_ADAM = (0.9, 0.999, 1e-8)  # beta_1, beta_2, epsilon (Kingma & Ba defaults)
_CHECK_EVERY = 5  # steps between checks of the hard assignment (its best state is kept)


@dataclass(frozen=True)
class _Loop:
    """What a compiled training loop is specialised for (the key of its memo): mixtures in ``dim``
    coordinates, 1-D interval means if ``interval`` (simplex means otherwise), several signals
    combined by ``combination``, Cowan's Z if ``uncertain`` (its rel and mc come as tensors)
    else the plain Z_A, and the rule's minimum of MC events in the soft objective and penalties
    if ``counted`` (the hard check applies it always). With a ``likelihood``
    (:class:`phenoflow.binning.gmm.profile.LikelihoodModel`) the loop maximises its profiled
    discovery Z instead, in float64, with ``newton`` = (Newton steps per training step, warm-started;
    Newton steps of each hard state's fit, warm-started from the soft state's parameters); with a
    ``limit_target`` (sqrt(q~_mu) at the limit, :func:`phenoflow.binning.gmm.limit.limit_target`)
    it maximises 1 / the median expected limit instead, ``solves`` = (Newton steps in mu per
    training step, per hard check) each after such a profile fit."""

    dim: int
    interval: bool
    combination: str
    uncertain: bool = False
    counted: bool = False
    likelihood: object = None
    newton: tuple[int, int] = (0, 0)
    theory: object = None
    limit_target: float | None = None
    solves: tuple[int, int] = (0, 0)


def _parameters(loop: _Loop, fill, logits, mean_raw, scale_raw, lo, hi):
    """The mixture from its raw parameters (TensorFlow): log pi (softmax of the logits), the means
    (1-D: lo + (hi - lo) sigmoid; simplex: softmax of [raw, 0] without its last entry) and the
    scales (``fill``, FillScaleTriL)."""
    import tensorflow as tf

    if loop.interval:
        means = lo + (hi - lo) * tf.sigmoid(mean_raw)
    else:
        full = tf.concat([mean_raw, tf.zeros_like(mean_raw[..., :1])], axis=-1)
        means = tf.nn.softmax(full, axis=-1)[..., :-1]
    return tf.nn.log_softmax(logits, axis=-1), means, fill.forward(scale_raw)


def _significance(loop: _Loop, s, b, w2, uncertainty):
    """The combined Z of soft or hard yields, (R,): Cowan's if the loop is ``uncertain``, else Z_A."""
    if loop.uncertain:
        return differentiable_significance(s, b, loop.combination, w2, uncertainty)[0]
    return differentiable_significance(s, b, loop.combination)[0]


def _log_joint(loop: _Loop, x_t, log_w, means, tril):
    """log pi_k + log N(x | mu_k, L_k L_k^T) at every cell, (R, K, m). Written out:
    tfd.MultivariateNormalTriL.log_prob would broadcast the scales over the cells (an order of
    magnitude slower)."""
    import tensorflow as tf

    if loop.dim == 1:
        z2 = ((x_t - means) / tril[..., 0]) ** 2
    else:
        z2 = tf.reduce_sum(
            tf.linalg.triangular_solve(tril, x_t[None, None] - means[..., None], lower=True) ** 2, axis=-2
        )
    log_det = tf.reduce_sum(tf.math.log(tf.linalg.diag_part(tril)), axis=-1)
    return -0.5 * z2 - log_det[..., None] - 0.5 * loop.dim * np.log(2 * np.pi) + log_w[..., None]


def _likelihood_z(loop: _Loop, sums, b_rule, b, start, iterations: int, solves: int = 0):
    """What the likelihood objective maximises, (R,), of bins whose per-process yields and sums
    of w^2 are ``sums`` (R, K, 2P + M; M the theory members' yields, with ``loop.theory``), each
    background process scaled by b_rule / b (the background the rule needs over the bin's own,
    :func:`rule_background`), and the state to warm-start from: the discovery Z and the
    profiled parameters (R, n) after ``iterations`` Newton steps from ``start``; with the loop's
    ``limit_target``, 1 / the median limit after ``solves`` Newton steps in mu and the
    parameters with mu appended (R, n + 1) (a start's mu <= 0: the Gaussian estimate)."""
    import tensorflow as tf

    from phenoflow.binning.gmm.limit import limit_solve, rough_limit
    from phenoflow.binning.gmm.profile import _profile

    model = loop.likelihood
    n_proc = len(model.processes)
    y, w2 = (tf.transpose(sums[..., a : a + n_proc], [0, 2, 1]) for a in (0, n_proc))
    scale = b_rule / tf.maximum(b, 1e-12)
    background = tf.constant(~np.array(model.signal)[:, None])
    factor = tf.where(background, scale[:, None, :], tf.ones_like(scale[:, None, :]))  # (R, P, K)
    y = y * factor
    up = down = tf.zeros_like(y[:, :0])
    if loop.theory is not None:  # the members scale as their process's nominal
        from phenoflow.binning.gmm.theory import soft_shifts

        rows = loop.theory
        member_process = [p for p, (first, stop) in zip(rows.process, rows.members) for _ in range(first, stop)]
        members = tf.transpose(sums[..., 2 * n_proc :], [0, 2, 1]) * tf.gather(factor, member_process, axis=1)
        up, down = soft_shifts(rows, y, members)
    if loop.limit_target is None:
        q0, theta = _profile(model, y, w2, up, down, tf.constant(0.0, y.dtype), 1.0, start, iterations)
        return tf.sqrt(tf.maximum(q0, 0.0) + 1e-30), theta
    mu = tf.where(start[:, -1] > 0, start[:, -1], rough_limit(model, y, loop.limit_target))
    limit, mu, theta = limit_solve(model, y, w2, up, down, mu, start[:, :-1], target=loop.limit_target,
                                   iterations=iterations, solves=solves)  # fmt: skip
    return 1.0 / tf.maximum(limit, 1e-12), tf.concat([theta, mu[:, None]], axis=-1)


def _objective(loop: _Loop, fill, params, data, temperature, rule, bounds, uncertainty, theta):
    """The loss of every restart (-Z_soft + Z_soft penalty, Z_soft taken at the background the rule
    needs), Z_soft, the sharpness (mean max gamma over MC events), the log joint and the
    likelihood's profiled parameters (warm start of the next step), (R,) each but the last two
    (R, K, m) and (R, n)."""
    import tensorflow as tf

    x_t, cell_sums, occupancy, lo, hi = data[:5]
    log_w, means, tril = _parameters(loop, fill, *params, lo, hi)
    log_joint_ = _log_joint(loop, x_t, log_w, means, tril)
    gamma = tf.nn.softmax(log_joint_ / temperature, axis=1)  # (R, K, m)
    sums = tf.linalg.matmul(gamma, cell_sums)  # (R, K, n_sig + 3)
    s, b, w2, n = tf.transpose(sums[..., :-3], [0, 2, 1]), sums[..., -3], sums[..., -2], sums[..., -1]
    min_b, inv_rel2, _, min_n = bounds
    n = n if loop.counted else None
    b_rule = rule_background(b, b, w2, min_b, inv_rel2, n, min_n)
    if loop.likelihood is None:
        z = _significance(loop, s, b_rule, w2, uncertainty)
    else:
        z, theta = _likelihood_z(
            loop, tf.linalg.matmul(gamma, data[5]), b_rule, b, theta, loop.newton[0], loop.solves[0]
        )
    penalty = rule_penalty(b, w2, rule, n)
    loss = -z + tf.stop_gradient(z) * penalty
    sharp = tf.linalg.matvec(tf.reduce_max(gamma, axis=1), occupancy)
    return loss, z, sharp, log_joint_, theta


def _hard_significance(loop: _Loop, log_joint_, data, bounds, uncertainty, start=None):
    """Z of the hard (argmax) assignment of the cells, (R,), or -1 unless every bin holding cells
    obeys the rule (1-D: every interval of cells with the same winner, at most K of them, as the
    hard result will be judged); with a likelihood its Z from the profile fit started at ``start``
    (the soft state's profiled parameters: the hard check only ranks a restart's states, the
    final choice among them refits each from the nominal parameters)."""
    import tensorflow as tf

    _, cell_sums, occupancy, _, _ = data[:5]
    min_b, _, rel2_hard, min_n = bounds
    owner = tf.argmax(log_joint_, axis=1)  # (R, m)
    n_r, m, k = tf.shape(owner)[0], tf.shape(owner)[1], tf.shape(log_joint_)[1]
    if loop.interval:  # cells in increasing score: runs of one winner are the bins
        change = tf.cast(owner[:, 1:] != owner[:, :-1], tf.int32)
        run = tf.concat([tf.zeros([n_r, 1], tf.int32), tf.cumsum(change, axis=1)], axis=1)
        ids, n_ids, few_enough = run, m, run[:, -1] < k
        if loop.likelihood is not None:  # K slots (a state of more runs is rejected anyway)
            ids, n_ids = tf.minimum(run, k - 1), log_joint_.shape[1]
    else:
        ids, n_ids, few_enough = tf.cast(owner, tf.int32), k, tf.ones([n_r], tf.bool)
    flat = tf.reshape(ids + n_ids * tf.range(n_r)[:, None], [-1])
    if loop.likelihood is not None:
        cell_sums = tf.concat([cell_sums, data[5]], axis=1)
    columns = tf.concat([cell_sums, occupancy[:, None]], axis=1)
    hs = tf.math.unsorted_segment_sum(tf.tile(columns, [n_r, 1]), flat, n_r * n_ids)
    hs = tf.reshape(hs, [n_r, n_ids, -1])
    if loop.likelihood is not None:  # the per-process sums follow the rule's columns
        n_cols = data[5].shape[1]
        hs, process_sums = tf.concat([hs[..., : -n_cols - 1], hs[..., -1:]], axis=-1), hs[..., -n_cols - 1 : -1]
    hb, hw2, hn, used = hs[..., -4], hs[..., -3], hs[..., -2], hs[..., -1] > 0
    legal = (hb > 0) & (hb >= min_b * (1 - _HARD_SLACK)) & (hw2 <= rel2_hard * hb * hb) & (hn >= min_n)
    feasible = tf.reduce_all(legal | ~used, axis=-1) & few_enough
    if loop.likelihood is None:
        z_hard = _significance(
            loop, tf.transpose(hs[..., :-4], [0, 2, 1]), tf.where(used, hb, tf.ones_like(hb)), hw2, uncertainty
        )
    else:
        z_hard, _ = _likelihood_z(loop, process_sums, hb, hb, start, loop.newton[1], loop.solves[1])
    return tf.where(feasible & tf.math.is_finite(z_hard), z_hard, -tf.ones_like(z_hard))


def _keep(better, new, old):
    """``new`` where the restart is ``better`` (R,), else ``old`` (TensorFlow; any trailing shape)."""
    import tensorflow as tf

    shape = tf.concat([tf.shape(better), tf.ones([tf.rank(new) - 1], tf.int32)], axis=0)
    return tf.where(tf.reshape(better, shape), new, old)


def _adam(params, grads, m1, m2, i, learning_rate):
    """One Adam step (written out, Kingma & Ba, default betas) at step ``i`` (from 0): the new
    parameters and first and second moments."""
    import tensorflow as tf

    beta1, beta2, eps = _ADAM
    t = tf.cast(i + 1, params[0].dtype)
    m1 = tuple(beta1 * m + (1 - beta1) * g for m, g in zip(m1, grads))
    m2 = tuple(beta2 * v + (1 - beta2) * g**2 for v, g in zip(m2, grads))
    step = learning_rate * tf.sqrt(1 - beta2**t) / (1 - beta1**t)
    params = tuple(p - step * m / (tf.sqrt(v) + eps) for p, m, v in zip(params, m1, m2))
    return params, m1, m2


def _raw_means(init: _Init, interval: bool, lo: float, hi: float) -> np.ndarray:
    """The raw parameters of the starting means (the inverse of :func:`_parameters`' map), (R, K, d)."""
    if interval:
        frac = np.clip((init.means - lo) / (hi - lo), 1e-12, 1 - 1e-12)
        return np.log(frac) - np.log1p(-frac)
    mu = np.clip(init.means, 1e-9, None)
    return np.log(mu) - np.log(np.clip(1.0 - mu.sum(axis=-1, keepdims=True), 1e-9, None))


@functools.cache
def _trainer(loop: _Loop) -> Callable:
    """The compiled training loop for ``loop``. Memoised so that fits of any size share one trace
    (shapes are relaxed after the first retrace); it holds no data, only compiled code."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    # float32 is twice as fast as float64 on CPU, and results are recomputed in float64 from the
    # events; the likelihood's profile fit needs float64 (bins of 1e6 events, widths of 1e-3)
    real = tf.float32 if loop.likelihood is None else tf.float64
    fill = tfp.bijectors.FillScaleTriL(
        diag_bijector=tfp.bijectors.Softplus(), diag_shift=tf.constant(_SCALE_FLOOR, real)
    )

    # the likelihood's layout needs the number of bins K: traced per shape then, relaxed otherwise
    @tf.function(reduce_retracing=loop.likelihood is None)
    def train(params, data, rule, bounds, uncertainty, temperature, learning_rate, temperatures, learning_rates, theta):
        n_steps = tf.shape(temperatures)[0]
        arrays = tuple(tf.TensorArray(real, size=n_steps) for _ in range(6))
        zeros = tuple(tf.zeros_like(p) for p in params)
        best = (tuple(params), -2.0 * tf.ones_like(params[0][:, 0]))

        def body(i, params, m1, m2, best, arrays, theta):
            temperature.assign(temperatures[i])
            learning_rate.assign(learning_rates[i])
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss, z, sharp, log_joint_, theta = _objective(
                    loop, fill, params, data, temperature, rule, bounds, uncertainty, theta
                )
                total = tf.reduce_sum(loss)  # restarts are independent: their gradients separate
            grads = tape.gradient(total, params)
            z_hard = tf.cond(
                (i % _CHECK_EVERY == 0) | (i == n_steps - 1),
                lambda: _hard_significance(loop, tf.stop_gradient(log_joint_), data, bounds, uncertainty, theta),
                lambda: tf.fill(tf.shape(z), tf.constant(np.nan, real)),  # not checked
            )
            grads = tuple(tf.where(tf.math.is_finite(g), g, tf.zeros_like(g)) for g in grads)
            better = z_hard > best[1]  # the best hard state so far, per restart
            best = (tuple(_keep(better, p, q) for p, q in zip(params, best[0])), tf.where(better, z_hard, best[1]))
            params, m1, m2 = _adam(params, grads, m1, m2, i, learning_rate)
            values = (loss, z, sharp, z_hard, temperature.read_value(), learning_rate.read_value())
            return i + 1, params, m1, m2, best, tuple(a.write(i, v) for a, v in zip(arrays, values)), theta

        _, params, _, _, best, arrays, _ = tf.while_loop(
            lambda i, *_: i < n_steps, body, (tf.constant(0), tuple(params), zeros, zeros, best, arrays, theta)
        )
        return params, best[0], tuple(a.stack() for a in arrays)

    def run(init: _Init, data, rule, bounds, uncertainty, schedules, lo, hi):
        temperatures, learning_rates = schedules
        params = (
            tf.constant(init.log_weights, real),
            tf.constant(_raw_means(init, loop.interval, lo, hi), real),
            fill.inverse(tf.constant(init.scale_tril, real)),
        )
        temperature = tf.Variable(temperatures[0], dtype=real, trainable=False, name="temperature")
        learning_rate = tf.Variable(learning_rates[0], dtype=real, trainable=False, name="learning_rate")
        data = tuple(tf.constant(v, real) for v in (*data[:3], lo, hi, *data[3:]))
        rule, bounds, uncertainty = (tuple(tf.constant(v, real) for v in c) for c in (rule, bounds, uncertainty))
        theta = tf.zeros([len(init.log_weights), 0], real)
        if loop.likelihood is not None:
            from phenoflow.binning.gmm.profile import nominal_parameters

            theta0 = nominal_parameters(loop.likelihood, init.log_weights.shape[1])
            if loop.limit_target is not None:  # mu appended, 0: not known yet
                theta0 = np.r_[theta0, 0.0]
            theta = tf.constant(np.tile(theta0, (len(init.log_weights), 1)), real)
        final, best, history = train(
            params,
            data,
            rule,
            bounds,
            uncertainty,
            temperature,
            learning_rate,
            tf.constant(temperatures, real),
            tf.constant(learning_rates, real),
            theta,
        )
        final, best = ([v.numpy() for v in _parameters(loop, fill, *p, data[3], data[4])] for p in (final, best))
        return final, best, [h.numpy() for h in history]

    run.traces = train.experimental_get_tracing_count  # how often the loop was traced (for checks)
    return run


def _penalty_terms(rule: BinRule, settings: GMMSettings) -> tuple:
    """The ``rule`` argument of :func:`rule_penalty`: (min_b, max_rel, min_n, lambda_b, lambda_u,
    lambda_n, margin); a hinge whose bound is off, or whose weight is 0, gets weight 0 and a
    harmless bound of 1."""
    penalty_background, penalty_uncertainty = settings.penalty_background, settings.penalty_uncertainty
    use_b = rule.min_background > 0 and penalty_background > 0
    use_u = bool(np.isfinite(rule.max_rel_uncertainty)) and penalty_uncertainty > 0
    use_n = rule.min_mc_events > 0 and penalty_uncertainty > 0
    return (
        rule.min_background if use_b else 1.0,
        rule.max_rel_uncertainty if use_u else 1.0,
        rule.min_mc_events if use_n else 1.0,
        penalty_background if use_b else 0.0,
        penalty_uncertainty if use_u else 0.0,
        penalty_uncertainty if use_n else 0.0,
        settings.margin,
    )


def _bounds(rule: BinRule) -> tuple:
    """The rule as the soft objective and the hard check take it: (min_b, 1 / max_rel^2 (0 without
    that bound), the hard check's max_rel^2 with float32's slack (1e30 without), min_n)."""
    finite_u = bool(np.isfinite(rule.max_rel_uncertainty))
    return (
        max(rule.min_background, 0.0),
        1.0 / rule.max_rel_uncertainty**2 if finite_u else 0.0,
        (rule.max_rel_uncertainty * (1 + _HARD_SLACK)) ** 2 if finite_u else 1e30,
        max(rule.min_mc_events, 0.0),
    )


def _train(
    cells: FineCells,
    init: _Init,
    interval: tuple[float, float] | None,
    combination: str,
    rule: BinRule,
    settings: GMMSettings,
    likelihood: tuple | None = None,
) -> _Trained:
    """Adam on all restarts at once in one compiled tf.while_loop over ``settings.n_steps`` steps,
    maximising the soft combined Z (the rule's significance: Z_A, or Cowan's Z with its
    uncertainty), the temperature and the learning rate following the settings' schedules.

    ``interval``: (lo, hi) for 1-D means lo + (hi - lo) sigmoid(raw); None for the simplex
    (softmax of [raw, 0] without its last entry). Scales through FillScaleTriL (softplus
    diagonal). The temperature and the learning rate are tf.Variables assigned at every step.
    The soft Z is taken at :func:`rule_background` (the background each bin would need to obey
    the rule), the penalties of :func:`rule_penalty` on top. At every step the hard (argmax)
    assignment of the cells is scored too: its Z if every bin holding cells obeys the rule, else
    -1; each restart keeps its best such state (``best_*``) beside its final one, and non-finite
    gradients are zeroed. History: loss, Z_soft, sharpness (mean max gamma over MC events) and
    Z_hard per step and restart; temperature and learning rate per step as read back from their
    variables.

    ``likelihood`` = (:class:`phenoflow.binning.gmm.profile.LikelihoodModel`, per-cell yields and
    sums of w^2 of its processes and yields of the theory members (m, 2P + M), and the theory's
    :class:`phenoflow.binning.gmm.theory.ShiftRows` or None): Z is the likelihood's instead, soft
    and hard: its discovery Z (``settings.objective`` discovery), or 1 / its median expected CLs
    limit (``limit``; the history's Z then holds that).
    """
    d = cells.points.shape[1]
    y = cells.yields
    data = (cells.points.T, np.column_stack([y.s.T, y.b, y.b_sumw2, y.b_events]), y.count / y.count.sum())
    lo, hi = interval if interval is not None else (0.0, 1.0)
    significance = rule.significance
    key = _Loop(d, interval is not None, combination, not significance.plain, rule.min_mc_events > 0)
    if likelihood is not None:
        key = replace(key, likelihood=likelihood[0], newton=(settings.newton_steps, settings.newton_steps_hard),
                      theory=likelihood[2] if len(likelihood) > 2 else None)  # fmt: skip
        if settings.objective == "limit":
            from phenoflow.binning.gmm.limit import limit_target

            key = replace(key, limit_target=limit_target(), solves=(settings.limit_solves, settings.limit_solves_hard))
        data = (*data, likelihood[1])
    run = _trainer(key)
    uncertainty = (significance.relative_background_uncertainty, float(significance.mc_statistics))
    schedules = (settings.temperatures(), settings.learning_rates())
    final, best, hist = run(init, data, _penalty_terms(rule, settings), _bounds(rule), uncertainty, schedules, lo, hi)
    names = ("loss", "z_soft", "sharpness", "z_hard", "temperature", "learning_rate")
    return _Trained(*final, dict(zip(names, hist)), *best)
