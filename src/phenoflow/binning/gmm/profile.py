"""The expected discovery significance of the inference stage's HistFactory likelihood as a
differentiable function of per-process yields (TensorFlow, float64): the mixture's likelihood
objective (binning method ``gmm_likelihood``).

The model is the one :func:`phenoflow.inference.likelihood.workspace_spec` writes and
:mod:`phenoflow.inference.fits` fits, term for term, with the interpolation codes a
``pyhf.Model`` uses when the workspace sets none (pyhf 0.7's ``Model`` defaults
``modifier_settings`` to ``normsys`` code 4 and ``histosys`` code 4p; the modifiers' own classes
default to codes 1 and 0, which the model overrides):

* rate of bin k: lambda_k = sum_p (y_pk + sum_a delta_pak(alpha_a)) * mu [signal] * lumi *
  prod_a eta_pa(alpha_a) * gamma_pk; histosys (code 4p) delta = alpha (up - y) for alpha > 1,
  alpha (y - down) for alpha < -1 and alpha S + alpha^2 (3 alpha^4 - 10 alpha^2 + 15) A between,
  S = (up - down) / 2, A = (up + down - 2 y) / 16; normsys (code 4) eta = hi^alpha for alpha >= 1,
  lo^-alpha for alpha <= -1 and between the polynomial 1 + sum_i=1..6 a_i alpha^i that matches
  both and their first two derivatives at +-1; hi = 1 + u and lo = 1 - u for a process's
  normalisation uncertainty u, the ratios of the theory shift's totals to the nominal's for a
  theory group (in ``norm`` and ``both`` mode; ``both`` puts the histosys on the shapes scaled to
  the nominal total, as :func:`phenoflow.inference.theory.theory_modifiers`);
* constraints (Gaussian unless said): lumi ~ N(1, u_lumi); every alpha ~ N(0, 1); the bin's one
  ``staterror`` gamma_k ~ N(1, sigma_k), sigma_k = sqrt(sum_c w2_ck) / sum_c y_ck over the carrying
  samples (the background, or every sample with ``include_signal``), in the bins whose background
  has N_eff = (sum_b y)^2 / sum_b w2 >= ``poisson_below``; below it one Poisson-constrained
  ``shapesys`` gamma_pk per carrying sample with y > 0 and w2 > 0, auxiliary count
  tau = y^2 / w2 (Poisson(tau | gamma tau)); a gamma without its term is fixed at 1, as pyhf fixes
  it. The switch between the two forms is taken from the yields themselves (without gradient):
  at hard assignments it is exactly the inference stage's, in training it follows the soft bins.

Twice the negative log-likelihood is written as deviances (the Poisson terms
2 (lam - n - n ln(lam / n)), the Poisson constraint 2 tau (gamma - 1 - ln gamma)), as
:class:`phenoflow.inference.fits.ProfileLikelihood` does, so that it is 0 at the nominal
parameters on their own Asimov data. The discovery test statistic on the Asimov data of
mu = 1 (n = sum_p y_p) is q0 = 2 [NLL(0, theta^^) - NLL(mu^, theta^)], and the unconditional fit
of those data is mu^ = 1 at the nominal theta_0: there every main-measurement rate equals its
datum and every constraint sits at its mode (Gaussians at their auxiliary value, each Poisson
constraint at gamma = 1), so each term, and the sum, is at its minimum (zero in the deviance
form). Hence q0 = min_theta F(mu = 0, theta): one profile fit.

That fit is Newton's method on the nuisance parameters (exact Hessian by autodiff, Jacobi-scaled,
its eigenvalues taken in absolute value and floored, so that a step where the deviance is not
convex still descends; the step chosen among fractions :data:`STEPS` of it, or none; the
parameters kept within pyhf's bounds), run with the gradient stopped and warm-started from the
previous solution. The
gradient of q0 with respect to the yields then follows from the envelope theorem (Milgrom and
Segal, Econometrica 70 (2002) 583): at the minimiser theta^^(y), dq0/dy = dF/dy (theta^^ held
fixed), since dF/dtheta = 0 there; so F is evaluated once more at the stopped theta^^ with the
yields live. Only first derivatives are needed (Adam), so no implicit differentiation of
theta^^(y) is; an inexact inner fit errs in the gradient by O(|dF/dtheta|) at the stopping point.
Where the fit ends at a bound of pyhf's (gamma in [1e-10, 10], lumi within 5 u) the gradient
holds too, as the bound does not depend on the yields.

The expected CLs limit, the other objective, is built on this fit in
:mod:`phenoflow.binning.gmm.limit`.

Everything takes leading batch dimensions (the mixture's restarts): yields (..., P, K).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from phenoflow.binning.gmm.interpolation import code4, code4p
from phenoflow.inference.likelihood import MCStatistics
from phenoflow.inference.theory import TheorySystematics, modifier_name

#: pyhf's bounds of the gammas of staterror and shapesys
GAMMA_BOUNDS = (1e-10, 10.0)
#: Fractions of the Newton step tried at each iteration (the best, or none, is taken)
STEPS = (1.0, 0.5, 0.25, 0.1, 0.01)
_EIGEN_FLOOR = 1e-8  # smallest |eigenvalue| of the Jacobi-scaled Hessian (unit diagonal) a step divides by


@dataclass(frozen=True)
class LikelihoodModel:
    """The structure of the inference stage's likelihood for a fixed list of processes:
        ``processes`` (names, in the order of the yields' process axis) with ``signal`` flags,
        ``luminosity_uncertainty`` (relative), ``normalisation`` (process -> relative uncertainty; kept
    as sorted pairs, so that the model is hashable),
        ``mc_statistics`` and ``theory`` as :func:`phenoflow.inference.likelihood.workspace_spec`
        takes them, and ``shifts``: the (process, group) of each row of the theory up and down
        yields (none without theory variations)."""

    processes: tuple[str, ...]
    signal: tuple[bool, ...]
    luminosity_uncertainty: float = 0.0
    normalisation: Mapping[str, float] | tuple[tuple[str, float], ...] = ()
    mc_statistics: MCStatistics = MCStatistics()
    theory: TheorySystematics = TheorySystematics()
    shifts: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "normalisation", tuple(sorted(dict(self.normalisation).items())))
        object.__setattr__(self, "processes", tuple(self.processes))
        object.__setattr__(self, "signal", tuple(bool(x) for x in self.signal))
        object.__setattr__(self, "shifts", tuple(tuple(x) for x in self.shifts))
        if len(self.processes) != len(self.signal) or not any(self.signal) or all(self.signal):
            raise ValueError("the likelihood needs signal and background processes, one flag per process")
        unknown = sorted(set(dict(self.normalisation)) - set(self.processes))
        if unknown:
            raise ValueError(f"inference.normalisation: processes not in the scores: {unknown}")
        for name, u in {"luminosity": self.luminosity_uncertainty, **dict(self.normalisation)}.items():
            if not 0 <= u < 1:
                raise ValueError(f"the relative uncertainty of {name} must be in [0, 1), got {u}")
        if any(p not in self.processes for p, _ in self.shifts):
            raise ValueError(f"theory shifts of processes not in the scores: {self.shifts}")

    @classmethod
    def from_settings(cls, settings, processes: Sequence[str], signal: Sequence[bool], shifts=()) -> LikelihoodModel:
        """From an :class:`phenoflow.inference.study.InferenceSettings` (its luminosity,
        normalisation, MC-statistics and theory options); processes absent from the scores are
        left out of its normalisation."""
        normalisation = {p: u for p, u in settings.normalisation.items() if p in processes}
        return cls(tuple(processes), tuple(bool(s) for s in signal), settings.luminosity_uncertainty,
                   normalisation, settings.mc_statistics, settings.theory, tuple(shifts))  # fmt: skip

    @property
    def theory_on(self) -> bool:
        return bool(self.theory.enabled and self.shifts)

    def theory_names(self) -> tuple[str, ...]:
        """The theory modifiers' names (one nuisance parameter each), in first-seen order."""
        if not self.theory_on:
            return ()
        names = [modifier_name(g, p, self.theory) for p, g in self.shifts]
        return tuple(dict.fromkeys(names))

    def layout(self, n_bins: int) -> _Layout:
        """Where each nuisance parameter sits in the flat parameter vector for ``n_bins`` bins."""
        u = dict(self.normalisation)
        normed = [i for i, p in enumerate(self.processes) if u.get(p, 0.0) > 0]
        carrying = [i for i, s in enumerate(self.signal) if self.mc_statistics.include_signal or not s]
        if not self.mc_statistics.enabled:
            carrying = []
        n_lumi = int(self.luminosity_uncertainty > 0)
        n_glob = n_lumi + len(normed) + len(self.theory_names())
        n_stat = n_bins if carrying else 0
        return _Layout(n_lumi, normed, carrying, n_glob, n_stat, n_glob + n_stat + len(carrying) * n_bins)


@dataclass(frozen=True)
class _Layout:
    """Flat parameter vector: [lumi][norm_p ...][theory alpha ...][staterror gamma_k ...]
    [shapesys gamma_ck (carrying sample c, bin k) ...]."""

    n_lumi: int
    normed: list[int]
    carrying: list[int]
    n_glob: int
    n_stat: int
    size: int


def nominal_parameters(model: LikelihoodModel, n_bins: int) -> np.ndarray:
    """The nominal nuisance parameters theta_0 (lumi 1, alphas 0, gammas 1), shape (n,)."""
    lay = model.layout(n_bins)
    theta = np.zeros(lay.size)
    theta[: lay.n_lumi] = 1.0
    theta[lay.n_glob :] = 1.0
    return theta


def _theory_terms(model: LikelihoodModel, y, up, down):
    """Per process the theory histosys shift and log normsys factor as functions of the alphas:
    returns a callable alpha (..., A) -> (delta (..., P, K), log_eta (..., P))."""
    import tensorflow as tf

    names = model.theory_names()
    if not names:
        return None
    mode = model.theory.mode
    index = [names.index(modifier_name(g, p, model.theory)) for p, g in model.shifts]
    proc = [model.processes.index(p) for p, _ in model.shifts]
    nominal = tf.gather(y, proc, axis=-2)  # (..., J, K)
    n_tot = tf.reduce_sum(nominal, axis=-1)
    u_tot, d_tot = tf.reduce_sum(up, axis=-1), tf.reduce_sum(down, axis=-1)
    if mode == "both":
        hi_data, lo_data = up * (n_tot / u_tot)[..., None], down * (n_tot / d_tot)[..., None]
    else:
        hi_data, lo_data = up, down
    log_hi, log_lo = tf.math.log(u_tot / n_tot), tf.math.log(d_tot / n_tot)
    n_proc = len(model.processes)
    to_proc = tf.one_hot(proc, n_proc, dtype=y.dtype)  # (J, P)

    def terms(alpha):
        a = tf.gather(alpha, index, axis=-1)  # (..., J)
        delta = tf.zeros_like(nominal)
        log_eta = tf.zeros_like(a)
        if mode in ("shape", "both"):
            delta = code4p(a[..., None], hi_data - nominal, nominal - lo_data)
        if mode in ("norm", "both"):
            log_eta = tf.math.log(code4(a, log_hi, log_lo))
        return tf.einsum("...jk,jp->...pk", delta, to_proc), tf.einsum("...j,jp->...p", log_eta, to_proc)

    return terms


@dataclass(frozen=True)
class _Inputs:
    """The yields and what follows from them that the parameters do not change."""

    y: object  # (..., P, K), floored at 0
    w2: object  # (..., P, K)
    n: object  # (..., K) Asimov data
    sigma: object  # (..., K) staterror width
    stat_on: object  # (..., K) bool: the bin's staterror is free
    tau: object  # (..., C, K) shapesys auxiliary counts
    shape_on: object  # (..., C, K) bool: the shapesys gamma is free
    theory: object  # callable or None


def _inputs(model: LikelihoodModel, y, w2, up, down, mu_data: float) -> _Inputs:
    import tensorflow as tf

    y, w2 = tf.maximum(y, 0.0), tf.maximum(w2, 0.0)
    sig = np.array(model.signal)
    lay = model.layout(int(y.shape[-1]))
    scale = tf.constant(np.where(sig, mu_data, 1.0), y.dtype)
    n = tf.reduce_sum(y * scale[:, None], axis=-2)
    k_shape = tf.shape(y)[:-2]
    if lay.carrying:
        bkg = [i for i, s in enumerate(sig) if not s]
        b = tf.reduce_sum(tf.gather(y, bkg, axis=-2), axis=-2)
        b_w2 = tf.reduce_sum(tf.gather(w2, bkg, axis=-2), axis=-2)
        n_eff = tf.where(b_w2 > 0, b * b / tf.where(b_w2 > 0, b_w2, 1.0), np.inf)
        poisson = tf.stop_gradient(n_eff) < model.mc_statistics.poisson_below
        yc, w2c = tf.gather(y, lay.carrying, axis=-2), tf.gather(w2, lay.carrying, axis=-2)
        c_y, c_w2 = tf.reduce_sum(yc, axis=-2), tf.reduce_sum(w2c, axis=-2)
        stat_on = ~poisson & (c_w2 > 0) & (c_y > 0) & ~tf.reduce_all(poisson, axis=-1, keepdims=True)
        sigma = tf.sqrt(c_w2) / tf.where(c_y > 0, c_y, 1.0)
        sigma = tf.where(stat_on, sigma, tf.ones_like(sigma))
        shape_on = poisson[..., None, :] & (yc > 0) & (w2c > 0)
        tau = tf.where(shape_on, yc * yc / tf.where(w2c > 0, w2c, 1.0), tf.ones_like(yc))
    else:
        zeros = tf.zeros(tf.concat([k_shape, [0, tf.shape(y)[-1]]], 0), y.dtype)
        stat_on, tau, shape_on = tf.zeros_like(n, tf.bool), zeros, tf.cast(zeros, tf.bool)
        sigma = tf.ones_like(n)
    theory = _theory_terms(model, y, up, down) if model.theory_on else None
    return _Inputs(y, w2, n, sigma, stat_on, tau, shape_on, theory)


def _deviance(model: LikelihoodModel, theta, mu, data: _Inputs):
    """Twice the NLL (deviance form, see the module docstring) at parameters ``theta`` (..., n)
    and signal strength ``mu`` on the Asimov data in ``data``, shape (...)."""
    import tensorflow as tf

    n_proc, n_bins = len(model.processes), int(data.y.shape[-1])
    lay = model.layout(n_bins)
    sig = tf.constant(np.array(model.signal, dtype=np.float64), theta.dtype)
    mu = tf.convert_to_tensor(mu, theta.dtype)
    strength = 1.0 + (mu[..., None] - 1.0) * sig  # (..., P): mu on the signal samples, 1 on the others
    log_f = tf.zeros(tf.concat([tf.shape(theta)[:-1], [n_proc]], 0), theta.dtype)  # (..., P) log of the factors
    value = tf.zeros_like(theta[..., 0])
    i = 0
    if lay.n_lumi:
        lumi = theta[..., 0]
        log_f += tf.math.log(lumi)[..., None]
        value += ((lumi - 1.0) / model.luminosity_uncertainty) ** 2
        i = 1
    u = dict(model.normalisation)
    for p in lay.normed:
        a = theta[..., i]
        log_hi, log_lo = np.log1p(u[model.processes[p]]), np.log1p(-u[model.processes[p]])
        log_eta = tf.math.log(code4(a, tf.constant(log_hi, a.dtype), tf.constant(log_lo, a.dtype)))
        log_f += tf.one_hot(p, n_proc, dtype=theta.dtype) * log_eta[..., None]
        value += a * a
        i += 1
    nominal = data.y
    if data.theory is not None:
        alpha = theta[..., i : lay.n_glob]
        delta, log_eta = data.theory(alpha)
        nominal = nominal + delta
        log_f += log_eta
        value += tf.reduce_sum(alpha * alpha, axis=-1)
    rate = nominal * (strength * tf.exp(log_f))[..., None]  # (..., P, K)
    if lay.carrying:
        g_stat = tf.where(data.stat_on, theta[..., lay.n_glob : lay.n_glob + n_bins], 1.0)
        n_c = len(lay.carrying)
        g_shape = tf.reshape(theta[..., lay.n_glob + n_bins :], tf.concat([tf.shape(theta)[:-1], [n_c, n_bins]], 0))
        g_shape = tf.where(data.shape_on, g_shape, 1.0)
        ones = tf.ones_like(g_stat)
        factor = [g_stat * g_shape[..., lay.carrying.index(p), :] if p in lay.carrying else ones for p in range(n_proc)]
        rate = rate * tf.stack(factor, axis=-2)
        value += tf.reduce_sum(tf.where(data.stat_on, ((g_stat - 1.0) / data.sigma) ** 2, 0.0), axis=-1)
        g_safe = tf.where(data.shape_on, g_shape, 1.0)
        poisson = 2.0 * data.tau * (g_safe - 1.0 - tf.math.log(g_safe))
        value += tf.reduce_sum(tf.where(data.shape_on, poisson, 0.0), axis=[-2, -1])
    lam = tf.reduce_sum(rate, axis=-2)
    n = data.n
    filled = n > 0
    excess = lam - n
    main = tf.where(filled, excess - n * tf.math.log(tf.where(filled, lam, 1.0) / tf.where(filled, n, 1.0)), lam)
    return value + 2.0 * tf.reduce_sum(main, axis=-1)


def _free(model: LikelihoodModel, data: _Inputs, n_bins: int):
    """1.0 for each free parameter, 0.0 for the fixed gammas, shape (..., n)."""
    import tensorflow as tf

    lay = model.layout(n_bins)
    glob = tf.ones(tf.concat([tf.shape(data.n)[:-1], [lay.n_glob]], 0), data.n.dtype)
    if not lay.carrying:
        return glob
    shape_on = tf.reshape(tf.cast(data.shape_on, data.n.dtype), tf.concat([tf.shape(data.n)[:-1], [-1]], 0))
    return tf.concat([glob, tf.cast(data.stat_on, data.n.dtype), shape_on], axis=-1)


def _bounds(model: LikelihoodModel, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """pyhf's bounds of the nuisance parameters (lumi within 5 u, alphas within 5, gammas)."""
    lay = model.layout(n_bins)
    lo, hi = np.full(lay.size, -5.0), np.full(lay.size, 5.0)
    if lay.n_lumi:
        u = model.luminosity_uncertainty
        lo[0], hi[0] = max(1.0 - 5 * u, 1e-3), 1.0 + 5 * u
    lo[lay.n_glob :], hi[lay.n_glob :] = GAMMA_BOUNDS
    return lo, hi


def _newton(model: LikelihoodModel, theta, mu, data: _Inputs, iterations: int):
    """``iterations`` Newton steps on the free parameters of the deviance at ``mu`` from
    ``theta`` (..., n), all without gradient (see the module docstring)."""
    import tensorflow as tf

    n_bins = int(data.y.shape[-1])
    free = tf.stop_gradient(_free(model, data, n_bins))
    lo, hi = (tf.constant(b, theta.dtype) for b in _bounds(model, n_bins))
    data = _Inputs(*(tf.stop_gradient(x) if tf.is_tensor(x) else x for x in vars(data).values()))
    batch = tf.shape(theta)[:-1]
    n = theta.shape[-1]
    flat = tf.reshape(theta, [-1, n])
    free_flat = tf.reshape(free, [-1, n])

    def value(t):
        return tf.reshape(_deviance(model, tf.reshape(t, tf.concat([batch, [n]], 0)), mu, data), [-1])

    def step(i, flat):
        with tf.GradientTape() as outer:
            outer.watch(flat)
            with tf.GradientTape() as inner:
                inner.watch(flat)
                f = value(flat)
                total = tf.reduce_sum(f)
            g = inner.gradient(total, flat) * free_flat
        h = outer.batch_jacobian(g, flat)
        mask = free_flat[:, :, None] * free_flat[:, None, :]
        h = h * mask + tf.linalg.diag(1.0 - free_flat)
        h = tf.where(tf.math.is_finite(h), h, 0.0)
        d = 1.0 / tf.sqrt(tf.maximum(tf.abs(tf.linalg.diag_part(h)), 1e-300))
        eigen, vectors = tf.linalg.eigh(h * d[:, :, None] * d[:, None, :])
        inverse = 1.0 / tf.maximum(tf.abs(eigen), _EIGEN_FLOOR)
        step = -d * tf.linalg.matvec(vectors, inverse * tf.linalg.matvec(vectors, d * g, transpose_a=True))
        step = tf.where(tf.math.is_finite(step), step, 0.0) * free_flat
        trials = tf.stack([tf.clip_by_value(flat + t * step, lo, hi) for t in STEPS], axis=1)  # (B, S, n)
        f_trials = tf.stack([value(trials[:, i]) for i in range(len(STEPS))], axis=1)
        f_trials = tf.where(tf.math.is_finite(f_trials), f_trials, np.inf)
        best = tf.argmin(f_trials, axis=-1)
        improved = tf.reduce_min(f_trials, axis=-1) < f
        return i + 1, tf.where(improved[:, None], tf.gather(trials, best, axis=1, batch_dims=1), flat)

    _, flat = tf.while_loop(lambda i, _: i < iterations, step, (tf.constant(0), flat))
    return tf.reshape(flat, tf.concat([batch, [n]], 0))


def _as_tensors(yields, sumw2, up, down):
    import tensorflow as tf

    y = tf.convert_to_tensor(yields, tf.float64)
    w2 = tf.convert_to_tensor(sumw2, tf.float64)
    if up is None:
        shape = tf.concat([tf.shape(y)[:-2], [0, tf.shape(y)[-1]]], 0)
        up = down = tf.zeros(shape, tf.float64)
    return y, w2, tf.convert_to_tensor(up, tf.float64), tf.convert_to_tensor(down, tf.float64)


def _start(model: LikelihoodModel, y, start):
    import tensorflow as tf

    if start is not None:
        return tf.convert_to_tensor(start, tf.float64)
    theta0 = nominal_parameters(model, int(y.shape[-1]))
    return tf.zeros(tf.concat([tf.shape(y)[:-2], [len(theta0)]], 0), tf.float64) + theta0


def profiled_deviance(model: LikelihoodModel, yields, sumw2, up=None, down=None, *, mu: float, mu_data: float,
                      start=None, iterations: int = 20):  # fmt: skip
    """min over the nuisance parameters of twice the NLL (deviance form) at signal strength
    ``mu`` on the Asimov data of ``mu_data`` at nominal parameters, and the minimiser.

    ``yields``, ``sumw2``: (..., P, K) expected events and their sum of w^2 per process (the
    model's order) and bin; ``up``, ``down``: (..., J, K) theory yields of the model's
    ``shifts`` (None without). ``start`` (..., n): the fit's start (default the nominal
    parameters); ``iterations``: Newton steps. The value carries the gradient with respect to
    the yields by the envelope theorem; the minimiser (..., n) none. Compiled once per model,
    ``mu_data`` and ``iterations`` (a ``tf.function``); ``mu`` may be a tensor of the batch shape."""
    import tensorflow as tf

    y, w2, up, down = _as_tensors(yields, sumw2, up, down)
    fit = _compiled(model, float(mu_data), int(iterations))
    return fit(y, w2, up, down, _start(model, y, start), tf.convert_to_tensor(mu, tf.float64))


@functools.cache
def _compiled(model: LikelihoodModel, mu_data: float, iterations: int):
    """The compiled profile fit of :func:`profiled_deviance` (memoised; holds no data)."""
    import tensorflow as tf

    @tf.function(autograph=False)  # traced per shape: the layout needs the number of bins
    def fit(y, w2, up, down, start, mu):
        return _profile(model, y, w2, up, down, mu, mu_data, start, iterations)

    return fit


def _profile(model: LikelihoodModel, y, w2, up, down, mu, mu_data, start, iterations: int):
    """The uncompiled body of :func:`profiled_deviance` (for use inside a compiled loop)."""
    import tensorflow as tf

    data = _inputs(model, y, w2, up, down, mu_data)
    theta = tf.stop_gradient(_newton(model, start, mu, data, iterations))
    return _deviance(model, theta, mu, data), theta


def discovery_significance(model: LikelihoodModel, yields, sumw2, up=None, down=None, *, start=None,
                           iterations: int = 20):  # fmt: skip
    """The expected discovery significance Z = sqrt(q0) of the inference stage's likelihood of
    these yields (see :func:`profiled_deviance` for the arguments), shape (...), and the
    profiled nuisance parameters at mu = 0 (..., n), the next call's warm ``start``.
    Differentiable in the yields (envelope theorem)."""
    import tensorflow as tf

    q0, theta = profiled_deviance(model, yields, sumw2, up, down, mu=0.0, mu_data=1.0, start=start,
                                  iterations=iterations)  # fmt: skip
    return tf.sqrt(tf.maximum(q0, 0.0) + 1e-30), theta
