"""A HistFactory likelihood of binned classifier scores, and its expected discovery significance and
CLs upper limit on the signal strength (pyhf).

One channel holds one sample per process, with its expected yields per bin (events at the full
luminosity) and MC errors sqrt(sum w^2). Signal samples scale with the signal strength ``mu``
(the POI, a normfactor). Optional modifiers: the MC statistical uncertainty (below), ``lumi``
(the luminosity uncertainty, on every sample) and one ``normsys`` per process with a relative
normalisation uncertainty u (factors 1 + u up and 1 - u down). An uncertainty of zero adds no
modifier.

MC statistics (:class:`MCStatistics`, the config's ``inference.mc_statistics``) follow CMS's
``autoMCStats`` (Combine's "Automatic statistical uncertainties": a threshold on the effective
number of unweighted background events per bin, Barlow-Beeston-lite above it, one term per
process below it). Per bin, the background samples' effective number of MC events
N_eff = (sum_b y_b)^2 / sum_b (sum w^2)_b decides:

* N_eff >= ``poisson_below`` (default 10): one Gaussian-constrained factor scales the summed
  yield of the samples that carry it (pyhf ``staterror_<channel>``, Barlow-Beeston lite), of
  relative width sqrt(sum sum w^2) / sum y over them;
* N_eff < ``poisson_below``: each of those samples with a positive yield and MC error in the bin
  gets its own Poisson-constrained factor there (pyhf ``shapesys_<channel>_<sample>``, one name
  per sample, i.e. full Barlow-Beeston per process), whose auxiliary count is the sample's own
  effective MC events y^2 / sum w^2: the MC sample is the auxiliary measurement. A Gaussian
  factor of width sigma can take a bin's background to zero at a cost of 1 / sigma^2 in twice
  the NLL (4 at the binning rule's 50 % MC error, four equal-weight events), hiding a signal as
  large as that background for so little; the Poisson term's cost grows without bound as its
  factor goes to zero.

A sample carries zeros where the other form applies, and pyhf fixes a factor at 1 in a bin with
no uncertainty (``staterror``) or without yield or uncertainty (``shapesys``), so bins without
background MC error, and a sample's empty bins, get no term. Unlike ``autoMCStats``, N_eff is not
rounded, and below the threshold every process gets a Poisson term (CMS gives a process with
N_eff of its own above the threshold a Gaussian one: a Poisson term with that many auxiliary
events is nearly Gaussian).

By default only the background samples carry these terms, and the threshold counts only the
background (as ``autoMCStats``' default ``include-signal = 0``). pyhf's staterror multiplies
every sample that carries it, so a signal sharing it would be scaled by the background's MC
error: on the default analysis a bin's 50 % background MC error acted as ~42 % on the signal,
whose own MC error there was 9.5 % (issue 22). With ``include_signal`` the signal samples join
the bin's staterror and get their own shapesys below the threshold.

Results are expected ones, from Asimov data (no observed data enter): the median discovery
significance Z = sqrt(q0) on the mu = 1 Asimov data, and the CLs upper limit on mu (test
statistic q~mu, asymptotic formulae) on the background-only Asimov data with its +-1 and +-2 sigma
bands. The workspace's ``observations`` are that background-only Asimov data.

The profile fits evaluate the pyhf model under its TensorFlow backend in float64 (set for the call,
the caller's backend restored), with exact autodiff gradients of a twice-NLL compiled once per
model, and scipy's SLSQP at a tight tolerance on parameters in units of their expected standard
deviations (:class:`ProfileLikelihood`, :class:`AsimovFits`). Bins of 1e3 - 1e9 events pin
the parameters to ~1e-4 where their constraints allow 0.017 (luminosity) to 0.5 (normalisation,
MC statistics): with numerical gradients most fits of real workspaces strayed.

Theory systematics (:mod:`phenoflow.inference.theory`): a process whose events carry variation
weights (columns ``weight:<name>`` of the scores, :mod:`phenoflow.variations`) gets each group's
up and down yields (:attr:`BinnedSample.theory`) and from them a ``histosys`` and / or a ``normsys``
per group (:class:`~phenoflow.inference.theory.TheorySystematics`, the config's
``inference.theory``). Samples without variations give the workspace they gave before.

Negative yields (negative generator weights) are floored at zero per process and bin, keeping the
bin's sum w^2, and so are a variation's; a bin without positive background after that, or no
signal at all, is an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from phenoflow.inference.options import checked_mapping
from phenoflow.inference.theory import TheoryShift, TheorySystematics, theory_modifiers, theory_shifts
from phenoflow.variations import Variation

#: Name of the signal-strength parameter (the POI).
POI = "mu"
#: Order of the five expected limits: the -2, -1, 0 (median), +1, +2 sigma quantiles.
BANDS = (-2, -1, 0, 1, 2)
#: The POI's upper bound in units of a rough (Gaussian) expected limit: with the signal in the
#: staterror (``include_signal``) the +2 sigma limits of the saved real workspaces reach 0.8 - 21
#: of it, as the MC-statistics parameter of a bin with 50 % background uncertainty absorbs large
#: signals (tests/data/binning_scores, docs/benchmarks.md).
POI_RANGE = 100.0


class FitError(ValueError):
    """The profile-likelihood fits failed, gave an inconsistent profile (q_mu not increasing) or
    put a limit beyond the POI's upper bound."""


@dataclass(frozen=True)
class BinnedSample:
    """One process in the bins: expected yields and their sum of squared weights, shape (n_bins,),
    and the up and down yields of each group of its theory variations (none by default)."""

    name: str
    signal: bool
    yields: np.ndarray
    sumw2: np.ndarray
    theory: tuple[TheoryShift, ...] = ()


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


@dataclass(frozen=True)
class MCStatistics:
    """How the bins' MC statistical uncertainty sqrt(sum w^2) enters the workspace (the config's
    ``inference.mc_statistics``; see the module docstring): ``enabled`` adds MC-statistics terms
    at all; ``include_signal`` lets the signal samples carry them too (by default only the
    background samples do); a bin whose background has fewer than ``poisson_below`` effective
    MC events (:func:`effective_background_events`) gets a Poisson term (``shapesys``) per sample
    instead of the bin's one Gaussian ``staterror`` (0: Gaussian everywhere). After CMS's
    ``autoMCStats``, whose documented example uses a threshold of 10."""

    enabled: bool = True
    include_signal: bool = False
    poisson_below: float = 10.0

    def __post_init__(self) -> None:
        if not self.poisson_below >= 0:
            raise ValueError(f"mc_statistics.poisson_below must be >= 0, got {self.poisson_below}")

    @classmethod
    def from_config(cls, value: bool | Mapping, key: str = "inference.mc_statistics") -> MCStatistics:
        """From the config: ``true`` / ``false`` (shorthand for the defaults, or no MC-statistics
        terms) or a mapping of the fields (missing ones take their defaults). Errors name ``key``."""
        if isinstance(value, bool):
            return cls(enabled=value)
        value = checked_mapping(value, cls, key, "true, false or a mapping")
        for name in ("enabled", "include_signal"):
            if not isinstance(value.get(name, False), bool):
                raise ValueError(f"{key}.{name}: must be true or false, got {value[name]!r}")
        below = value.get("poisson_below", cls.poisson_below)
        if isinstance(below, bool) or not isinstance(below, (int, float)) or not below >= 0:
            raise ValueError(f"{key}.poisson_below: must be a number >= 0, got {below!r}")
        return cls(**{**value, "poisson_below": float(below)})


def effective_background_events(samples: Sequence[BinnedSample]) -> np.ndarray:
    """The background's effective number of MC events per bin, N_eff = (sum of the background
    samples' yields)^2 / (sum of their sum w^2), shape (n_bins,); inf where sum w^2 is 0."""
    b = np.sum([s.yields for s in samples if not s.signal], axis=0)
    sumw2 = np.sum([s.sumw2 for s in samples if not s.signal], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sumw2 > 0, b**2 / np.where(sumw2 > 0, sumw2, 1.0), np.inf)


def mc_statistics_modifiers(
    samples: Sequence[BinnedSample], options: MCStatistics, channel: str = "score"
) -> dict[str, list[dict]]:
    """The MC-statistics modifiers (pyhf JSON) of each sample by name, as the module docstring
    says: ``staterror_<channel>`` with sqrt(sum w^2) in the bins at or above the threshold (0 in
    the others) on every carrying sample, if any bin is; ``shapesys_<channel>_<sample>`` with
    sqrt(sum w^2) in the bins below it where the sample has a positive yield and sum w^2 (0 in
    the others), on each carrying sample that has such a bin. Samples without terms map to []."""
    out: dict[str, list[dict]] = {s.name: [] for s in samples}
    if not options.enabled:
        return out
    poisson = effective_background_events(samples) < options.poisson_below
    for s in samples:
        if s.signal and not options.include_signal:
            continue
        error = np.sqrt(s.sumw2)
        if not poisson.all():
            gaussian = np.where(poisson, 0.0, error)
            out[s.name].append({"name": f"staterror_{channel}", "type": "staterror", "data": gaussian.tolist()})
        counted = poisson & (s.yields > 0) & (s.sumw2 > 0)
        if counted.any():
            data = np.where(counted, error, 0.0).tolist()
            out[s.name].append({"name": f"shapesys_{channel}_{s.name}", "type": "shapesys", "data": data})
    return out


def binned_samples(
    bins: np.ndarray,
    n_bins: int,
    weights: np.ndarray,
    processes: np.ndarray,
    labels: np.ndarray,
    *,
    variations: Mapping[str, Sequence[Variation]] | None = None,
    variation_weights: Mapping[str, np.ndarray] | None = None,
) -> tuple[list[BinnedSample], list[str]]:
    """Per-process yields and sum w^2 in ``n_bins`` bins, and notes on floored negative yields.

    ``bins``: each event's bin in [0, n_bins), -1 (or any other value) outside, e.g.
    :func:`phenoflow.binning.rule.bin_index` of its score or, for a cross-fitted binning, its own
    group's bin (:func:`phenoflow.binning.crossfit.row_bins`); ``weights`` (expected events),
    ``processes`` (names), ``labels`` (1 signal): (n,). Samples come in sorted name order.

    Theory variations: ``variations`` gives a process's :class:`~phenoflow.variations.Variation`
    list, ``variation_weights`` each variation's weights (n,) by its column name
    (``weight:<name>``, normalised as ``weights``); a process gets the up and down yields of
    each group (:func:`phenoflow.inference.theory.theory_shifts`) from its variations' yields,
    summed as the nominal's and floored at zero likewise. A process none of whose variations has
    weights gets none (and a note); one with some but not all, or with non-finite weights on its
    events, is an error naming the column.
    """
    bins, weights = np.asarray(bins), np.asarray(weights, dtype=np.float64)
    processes, labels = np.asarray(processes).astype(str), np.asarray(labels)
    variations, variation_weights = variations or {}, variation_weights or {}
    inside = (bins >= 0) & (bins < n_bins)
    samples, notes = [], []
    for name in sorted(set(processes)):
        mine = processes == name
        kept = mine & inside
        yields = np.bincount(bins[kept], weights=weights[kept], minlength=n_bins)
        sumw2 = np.bincount(bins[kept], weights=weights[kept] ** 2, minlength=n_bins)
        negative = np.flatnonzero(yields < 0)
        if negative.size:
            notes.append(f"{name}: negative yield in bins {negative.tolist()} floored at 0")
        signal, yields = bool(np.all(labels[mine] == 1)), np.clip(yields, 0.0, None)
        shifts, shift_notes = _theory_of(name, variations.get(name, ()), variation_weights, mine, kept, bins, yields)
        samples.append(BinnedSample(name, signal, yields, sumw2, shifts))
        notes += shift_notes
    return samples, notes


def _theory_of(
    name: str,
    variations: Sequence[Variation],
    columns: Mapping[str, np.ndarray],
    mine: np.ndarray,
    kept: np.ndarray,
    bins: np.ndarray,
    nominal: np.ndarray,
) -> tuple[tuple[TheoryShift, ...], list[str]]:
    """The theory shifts of process ``name`` (see :func:`binned_samples`) and notes on them."""
    if not variations:
        return (), []
    missing = [v.column for v in variations if v.column not in columns]
    if len(missing) == len(variations):
        return (), [
            f"{name}: none of its {len(variations)} theory variations has weights in the scores: no theory systematics"
        ]
    if missing:
        raise ValueError(f"process {name}: no weights for its variations {missing}")
    yields, floored = np.empty((len(variations), len(nominal))), []
    for i, v in enumerate(variations):
        w = np.asarray(columns[v.column], dtype=np.float64)
        if not np.all(np.isfinite(w[mine])):
            raise ValueError(f"process {name}: column {v.column} has non-finite weights on its events")
        yields[i] = np.bincount(bins[kept], weights=w[kept], minlength=len(nominal))
        if np.any(yields[i] < 0):
            floored.append(f"{v.column} in bins {np.flatnonzero(yields[i] < 0).tolist()}")
    notes = [f"{name}: negative variation yields floored at 0 ({'; '.join(floored)})"] if floored else []
    return theory_shifts(nominal, variations, np.clip(yields, 0.0, None)), notes


def _check_samples(samples: Sequence[BinnedSample]) -> None:
    if not samples:
        raise ValueError("no samples to build a workspace from")
    n_bins = {len(s.yields) for s in samples} | {len(s.sumw2) for s in samples}
    if len(n_bins) != 1:
        raise ValueError(f"samples disagree in their number of bins: {sorted(n_bins)}")
    for s in samples:
        if np.any(s.yields < 0) or np.any(s.sumw2 < 0) or not np.all(np.isfinite(s.yields) & np.isfinite(s.sumw2)):
            raise ValueError(
                f"sample {s.name}: yields and sum w^2 must be finite and >= 0 (floor negative yields first)"
            )
        for shift in s.theory:
            if not all(x.shape == s.yields.shape and np.all(np.isfinite(x) & (x >= 0)) for x in (shift.up, shift.down)):
                raise ValueError(
                    f"sample {s.name}, theory group '{shift.group}': up and down yields must be finite, >= 0 and"
                    f" of the sample's {len(s.yields)} bins"
                )
    background = np.sum([s.yields for s in samples if not s.signal], axis=0)
    empty = np.flatnonzero(~(background > 0))
    if empty.size:
        raise ValueError(f"bins {empty.tolist()} have no positive background: merge them before building a likelihood")
    if not np.sum([s.yields.sum() for s in samples if s.signal]) > 0:
        raise ValueError("the signal samples have no positive yield in any bin")


def _rough_limit(
    samples: Sequence[BinnedSample],
    luminosity_uncertainty: float,
    normalisation: Mapping[str, float],
    theory: bool,
) -> float:
    """A Gaussian estimate of the median 95 % CL limit on mu (only to set the POI's range); with
    ``theory`` the background's theory shifts count too (half their up - down spread)."""
    s = np.sum([x.yields for x in samples if x.signal], axis=0)
    b = np.sum([x.yields for x in samples if not x.signal], axis=0)
    variance = b + np.sum([x.sumw2 for x in samples], axis=0) + (luminosity_uncertainty * b) ** 2
    variance = variance + np.sum(
        [(normalisation.get(x.name, 0.0) * x.yields) ** 2 for x in samples if not x.signal], axis=0
    )
    shifts = [t for x in samples if not x.signal for t in x.theory] if theory else []
    if shifts:
        variance = variance + np.sum([((t.up - t.down) / 2) ** 2 for t in shifts], axis=0)
    return float(1.96 / np.sqrt(np.sum(s**2 / variance)))


def workspace_spec(
    samples: Sequence[BinnedSample],
    *,
    luminosity_uncertainty: float = 0.0,
    normalisation: Mapping[str, float] | None = None,
    mc_statistics: MCStatistics | bool = True,
    theory: TheorySystematics | bool = True,
    channel: str = "score",
) -> dict:
    """A HistFactory workspace (pyhf JSON, validated against pyhf's schema) of one channel.

    ``samples``: the processes' bins (see :func:`binned_samples`, all with the same number of
    bins); ``luminosity_uncertainty``: relative (0.017 for 1.7 %), on every sample;
    ``normalisation``: process name -> relative normalisation uncertainty in [0, 1);
    ``mc_statistics``: the MC statistical uncertainty from the samples' sqrt(sum w^2)
    (:func:`mc_statistics_modifiers`; ``True`` for the :class:`MCStatistics` defaults, ``False``
    for none); ``theory``: how the samples' theory shifts enter
    (:func:`phenoflow.inference.theory.theory_modifiers`; ``True`` for the
    :class:`~phenoflow.inference.theory.TheorySystematics` defaults, ``False`` for none). The POI
    ``mu`` ranges over [0, max(10, :data:`POI_RANGE` x a rough expected limit)]; the
    observations are the background-only Asimov data.
    """
    import pyhf

    normalisation = dict(normalisation or {})
    if isinstance(mc_statistics, bool):
        mc_statistics = MCStatistics(enabled=mc_statistics)
    if isinstance(theory, bool):
        theory = TheorySystematics(enabled=theory)
    _check_samples(samples)
    unknown = sorted(set(normalisation) - {s.name for s in samples})
    if unknown:
        raise ValueError(f"normalisation uncertainties for processes not in the samples: {unknown}")
    for name, u in {"luminosity": luminosity_uncertainty, **normalisation}.items():
        if not 0 <= u < 1:
            raise ValueError(f"the relative uncertainty of {name} must be in [0, 1), got {u}")
    spec_samples, mc_modifiers = [], mc_statistics_modifiers(samples, mc_statistics, channel)
    for sample in samples:
        modifiers = [{"name": POI, "type": "normfactor", "data": None}] if sample.signal else []
        if luminosity_uncertainty > 0:
            modifiers.append({"name": "lumi", "type": "lumi", "data": None})
        u = normalisation.get(sample.name, 0.0)
        if u > 0:
            modifiers.append({"name": f"norm_{sample.name}", "type": "normsys", "data": {"hi": 1.0 + u, "lo": 1.0 - u}})
        modifiers += theory_modifiers(sample.name, sample.yields, sample.theory, theory)
        modifiers += mc_modifiers[sample.name]
        spec_samples.append({"name": sample.name, "data": sample.yields.tolist(), "modifiers": modifiers})
    mu_max = max(10.0, POI_RANGE * _rough_limit(samples, luminosity_uncertainty, normalisation, theory.enabled))
    parameters = [{"name": POI, "bounds": [[0.0, mu_max]], "inits": [1.0]}]
    if luminosity_uncertainty > 0:
        u = luminosity_uncertainty
        parameters.append(
            {
                "name": "lumi",
                "auxdata": [1.0],
                "sigmas": [u],
                "bounds": [[max(1.0 - 5 * u, 1e-3), 1.0 + 5 * u]],
                "inits": [1.0],
            }
        )
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


def expected_results(
    spec: Mapping, cl: float = 0.95, rtol: float = 1e-5, bands: Sequence[int] = BANDS
) -> ExpectedResults:
    """Expected discovery significance and CLs upper limits on mu at confidence level ``cl`` of a
    workspace with POI ``mu`` (e.g. from :func:`workspace_spec`); Asimov data, asymptotic formulae.
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
