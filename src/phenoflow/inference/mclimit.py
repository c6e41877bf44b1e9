"""Whether the Monte Carlo sample limits a likelihood's result, and how many more generated events
of which process would lift that limit.

A result is compared with the same likelihood without its MC statistical uncertainty
(:class:`phenoflow.inference.likelihood.MCStatistics` disabled, every other modifier kept): the
ratios Z with / Z without (expected discovery significance) and limit without / limit with
(median expected upper limit on mu) are both 1 when the MC sample is large enough to be
ignored, and fall as its error grows. The result is MC-limited when either is below a threshold
(the config's ``inference.mc_limited_below``).

Generating f times the events of a process at 1/f the weight each leaves its yields as they are
and divides its sum w^2 by f (its effective number of MC events, N_eff = y^2 / sum w^2, grows by
f, so do the Poisson terms' auxiliary counts, and bins may pass the Poisson/Gaussian threshold):
:func:`scale_sumw2` does that to the binned samples, and the likelihood is built anew from
them. :func:`events_needed` searches, one process at a time, the smallest power of two f up to
:data:`MAX_FACTOR` for which both ratios reach the threshold (all processes with MC-statistics
terms together when no single one suffices). The binning is held fixed: more events would also
move the edges a binning chooses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from phenoflow.inference.fits import FitError
from phenoflow.inference.likelihood import BinnedSample, MCStatistics, mc_statistics_modifiers

#: The largest factor of more generated events tried (2^16: the bisection in log2 f takes as many fits
#: as up to 2^10, and the saved real runs need 10^3 - 10^5).
MAX_FACTOR = 2**16

#: A likelihood's expected results from binned samples: (Z, median limit on mu).
Evaluate = Callable[[Sequence[BinnedSample]], tuple[float, float]]
#: The same for a given MC-statistics model (everything else fixed by the caller).
EvaluateWith = Callable[[Sequence[BinnedSample], MCStatistics], tuple[float, float]]


@dataclass(frozen=True)
class EventsNeeded:
    """The outcome of the search for one process, or several scaled together: the smallest factor
    f (a power of two) of more generated events for which both ratios reach the threshold, None
    if not within :data:`MAX_FACTOR` or if a fit failed (``error`` says where and why)."""

    processes: tuple[str, ...]
    factor: int | None
    max_factor: int = MAX_FACTOR
    error: str | None = None


def mc_ratios(with_mc: tuple[float, float], without_mc: tuple[float, float]) -> tuple[float, float]:
    """(Z with / Z without, median limit without / median limit with) from (Z, median limit) of the
    likelihood with and without its MC statistical uncertainty; NaN where a value is missing or 0."""
    (z, limit), (z_bare, limit_bare) = with_mc, without_mc

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 and math.isfinite(a) and math.isfinite(b) else math.nan

    return ratio(z, z_bare), ratio(limit_bare, limit)


def scale_sumw2(samples: Sequence[BinnedSample], processes: Sequence[str], factor: float) -> list[BinnedSample]:
    """The samples with the sum w^2 of ``processes`` divided by ``factor`` (f times the generated
    events at 1/f the weight each), yields unchanged. An unknown process name is an error."""
    unknown = sorted(set(processes) - {s.name for s in samples})
    if unknown:
        raise ValueError(f"no samples named {unknown}")
    return [replace(s, sumw2=s.sumw2 / factor) if s.name in processes else s for s in samples]


def events_needed(
    samples: Sequence[BinnedSample],
    processes: Sequence[str],
    evaluate: Evaluate,
    without_mc: tuple[float, float],
    threshold: float,
    max_factor: int = MAX_FACTOR,
) -> list[EventsNeeded]:
    """For each of ``processes`` (those with MC-statistics terms) alone, and for all of them
    together if none suffices alone (and there are several), the smallest power of two f <=
    ``max_factor`` for which both ratios (:func:`mc_ratios` of ``evaluate`` on the samples with
    :func:`scale_sumw2` against ``without_mc``) reach ``threshold``.

    One fit at ``max_factor`` first (the process cannot do it alone if that falls short), then
    bisection in log2 f between 1 (MC-limited: below the threshold, the caller's premise) and the
    factor that reached it: at most 1 + ceil(log2(log2 ``max_factor``)) fits (5 for 2^16) per search. It
    assumes the ratios grow with f (less MC error); the factor returned reaches the threshold and
    half of it does not. A :class:`FitError` ends that search with its message.
    """
    top = int(math.log2(max_factor))
    if 2**top != max_factor or top < 1:
        raise ValueError(f"max_factor must be a power of two >= 2, got {max_factor}")

    def search(names: tuple[str, ...]) -> EventsNeeded:
        def reaches(exponent: int) -> bool:
            result = evaluate(scale_sumw2(samples, names, 2.0**exponent))
            return all(r >= threshold for r in mc_ratios(result, without_mc))

        exponent = top
        try:
            if not reaches(top):
                return EventsNeeded(names, None, max_factor)
            low, high = 0, top  # below the threshold at 2**low, reaching it at 2**high
            while high - low > 1:
                exponent = (low + high) // 2
                low, high = (low, exponent) if reaches(exponent) else (exponent, high)
        except FitError as err:
            return EventsNeeded(names, None, max_factor, f"fit failed at {2**exponent}x: {err}")
        return EventsNeeded(names, 2**high, max_factor)

    found = [search((name,)) for name in processes]
    if len(processes) > 1 and all(n.factor is None for n in found):
        found.append(search(tuple(processes)))
    return found


def _count(n: float) -> str:
    return f"{int(n):,}".replace(",", " ")


def describe(needed: Sequence[EventsNeeded], generated: Mapping[str, int] | None = None) -> str:
    """One line on what :func:`events_needed` found, e.g. ``zvv_jets: 16x more events (20 000 ->
    320 000 generated); qcd alone: not within 65536x``, the smallest factor first and the searches
    that found none last; the generated counts (process -> events, from its generation summary)
    where ``generated`` has them."""
    generated = generated or {}
    parts = []
    for n in sorted(needed, key=lambda n: (n.factor is None, n.factor or 0)):
        name = n.processes[0] if len(n.processes) == 1 else f"all of {', '.join(n.processes)} together"
        if n.error is not None:
            parts.append(f"{name}: {n.error}")
        elif n.factor is None:
            parts.append(f"{name}{' alone' if len(n.processes) == 1 else ''}: not within {n.max_factor}x")
        else:
            counts = [f"{p} " * (len(n.processes) > 1) + f"{_count(generated[p])} -> {_count(n.factor * generated[p])}"
                      for p in n.processes if p in generated]  # fmt: skip
            each = " each" if len(n.processes) > 1 else ""
            parts.append(
                f"{name}: {n.factor}x more events{each}" + (f" ({', '.join(counts)} generated)" if counts else "")
            )
    return "; ".join(parts)


@dataclass(frozen=True)
class MCImpact:
    """A result against the same likelihood without MC statistical uncertainty: its Z and median
    limit, the two ratios (:func:`mc_ratios`), whether either is below the threshold, and for an
    MC-limited result the searches of :func:`events_needed`; ``error`` is the FitError of the fit
    without MC statistics (then the ratios are NaN and nothing is flagged)."""

    z_without: float
    limit_without: float
    z_ratio: float
    limit_ratio: float
    limited: bool
    needed: tuple[EventsNeeded, ...] = ()
    error: str | None = None


def mc_impact(
    samples: Sequence[BinnedSample],
    with_mc: tuple[float, float],
    evaluate: EvaluateWith,
    mc_statistics: MCStatistics,
    threshold: float,
    max_factor: int = MAX_FACTOR,
) -> MCImpact:
    """How much the MC statistics ``mc_statistics`` cost the result ``with_mc`` (Z, median limit;
    NaN if its fits failed) of the likelihood that ``evaluate(samples, mc_statistics)`` gives: one
    fit with them disabled, and if either ratio is below ``threshold`` the search for the events
    needed (:func:`events_needed`) over the processes that carry MC-statistics terms. Without MC
    statistics in the model the ratios are 1 and nothing is fitted."""
    if not mc_statistics.enabled:
        return MCImpact(*with_mc, 1.0, 1.0, False)
    if not all(math.isfinite(x) for x in with_mc):
        return MCImpact(math.nan, math.nan, math.nan, math.nan, False)
    try:
        without_mc = evaluate(samples, MCStatistics(enabled=False))
    except FitError as err:
        return MCImpact(math.nan, math.nan, math.nan, math.nan, False, error=str(err))
    ratios = mc_ratios(with_mc, without_mc)
    if not any(r < threshold for r in ratios):
        return MCImpact(*without_mc, *ratios, False)
    carriers = [name for name, terms in mc_statistics_modifiers(samples, mc_statistics).items() if terms]
    needed = events_needed(samples, carriers, lambda s: evaluate(s, mc_statistics), without_mc, threshold, max_factor)
    return MCImpact(*without_mc, *ratios, True, tuple(needed))
