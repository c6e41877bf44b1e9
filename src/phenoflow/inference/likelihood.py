"""A HistFactory likelihood of binned classifier scores, and its expected discovery significance and
CLs upper limit on the signal strength (pyhf, numpy backend).

One channel holds one sample per process, with its expected yields per bin (events at the full
luminosity) and MC errors sqrt(sum w^2). Signal samples scale with the signal strength ``mu``
(the POI, a normfactor). Optional modifiers: ``staterror`` (the bins' MC statistical uncertainty,
one Gaussian-constrained parameter per bin shared by all samples, Barlow-Beeston lite), ``lumi``
(the luminosity uncertainty, on every sample) and one ``normsys`` per process with a relative
normalisation uncertainty u (factors 1 + u up and 1 - u down). An uncertainty of zero adds no
modifier.

Results are expected ones, from Asimov data (no observed data enter): the median discovery
significance Z = sqrt(q0) on the mu = 1 Asimov data, and the CLs upper limit on mu (test
statistic q~mu, asymptotic formulae) on the background-only Asimov data with its +-1 and +-2 sigma
bands. The workspace's ``observations`` are that background-only Asimov data.

Negative yields (negative generator weights) are floored at zero per process and bin, keeping the
bin's sum w^2; a bin without positive background after that, or no signal at all, is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Name of the signal-strength parameter (the POI).
POI = "mu"
#: Order of the five expected limits: the -2, -1, 0 (median), +1, +2 sigma quantiles.
BANDS = (-2, -1, 0, 1, 2)


class FitError(ValueError):
    """The profile-likelihood fits failed or gave an inconsistent profile (q_mu not increasing)."""


@dataclass(frozen=True)
class BinnedSample:
    """One process in the bins: expected yields and their sum of squared weights, shape (n_bins,)."""

    name: str
    signal: bool
    yields: np.ndarray
    sumw2: np.ndarray


@dataclass(frozen=True)
class ExpectedResults:
    """Expected (Asimov) results of one workspace: the discovery significance and the CLs upper
    limits on mu at the -2, -1, 0, +1, +2 sigma quantiles (:data:`BANDS`)."""

    significance: float
    limits: tuple[float, float, float, float, float]
    cl: float

    def as_dict(self) -> dict:
        bands = {f"limit_{name}": value for name, value in zip(("minus2", "minus1", "median", "plus1", "plus2"), self.limits)}
        return {"z_discovery": self.significance, **bands, "cl": self.cl}


def binned_samples(
    scores: np.ndarray,
    weights: np.ndarray,
    processes: np.ndarray,
    labels: np.ndarray,
    edges: Sequence[float],
) -> tuple[list[BinnedSample], list[str]]:
    """Per-process yields and sum w^2 in the bins ``edges`` (n_bins + 1, increasing; [e_i, e_i+1),
    the last bin closed, as :func:`numpy.histogram`), and notes on floored negative yields.

    ``scores``, ``weights`` (expected events), ``processes`` (names), ``labels`` (1 signal): (n,).
    Events outside the edges are not counted. Samples come in sorted name order.
    """
    scores, weights = np.asarray(scores, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    processes, labels, edges = np.asarray(processes).astype(str), np.asarray(labels), np.asarray(edges, dtype=np.float64)
    samples, notes = [], []
    for name in sorted(set(processes)):
        mine = processes == name
        yields = np.histogram(scores[mine], bins=edges, weights=weights[mine])[0]
        sumw2 = np.histogram(scores[mine], bins=edges, weights=weights[mine] ** 2)[0]
        negative = np.flatnonzero(yields < 0)
        if negative.size:
            notes.append(f"{name}: negative yield in bins {negative.tolist()} floored at 0")
        signal = bool(np.all(labels[mine] == 1))
        samples.append(BinnedSample(name, signal, np.clip(yields, 0.0, None), sumw2))
    return samples, notes


def _check_samples(samples: Sequence[BinnedSample]) -> None:
    if not samples:
        raise ValueError("no samples to build a workspace from")
    n_bins = {len(s.yields) for s in samples} | {len(s.sumw2) for s in samples}
    if len(n_bins) != 1:
        raise ValueError(f"samples disagree in their number of bins: {sorted(n_bins)}")
    for s in samples:
        if np.any(s.yields < 0) or np.any(s.sumw2 < 0) or not np.all(np.isfinite(s.yields) & np.isfinite(s.sumw2)):
            raise ValueError(f"sample {s.name}: yields and sum w^2 must be finite and >= 0 (floor negative yields first)")
    background = np.sum([s.yields for s in samples if not s.signal], axis=0)
    empty = np.flatnonzero(~(background > 0))
    if empty.size:
        raise ValueError(f"bins {empty.tolist()} have no positive background: merge them before building a likelihood")
    if not np.sum([s.yields.sum() for s in samples if s.signal]) > 0:
        raise ValueError("the signal samples have no positive yield in any bin")


def _rough_limit(samples: Sequence[BinnedSample], luminosity_uncertainty: float, normalisation: Mapping[str, float]) -> float:
    """A Gaussian estimate of the median 95 % CL limit on mu (only to set the POI's range)."""
    s = np.sum([x.yields for x in samples if x.signal], axis=0)
    b = np.sum([x.yields for x in samples if not x.signal], axis=0)
    variance = b + np.sum([x.sumw2 for x in samples], axis=0) + (luminosity_uncertainty * b) ** 2
    variance = variance + np.sum([(normalisation.get(x.name, 0.0) * x.yields) ** 2 for x in samples if not x.signal], axis=0)
    return float(1.96 / np.sqrt(np.sum(s**2 / variance)))


def workspace_spec(
    samples: Sequence[BinnedSample],
    *,
    luminosity_uncertainty: float = 0.0,
    normalisation: Mapping[str, float] | None = None,
    mc_statistics: bool = True,
    channel: str = "score",
) -> dict:
    """A HistFactory workspace (pyhf JSON, validated against pyhf's schema) of one channel.

    ``samples``: the processes' bins (see :func:`binned_samples`, all with the same number of
    bins); ``luminosity_uncertainty``: relative (0.017 for 1.7 %), on every sample;
    ``normalisation``: process name -> relative normalisation uncertainty in [0, 1);
    ``mc_statistics``: a per-bin ``staterror`` from the samples' sqrt(sum w^2). The POI ``mu``
    ranges over [0, max(10, 20 x a rough expected limit)]; the observations are the
    background-only Asimov data.
    """
    import pyhf

    normalisation = dict(normalisation or {})
    _check_samples(samples)
    unknown = sorted(set(normalisation) - {s.name for s in samples})
    if unknown:
        raise ValueError(f"normalisation uncertainties for processes not in the samples: {unknown}")
    for name, u in {"luminosity": luminosity_uncertainty, **normalisation}.items():
        if not 0 <= u < 1:
            raise ValueError(f"the relative uncertainty of {name} must be in [0, 1), got {u}")
    spec_samples = []
    for sample in samples:
        modifiers = [{"name": POI, "type": "normfactor", "data": None}] if sample.signal else []
        if luminosity_uncertainty > 0:
            modifiers.append({"name": "lumi", "type": "lumi", "data": None})
        u = normalisation.get(sample.name, 0.0)
        if u > 0:
            modifiers.append({"name": f"norm_{sample.name}", "type": "normsys", "data": {"hi": 1.0 + u, "lo": 1.0 - u}})
        if mc_statistics:
            modifiers.append({"name": f"staterror_{channel}", "type": "staterror", "data": np.sqrt(sample.sumw2).tolist()})
        spec_samples.append({"name": sample.name, "data": sample.yields.tolist(), "modifiers": modifiers})
    mu_max = max(10.0, 20.0 * _rough_limit(samples, luminosity_uncertainty, normalisation))
    parameters = [{"name": POI, "bounds": [[0.0, mu_max]], "inits": [1.0]}]
    if luminosity_uncertainty > 0:
        u = luminosity_uncertainty
        parameters.append({"name": "lumi", "auxdata": [1.0], "sigmas": [u], "bounds": [[max(1.0 - 5 * u, 1e-3), 1.0 + 5 * u]], "inits": [1.0]})
    background = np.sum([s.yields for s in samples if not s.signal], axis=0)
    spec = {
        "version": "1.0.0",
        "channels": [{"name": channel, "samples": spec_samples}],
        "observations": [{"name": channel, "data": background.tolist()}],
        "measurements": [{"name": "expected", "config": {"poi": POI, "parameters": parameters}}],
    }
    pyhf.schema.validate(spec, "workspace.json")
    return spec


def band_targets(cl: float = 0.95) -> np.ndarray:
    """sqrt(q_mu,A) at the expected CLs limits for the -2..+2 sigma quantiles (:data:`BANDS`):
    with the background-only Asimov data, CLs(mu) at quantile n is
    (1 - Phi(sqrt(q_mu,A) - n)) / Phi(n) (Cowan, Cranmer, Gross, Vitells 2011), and the limit is
    where it equals 1 - cl: sqrt(q_mu,A) = n + Phi^-1(1 - (1 - cl) Phi(n))."""
    from scipy.stats import norm

    n = np.asarray(BANDS, dtype=np.float64)
    return n + norm.isf((1 - cl) * norm.cdf(n))


def expected_results(spec: Mapping, cl: float = 0.95, rtol: float = 1e-5) -> ExpectedResults:
    """Expected discovery significance and CLs upper limits on mu at confidence level ``cl`` of a
    workspace with POI ``mu`` (e.g. from :func:`workspace_spec`); Asimov data, asymptotic formulae.

    Z = sqrt(q0) on the mu = 1 Asimov data (the median significance with signal). The limits use
    q~mu on the background-only Asimov data, whose best fit is the nominal model itself, so each
    tested mu costs one profile fit: sqrt(q_mu,A) is solved for the targets of
    :func:`band_targets` (relative tolerance ``rtol`` in mu), which is what
    ``pyhf.infer.hypotest``'s asymptotic expected CLs set gives (tested against
    ``pyhf.infer.intervals.upper_limits.upper_limit``) for a fifth of its fits.

    Raises :class:`FitError` when a fit fails or the profile is not increasing in mu (pyhf's
    SLSQP fits with numerical gradients can go astray when bins hold ~1e9 events with tight
    constraints), rather than return a wrong limit.
    """
    import pyhf

    if not 0 < cl < 1:
        raise ValueError(f"the confidence level must be in (0, 1), got {cl}")
    model = pyhf.Workspace(dict(spec)).model()
    init, bounds, fixed = model.config.suggested_init(), model.config.suggested_bounds(), model.config.suggested_fixed()
    poi = model.config.poi_index

    def nominal(mu: float) -> np.ndarray:
        pars = np.asarray(init, dtype=np.float64)
        pars[poi] = mu
        return pars

    def q_tested(mu: float, data: np.ndarray, best: np.ndarray, start=None) -> tuple[float, np.ndarray]:
        """-2 ln lambda(mu) on Asimov data whose best fit is the parameter point ``best``, and the
        profiled parameters (the fit starts from ``start``, default the model's init)."""
        start = init if start is None else start
        try:
            fitted, twice_nll = pyhf.infer.mle.fixed_poi_fit(mu, data, model, start, bounds, fixed, return_fitted_val=True)
        except pyhf.exceptions.FailedMinimization as err:
            raise FitError(f"the profile fit at mu = {mu:.4g} failed ({err.result.message})") from err
        return max(float(twice_nll) + 2 * float(model.logpdf(best, data)[0]), 0.0), np.asarray(fitted)

    with_signal = model.expected_data(nominal(1.0))
    significance = np.sqrt(q_tested(0.0, with_signal, nominal(1.0))[0])

    background_only = model.expected_data(nominal(0.0))
    tried: dict[float, tuple[float, np.ndarray]] = {}  # mu -> (sqrt(q_mu,A), profiled parameters)

    def sqrt_q(mu: float) -> float:
        if mu not in tried:
            start = tried[min(tried, key=lambda m: abs(m - mu))][1].tolist() if tried else None  # warm start
            q, fitted = q_tested(mu, background_only, nominal(0.0), start)
            tried[mu] = (np.sqrt(q), fitted)
        return tried[mu][0]

    mu_max, limits = bounds[poi][1], []
    sqrt_q(mu_max / 20)  # about the median limit (see workspace_spec)
    for target in band_targets(cl):
        near = min((m for m in tried if tried[m][0] > 0), key=lambda m: abs(tried[m][0] - target))
        limits.append(_solve_increasing(sqrt_q, target, near * target / tried[near][0], mu_max, rtol))
    # a profile likelihood ratio grows with mu above mu-hat = 0: anything else is a fit gone astray
    mus = sorted(tried)
    values = np.array([tried[m][0] for m in mus])
    if np.any(np.diff(values) < -1e-6 * np.maximum(values[1:], 1.0)) or np.any(np.diff(limits) <= 0):
        drops = int(np.sum(np.diff(values) < -1e-6 * np.maximum(values[1:], 1.0)))
        raise FitError(f"the profile fits are inconsistent: sqrt(q_mu,A) falls {drops} times over {len(mus)} values of mu in [{mus[0]:.4g}, {mus[-1]:.4g}]")
    return ExpectedResults(float(significance), tuple(float(x) for x in limits), cl)


def _solve_increasing(f, target: float, start: float, x_max: float, rtol: float) -> float:
    """The x > 0 with f(x) = target for an increasing f with f(0) = 0 that is nearly linear (as
    sqrt(q_mu,A) in mu): secant steps kept inside a bracket, bisection when they leave it; f is
    assumed cached by the caller. Raises ValueError beyond ``x_max``."""
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
                    raise ValueError(f"the expected limit exceeds the POI's upper bound {x_max:g}")
                x_new = x_max
        elif not lo < x_new < hi:
            x_new = 0.5 * (lo + hi)
        if abs(x_new - x) <= rtol * abs(x_new):
            return float(x_new)
        x = x_new
    raise ValueError(f"no convergence solving for sqrt(q) = {target:g}")
