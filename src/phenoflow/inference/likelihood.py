"""A HistFactory likelihood of binned classifier scores (a pyhf workspace); its expected discovery
significance and CLs upper limit on the signal strength are fitted in :mod:`phenoflow.inference.fits`.

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
whose own MC error there was 9.5 %. With ``include_signal`` the signal samples join
the bin's staterror and get their own shapesys below the threshold.

Results are expected ones, from Asimov data (no observed data enter): the workspace's
``observations`` are the background-only Asimov data.

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from phenoflow.defaults import default
from phenoflow.inference.options import checked_mapping
from phenoflow.inference.theory import TheoryShift, TheorySystematics, theory_modifiers, theory_shifts
from phenoflow.variations import Variation

#: Name of the signal-strength parameter (the POI).
POI = "mu"
#: The POI's upper bound in units of a rough (Gaussian) expected limit: with the signal in the
#: staterror (``include_signal``) the +2 sigma limits of the saved real workspaces reach 0.8 - 21
#: of it, as the MC-statistics parameter of a bin with 50 % background uncertainty absorbs large
#: signals (tests/data/binning_scores, docs/benchmarks.md).
POI_RANGE = 100.0


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
class MCStatistics:
    """How the bins' MC statistical uncertainty sqrt(sum w^2) enters the workspace (the config's
    ``inference.mc_statistics``; see the module docstring): ``enabled`` adds MC-statistics terms
    at all; ``include_signal`` lets the signal samples carry them too (by default only the
    background samples do); a bin whose background has fewer than ``poisson_below`` effective
    MC events (:func:`effective_background_events`) gets a Poisson term (``shapesys``) per sample
    instead of the bin's one Gaussian ``staterror`` (0: Gaussian everywhere). After CMS's
    ``autoMCStats``, whose documented example uses a threshold of 10."""

    enabled: bool = default("inference.mc_statistics.enabled")
    include_signal: bool = default("inference.mc_statistics.include_signal")
    poisson_below: float = float(default("inference.mc_statistics.poisson_below"))

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
    luminosity_uncertainty: float = default("inference.luminosity_uncertainty"),
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
