"""The expected results of a HistFactory workspace (:mod:`phenoflow.inference.likelihood`): its
discovery significance and CLs upper limits on the signal strength, from profile-likelihood fits.

Results are expected ones, from Asimov data (no observed data enter): the median discovery
significance Z = sqrt(q0) on the mu = 1 Asimov data, and the CLs upper limit on mu (test
statistic q~mu, asymptotic formulae) on the background-only Asimov data with its +-1 and +-2 sigma
bands.

The profile fits evaluate the pyhf model under its TensorFlow backend in float64 (set for the call,
the caller's backend restored), with exact autodiff gradients of a twice-NLL compiled once per
model, and scipy's SLSQP at a tight tolerance on parameters in units of their expected standard
deviations (:class:`ProfileLikelihood`, :class:`AsimovFits`). Bins of 1e3 - 1e9 events pin
the parameters to ~1e-4 where their constraints allow 0.017 (luminosity) to 0.5 (normalisation,
MC statistics): with numerical gradients most fits of real workspaces strayed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from phenoflow.defaults import default
from phenoflow.inference.likelihood import POI_RANGE

#: Order of the five expected limits: the -2, -1, 0 (median), +1, +2 sigma quantiles.
BANDS = (-2, -1, 0, 1, 2)


class FitError(ValueError):
    """The profile-likelihood fits failed, gave an inconsistent profile (q_mu not increasing) or
    put a limit beyond the POI's upper bound."""


@dataclass(frozen=True)
class ExpectedResults:
    """Expected (Asimov) results of one workspace: the discovery significance and the CLs upper
    limits on mu at the -2, -1, 0, +1, +2 sigma quantiles (:data:`BANDS`)."""

    significance: float
    limits: tuple[float, float, float, float, float]
    cl: float

    def as_dict(self) -> dict:
        bands = {
            f"limit_{name}": value for name, value in zip(("minus2", "minus1", "median", "plus1", "plus2"), self.limits)
        }
        return {"z_discovery": self.significance, **bands, "cl": self.cl}


def band_targets(cl: float = default("inference.cl")) -> np.ndarray:
    """sqrt(q_mu,A) at the expected CLs limits for the -2..+2 sigma quantiles (:data:`BANDS`):
    with the background-only Asimov data, CLs(mu) at quantile n is
    (1 - Phi(sqrt(q_mu,A) - n)) / Phi(n) (Cowan, Cranmer, Gross, Vitells 2011), and the limit is
    where it equals 1 - cl: sqrt(q_mu,A) = n + Phi^-1(1 - (1 - cl) Phi(n))."""
    from scipy.stats import norm

    n = np.asarray(BANDS, dtype=np.float64)
    return n + norm.isf((1 - cl) * norm.cdf(n))


def expected_results(
    spec: Mapping, cl: float = default("inference.cl"), rtol: float = 1e-5, bands: Sequence[int] = BANDS
) -> ExpectedResults:
    """Expected discovery significance and CLs upper limits on mu at confidence level ``cl`` of a
    workspace with POI ``mu`` (e.g. from :func:`~phenoflow.inference.likelihood.workspace_spec`); Asimov
    data, asymptotic formulae.
    Only the quantiles in ``bands`` (a subset of :data:`BANDS`, e.g. ``(0,)`` for the median) are
    solved for; the others are NaN.

    Z = sqrt(q0) on the mu = 1 Asimov data (the median significance with signal). The limits use
    q~mu on the background-only Asimov data, whose best fit is the nominal model itself, so each
    tested mu costs one profile fit: sqrt(q_mu,A) is solved for the targets of
    :func:`band_targets` (relative tolerance ``rtol`` in mu), which is what
    ``pyhf.infer.hypotest``'s asymptotic expected CLs set gives (tested against
    ``pyhf.infer.intervals.upper_limits.upper_limit``) for a fifth of its fits. The fits run under
    pyhf's TensorFlow backend (:func:`tensorflow_backend`, the caller's backend is restored) with
    exact gradients, see :class:`ProfileLikelihood`.

    Raises :class:`FitError` when a fit fails, a limit lies beyond the POI's upper bound or the
    profile is not increasing in mu, rather than return a wrong limit.
    """
    import pyhf
    from threadpoolctl import threadpool_limits

    if not 0 < cl < 1:
        raise ValueError(f"the confidence level must be in (0, 1), got {cl}")
    if not bands or not set(bands) <= set(BANDS):
        raise ValueError(f"bands must be a non-empty subset of {BANDS}, got {tuple(bands)}")
    # one BLAS thread: SLSQP's small matrices gain nothing from more, and OpenBLAS threads spinning
    # beside TensorFlow's made each SLSQP iteration 10 ms instead of 0.02 ms on 2 cores
    with tensorflow_backend(), threadpool_limits(limits=1, user_api="blas"):
        model = pyhf.Workspace(dict(spec)).model()
        profile = ProfileLikelihood(model)
        significance = np.sqrt(profile.asimov(1.0).q(0.0)[0])
        background_only = profile.asimov(0.0)
        tried: dict[float, tuple[float, np.ndarray]] = {}  # mu -> (sqrt(q_mu,A), profiled parameters)

        def sqrt_q(mu: float) -> float:
            if mu not in tried:
                start = tried[min(tried, key=lambda m: abs(m - mu))][1] if tried else None  # warm start
                q, fitted = background_only.q(mu, start)
                tried[mu] = (np.sqrt(q), fitted)
            return tried[mu][0]

        mu_max, limits = profile.bounds[profile.poi, 1], []
        sqrt_q(mu_max / POI_RANGE)  # about the median limit (see workspace_spec)
        for band, target in zip(BANDS, band_targets(cl)):
            if band not in bands:
                limits.append(np.nan)
                continue
            near = min((m for m in tried if tried[m][0] > 0), key=lambda m: abs(tried[m][0] - target))
            limits.append(_solve_increasing(sqrt_q, target, near * target / tried[near][0], mu_max, rtol))
    # a profile likelihood ratio grows with mu above mu-hat = 0: anything else is a fit gone astray
    mus = sorted(tried)
    values = np.array([tried[m][0] for m in mus])
    drops = int(np.sum(np.diff(values) < -1e-6 * np.maximum(values[1:], 1.0)))
    if drops or np.any(np.diff([x for x in limits if not np.isnan(x)]) <= 0):
        raise FitError(
            f"the profile fits are inconsistent: sqrt(q_mu,A) falls {drops} times over {len(mus)} values of mu in [{mus[0]:.4g}, {mus[-1]:.4g}]"
        )
    return ExpectedResults(float(significance), tuple(float(x) for x in limits), cl)


@contextmanager
def tensorflow_backend() -> Iterator[None]:
    """pyhf's TensorFlow backend in float64 (and its default scipy optimizer) inside the block; the
    backend and optimizer that were set before are restored when it ends, also on an error."""
    import pyhf

    previous = pyhf.get_backend()
    pyhf.set_backend("tensorflow", precision="64b")
    try:
        yield
    finally:
        pyhf.set_backend(*previous)


class ProfileLikelihood:
    """Twice the negative log-likelihood of one pyhf model and its exact gradient in the
    parameters (TensorFlow autodiff, compiled once per model), and fits of it. Build and use it
    under :func:`tensorflow_backend`.

    The Poisson terms are written as the deviance 2 (lam - n - n ln(lam / n)) per bin, which differs
    from pyhf's -2 ln Poisson(n | lam) by a constant of the data but stays of order q instead of
    ~n ln n: with bins of 1e9 events pyhf's form rounds at ~1e-6, this one at ~1e-12, so the fits'
    tolerance can be tight. The constraint terms are pyhf's own.
    """

    def __init__(self, model) -> None:
        import tensorflow as tf

        self.model = model
        config = model.config
        self.poi = config.poi_index
        self.init = np.asarray(config.suggested_init(), dtype=np.float64)
        self.bounds = np.asarray(config.suggested_bounds(), dtype=np.float64)
        fixed = np.asarray(config.suggested_fixed(), dtype=bool)
        self.free = np.flatnonzero(~fixed & (np.arange(config.npars) != self.poi))
        #: a typical size of each parameter: its constraint's width, else its magnitude (at least 1)
        self.width = np.maximum(np.abs(self.init), 1.0)
        for name in config.par_order:
            if hasattr(config.param_set(name), "width"):
                self.width[config.par_slice(name)] = config.param_set(name).width()
        n_main, constrained = config.nmaindata, model.constraint_model.has_pdf()

        def value_and_gradient(pars, data):
            main, aux = data[:n_main], data[n_main:]
            with tf.GradientTape() as tape:
                tape.watch(pars)
                rates = model.expected_actualdata(pars)
                excess, filled = rates - main, main > 0
                deviance = tf.where(filled, excess - main * tf.math.log1p(excess / tf.where(filled, main, 1.0)), rates)
                value = 2 * tf.reduce_sum(deviance)
                if constrained:
                    value -= 2 * tf.reduce_sum(model.constraint_logpdf(aux, pars))
            return value, tape.gradient(value, pars)

        signature = [tf.TensorSpec([config.npars], tf.float64), tf.TensorSpec([n_main + config.nauxdata], tf.float64)]
        # autograph off: pyhf's tensor code has no Python control flow on tensors, and tracing is 6x faster
        self._value_and_gradient = tf.function(value_and_gradient, input_signature=signature, autograph=False)

    def value_and_gradient(self, pars: np.ndarray, data: np.ndarray) -> tuple[float, np.ndarray]:
        """Twice the NLL (up to a constant of ``data``) at ``pars`` (n_pars,) and its gradient,
        shape (n_pars,); ``data``: main and auxiliary data, as ``model.expected_data`` gives."""
        value, gradient = self._value_and_gradient(pars, data)
        return float(value), gradient.numpy()

    def curvature(self, pars: np.ndarray, data: np.ndarray) -> np.ndarray:
        """The Hessian's diagonal of twice the NLL for the free parameters, shape (n_free,):
        central differences of the exact gradient, steps 1e-4 of each parameter's :attr:`width`."""
        out = np.empty(self.free.size)
        for k, i in enumerate(self.free):
            step, shifted = 1e-4 * self.width[i], np.array(pars, dtype=np.float64)
            shifted[i] = pars[i] + step
            up = self.value_and_gradient(shifted, data)[1][i]
            shifted[i] = pars[i] - step
            out[k] = (up - self.value_and_gradient(shifted, data)[1][i]) / (2 * step)
        return out

    def asimov(self, mu: float) -> AsimovFits:
        """Profile fits to the Asimov data of the nominal model with signal strength ``mu``."""
        return AsimovFits(self, mu)


class AsimovFits:
    """Fixed-mu profile fits of a :class:`ProfileLikelihood` to the Asimov data of its nominal
    parameters with the POI at ``mu_data``, which are the global best fit of those data.

    The free parameters are fitted in units of their conditional standard deviations at that
    best fit, sqrt(2 / H_ii) with H the Hessian of twice the NLL (on the real workspaces ~1e-4 for
    the luminosity, 1e-4 - 1e-2 for normalisations and MC statistics, against constraint widths
    of 0.017, 1 and up to 0.5), so that all are of order one for scipy's SLSQP with exact
    gradients and a tight tolerance ``ftol`` (on values of order q).
    """

    def __init__(self, profile: ProfileLikelihood, mu_data: float, ftol: float = 1e-10) -> None:
        self.profile, self.ftol = profile, ftol
        self.best = profile.init.copy()
        self.best[profile.poi] = mu_data
        self.data = np.asarray(profile.model.expected_data(self.best), dtype=np.float64)
        self.minimum = profile.value_and_gradient(self.best, self.data)[0]
        curvature = profile.curvature(self.best, self.data)
        self.scale = np.where(curvature > 0, np.sqrt(2 / np.where(curvature > 0, curvature, 1.0)), 1.0)

    def q(self, mu: float, start: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """-2 ln lambda(mu) = min over the free parameters at fixed ``mu`` minus the global
        minimum, and the profiled parameters (n_pars,); the fit starts from ``start`` (default the
        best fit). Raises :class:`FitError` when the fit fails."""
        from scipy.optimize import minimize

        profile, free, scale = self.profile, self.profile.free, self.scale
        pars = self.best.copy() if start is None else np.array(start, dtype=np.float64)
        pars[profile.poi] = mu

        def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
            pars[free] = self.best[free] + scale * x
            value, gradient = profile.value_and_gradient(pars, self.data)
            return value - self.minimum, scale * gradient[free]

        lo, hi = ((profile.bounds[free, i] - self.best[free]) / scale for i in (0, 1))
        x0 = np.clip((pars[free] - self.best[free]) / scale, lo, hi)
        if free.size:
            result = minimize(
                objective,
                x0,
                jac=True,
                method="SLSQP",
                bounds=list(zip(lo, hi)),
                options={"ftol": self.ftol, "maxiter": 1000},
            )
            if not result.success:
                raise FitError(f"the profile fit at mu = {mu:.4g} failed ({result.message})")
            value = objective(result.x)[0]
        else:
            value = objective(x0)[0]
        if value < -1e-6:
            raise FitError(f"the profile fit at mu = {mu:.4g} fell {-value:.3g} below the global minimum")
        return max(value, 0.0), pars.copy()


def _solve_increasing(f, target: float, start: float, x_max: float, rtol: float) -> float:
    """The x > 0 with f(x) = target for an increasing f with f(0) = 0 that is nearly linear (as
    sqrt(q_mu,A) in mu): secant steps kept inside a bracket, bisection when they leave it; f is
    assumed cached by the caller. Raises :class:`FitError` beyond ``x_max`` or without convergence."""
    lo, hi = 0.0, None
    x_prev, f_prev = 0.0, 0.0
    x = start
    for _ in range(100):
        fx = f(x)
        if fx < target:
            lo = max(lo, x)
        else:
            hi = x if hi is None else min(hi, x)
        step = (x - x_prev) / (fx - f_prev) * (target - fx) if fx != f_prev else x
        x_prev, f_prev = x, fx
        x_new = x + step
        if hi is None:
            x_new = max(x_new, 1.05 * x) if fx < target else x_new
            if x_new > x_max:
                if x >= x_max:
                    raise FitError(
                        f"the expected limit exceeds the POI's upper bound {x_max:g}: sqrt(q_mu,A) = {fx:.4g} there, short of {target:.4g}"
                    )
                x_new = x_max
        elif not lo < x_new < hi:
            x_new = 0.5 * (lo + hi)
        if abs(x_new - x) <= rtol * abs(x_new):
            return float(x_new)
        x = x_new
    raise FitError(f"no convergence solving for sqrt(q) = {target:g}")
