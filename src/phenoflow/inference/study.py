"""The inference stage: a likelihood per optimised binning of one classifier's score, and the
table of its expected discovery significance and CLs limits across binning methods and K.

Each chosen row of the binning stage (``binning.json``; 1-D score binnings only, simplex rows
of multi-class classifiers are skipped) gives edges; the scored events (every event with k-fold
training, else the test split) give every process's
yields and sum w^2 in them (:func:`phenoflow.inference.likelihood.binned_samples`), from which a HistFactory
workspace is written (:mod:`phenoflow.inference.likelihood`) and evaluated (:mod:`phenoflow.inference.fits`). For comparison the table also
holds the binning's own sqrt(sum Z_A^2) and the same with Cowan's per-bin background uncertainty
(:func:`phenoflow.binning.rule.combined_significance` with the config's ``significance``
block).

With theory variations (weight columns ``weight:<name>`` in the scores, the processes'
:class:`~phenoflow.variations.Variation` lists given) the likelihood carries the theory
systematics (:mod:`phenoflow.inference.theory`), and the table holds Z and the median limit also
without them (:data:`THEORY_COLUMNS`); without variations the table and workspaces are as before.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from phenoflow.binning.crossfit import row_bins
from phenoflow.binning.rule import combined_significance
from phenoflow.defaults import default
from phenoflow.inference.fits import FitError, expected_results
from phenoflow.inference.likelihood import (
    BinnedSample,
    MCStatistics,
    binned_samples,
    effective_background_events,
    workspace_spec,
)
from phenoflow.inference.mclimit import describe, mc_impact, mc_ratios
from phenoflow.inference.theory import TheorySystematics, describe_shifts, modifier_name
from phenoflow.io import atomic_path, write_json
from phenoflow.significance import Significance
from phenoflow.variations import WEIGHT_COLUMN_PREFIX, Variation, groups

log = logging.getLogger(__name__)

#: The likelihood's expected results in the inference table.
RESULTS = ["z_discovery", "limit_minus2", "limit_minus1", "limit_median", "limit_plus1", "limit_plus2"]
#: The comparison without MC statistical uncertainty (:mod:`phenoflow.inference.mclimit`).
MC_COLUMNS = [
    "z_discovery_no_mc",
    "limit_median_no_mc",
    "z_ratio_mc",
    "limit_ratio_mc",
    "mc_limited",
    "mc_events_needed",
]
#: Columns of the inference table, in order.
COLUMNS = ["method", "n_bins_requested", "n_bins", "z_asimov", "z_cowan", *RESULTS, *MC_COLUMNS, "notes"]
#: The comparison without theory systematics, before ``notes`` in a table whose likelihoods have
#: any: Z and median limit without them, Z with / Z without and limit without / limit with.
THEORY_COLUMNS = ["z_discovery_no_theory", "limit_median_no_theory", "z_ratio_theory", "limit_ratio_theory"]
#: The keys of the config's ``inference`` block :meth:`InferenceSettings.from_config` reads.
SETTINGS_KEYS = ("luminosity_uncertainty", "normalisation", "mc_statistics", "theory", "cl", "mc_limited_below")


@dataclass(frozen=True)
class InferenceSettings:
    """How each likelihood is built and read: ``luminosity_uncertainty`` (relative, on every
    sample), ``normalisation`` (process -> relative uncertainty), ``mc_statistics`` and ``theory``
    as :func:`~phenoflow.inference.likelihood.workspace_spec` takes them; ``cl``, the confidence
    level of the limits; ``significance``, the binned Z of the table's Cowan column; a result whose
    Z or median-limit ratio without MC statistics is below ``mc_limited_below`` is MC-limited."""

    luminosity_uncertainty: float
    normalisation: Mapping[str, float]
    mc_statistics: MCStatistics
    cl: float
    significance: Significance
    mc_limited_below: float = default("inference.mc_limited_below")
    theory: TheorySystematics = TheorySystematics()

    @classmethod
    def from_config(cls, inference: Mapping, significance: Mapping | None, key: str = "inference") -> InferenceSettings:
        """From the config's ``inference`` block as the schema's defaults fill it (its keys
        :data:`SETTINGS_KEYS`; others are ignored) and its ``significance`` block. A missing key
        is a ValueError naming it, as are the bad values of ``mc_statistics`` and ``theory``."""
        missing = [f"{key}.{name}" for name in SETTINGS_KEYS if name not in inference]
        if missing:
            raise ValueError(f"{', '.join(missing)}: missing (the config schema's defaults fill them)")
        return cls(
            luminosity_uncertainty=inference["luminosity_uncertainty"],
            normalisation=inference["normalisation"],
            mc_statistics=MCStatistics.from_config(inference["mc_statistics"], f"{key}.mc_statistics"),
            cl=inference["cl"],
            significance=Significance.from_config(significance),
            mc_limited_below=inference["mc_limited_below"],
            theory=TheorySystematics.from_config(inference["theory"], f"{key}.theory"),
        )


def select_rows(rows: Sequence[Mapping], methods: Sequence[str], n_bins: Sequence[int]) -> tuple[list[Mapping], int]:
    """The 1-D score rows of ``binning.json`` for the chosen methods and K (in that order), and
    how many simplex rows were left out. A chosen (method, K) without a row is an error."""
    score = {(r["method"], r["n_bins_requested"]): r for r in rows if r.get("space", "score") == "score"}
    missing = [f"{m}, K = {k}" for m in methods for k in n_bins if (m, k) not in score]
    if missing:
        raise ValueError(f"binning.json has no score binning for {', '.join(missing)}")
    return [score[(m, k)] for m in methods for k in n_bins], sum(r.get("space") == "simplex" for r in rows)


def run_inference(
    scores: pd.DataFrame,
    rows: Sequence[Mapping],
    workspace_path: Callable[[str, int], str | os.PathLike],
    settings: InferenceSettings,
    *,
    generated: Mapping[str, int] | None = None,
    variations: Mapping[str, Sequence[Variation]] | None = None,
) -> pd.DataFrame:
    """Write a workspace for each binning row to ``workspace_path(method, K)`` and return the
    table (:data:`COLUMNS`). ``scores``: the evaluation's test table (score, weight at the full
    luminosity, label, process, and the variations' weights ``weight:<name>``); ``settings``: the
    likelihood, its limits' confidence level and the table's Cowan column. The notes name the bins
    whose MC statistics got Poisson terms.

    ``variations``: process -> its theory variations, whose weight columns in ``scores`` give the
    theory systematics as ``settings.theory`` says; when any sample gets them the table has the
    :data:`THEORY_COLUMNS` (each likelihood fitted again without them) and the notes give each
    modifier's up and down total.

    Each result is also fitted without MC statistics (:func:`phenoflow.inference.mclimit.mc_impact`):
    a row whose Z or median-limit ratio is below ``settings.mc_limited_below`` is ``mc_limited``, and
    ``mc_events_needed`` says how many times more generated events of which process would lift
    it to the threshold (with the counts of ``generated``, process -> generated events, where
    given)."""
    theory, mc_statistics = settings.theory, settings.mc_statistics
    options = {
        "luminosity_uncertainty": settings.luminosity_uncertainty,
        "normalisation": settings.normalisation,
        "theory": theory,
    }

    def evaluate(samples: Sequence[BinnedSample], mc: MCStatistics, **theory_off) -> tuple[float, float]:
        spec = workspace_spec(samples, **{**options, **theory_off}, mc_statistics=mc)
        result = expected_results(spec, settings.cl, bands=(0,))
        return result.significance, result.limits[2]

    table, with_theory = [], False
    for row in rows:
        method, k = row["method"], row["n_bins_requested"]
        samples, notes = row_samples(scores, row, theory, variations)
        try:
            spec = workspace_spec(samples, **options, mc_statistics=mc_statistics)
        except ValueError as err:
            raise ValueError(f"binning {method}, K = {k}: {err}") from err
        poisson = np.flatnonzero(effective_background_events(samples) < mc_statistics.poisson_below)
        if mc_statistics.enabled and poisson.size:
            notes.append(
                f"MC statistics: Poisson terms (shapesys) in bins {poisson.tolist()}, "
                f"below {mc_statistics.poisson_below:g} effective background MC events"
            )
        write_json(workspace_path(method, k), spec)
        try:
            results = expected_results(spec, settings.cl).as_dict()
        except FitError as err:
            log.warning("%s, K = %d: no expected results: %s", method, k, err)
            results, notes = dict.fromkeys(RESULTS, np.nan), [*notes, f"no expected results: {err}"]
        start = time.perf_counter()
        impact = mc_impact(
            samples,
            (results["z_discovery"], results["limit_median"]),
            evaluate,
            mc_statistics,
            settings.mc_limited_below,
        )
        if impact.error is not None:
            notes.append(f"no results without MC statistics: {impact.error}")
        needed = describe(impact.needed, generated)
        log.info("%s, K = %d: without MC statistics %.1f s%s", method, k, time.perf_counter() - start,
                 f"; MC-limited: {needed}" if impact.limited else "")  # fmt: skip
        varied_samples = [p for p in samples if p.theory]
        without_theory = {}
        if varied_samples:
            with_theory = True
            notes.append("theory systematics: " + "; ".join(describe_shifts(p.name, p.yields, p.theory, theory)
                                                            for p in varied_samples))  # fmt: skip
            without_theory = _without_theory(samples, (results["z_discovery"], results["limit_median"]),
                                             lambda s: evaluate(s, mc_statistics, theory=False), notes)  # fmt: skip
        s = np.sum([p.yields for p in samples if p.signal], axis=0)
        b = np.sum([p.yields for p in samples if not p.signal], axis=0)
        sumw2 = np.sum([p.sumw2 for p in samples if not p.signal], axis=0)
        table.append({
            "method": method, "n_bins_requested": k, "n_bins": len(b),
            "z_asimov": combined_significance(s, b),
            "z_cowan": combined_significance(s, b, sumw2, settings.significance),
            **{key: results[key] for key in RESULTS},
            "z_discovery_no_mc": impact.z_without, "limit_median_no_mc": impact.limit_without,
            "z_ratio_mc": impact.z_ratio, "limit_ratio_mc": impact.limit_ratio,
            "mc_limited": impact.limited, "mc_events_needed": needed,
            **without_theory, "notes": "; ".join(notes),
        })  # fmt: skip
        log.info(
            "%s, K = %d: Z = %.3f, median limit mu < %.4g", method, k, results["z_discovery"], results["limit_median"]
        )
    return pd.DataFrame(table, columns=[*COLUMNS[:-1], *THEORY_COLUMNS, "notes"] if with_theory else COLUMNS)


def row_samples(
    scores: pd.DataFrame,
    row: Mapping,
    theory: TheorySystematics,
    variations: Mapping[str, Sequence[Variation]] | None = None,
) -> tuple[list[BinnedSample], list[str]]:
    """The samples of one binning ``row`` of ``binning.json`` and the notes on them
    (:func:`~phenoflow.inference.likelihood.binned_samples` of the ``scores`` in its bins), with
    their theory shifts from the scores' ``weight:<name>`` columns where ``theory`` is enabled
    and ``variations`` (process -> its theory variations) are given."""
    w, y = (scores[c].to_numpy() for c in ("weight", "label"))
    processes = scores["process"].astype(str).to_numpy()
    varied = {}
    if theory.enabled and variations:
        columns = {c: scores[c].to_numpy() for c in scores.columns if str(c).startswith(WEIGHT_COLUMN_PREFIX)}
        varied = {"variations": variations, "variation_weights": columns}
    n_bins = len(row["fold_edges"][0] if "fold_edges" in row else row["edges"]) - 1
    return binned_samples(row_bins(row, scores), n_bins, w, processes, y, **varied)


def headline_row(table: pd.DataFrame, rows: Sequence[Mapping]) -> Mapping:
    """The binning row (of ``rows``, in the order of ``table``, the :func:`run_inference` table of
    them) with the smallest finite median limit, the headline table's choice; the first row if
    no limit is finite."""
    limits = pd.to_numeric(table["limit_median"], errors="coerce").to_numpy(np.float64)
    finite = np.flatnonzero(np.isfinite(limits))
    return rows[int(finite[np.argmin(limits[finite])]) if finite.size else 0]


def _without_theory(
    samples: Sequence[BinnedSample],
    with_theory: tuple[float, float],
    evaluate: Callable[[Sequence[BinnedSample]], tuple[float, float]],
    notes: list[str],
) -> dict[str, float]:
    """The :data:`THEORY_COLUMNS` of one row: ``evaluate`` (the same likelihood without theory
    systematics) against the result ``with_theory`` (Z, median limit); NaN where a fit failed
    (said in ``notes``) or the result with them is missing."""
    without = (np.nan, np.nan)
    if all(np.isfinite(with_theory)):
        try:
            without = evaluate(samples)
        except FitError as err:
            notes.append(f"no results without theory systematics: {err}")
    return dict(zip(THEORY_COLUMNS, (*without, *mc_ratios(with_theory, without))))


def uncertainty_note(settings: InferenceSettings, variations: Mapping[str, Sequence[Variation]] | None = None) -> str:
    """The markdown table's note on which uncertainties each Z of the table carries (the binned
    Z and the likelihood's do not carry the same) and on the columns without MC statistics and,
    with ``variations`` (process -> its theory variations) and ``settings.theory`` enabled, which
    theory systematics the likelihoods carry and the columns without them."""
    cowan, luminosity_uncertainty = settings.significance, settings.luminosity_uncertainty
    mc_statistics, mc_limited_below = settings.mc_statistics, settings.mc_limited_below
    terms = (
        [f"({100 * cowan.relative_background_uncertainty:g} % of b)²"] if cowan.relative_background_uncertainty else []
    )
    terms += ["Σw² of the bin's background (its MC error)"] if cowan.mc_statistics else []
    binned = (
        f"Cowan's Z with σ_b² = {' + '.join(terms)} in each bin (the `significance` block)" if terms else "Z_A again"
    )
    likelihood = [f"luminosity {100 * luminosity_uncertainty:g} % (one parameter on every sample)"] * bool(
        luminosity_uncertainty
    )
    likelihood += [f"normalisation of {p} {100 * u:g} %" for p, u in sorted(settings.normalisation.items()) if u > 0]
    if mc_statistics.enabled:
        carriers = "every sample" if mc_statistics.include_signal else "the background samples"
        likelihood.append(
            f"MC statistics of {carriers} (a Gaussian staterror per bin, Poisson shapesys per process in bins"
            f" below {mc_statistics.poisson_below:g} effective background MC events)"
        )
    theory_text = _theory_note(settings.theory, variations or {})
    likelihood += [theory_text] * bool(theory_text)
    return (
        "Uncertainties: Z_A (binning) has none. Z (Cowan) is "
        f"{binned}, bins combined as √ΣZ², i.e. uncorrelated between bins, with no luminosity or"
        " per-process normalisation uncertainty. Z (likelihood) and the limits carry "
        f"{', '.join(likelihood) or 'no uncertainty'}; the luminosity and each normalisation are one"
        " parameter across all bins (correlated), the MC statistics one per bin, and there is no"
        " per-bin relative systematic. The two therefore do not carry the same uncertainties."
        ' "no MC stat.": the same likelihood without its MC statistics; ratios Z / Z without and'
        f" limit without / limit. MC-limited: either ratio below {mc_limited_below:g}, i.e. the"
        " simulated sample, not the physics, decides the result; the events needed are the smallest"
        " power-of-two factor of more generated events of that process (its Σw² divided by it,"
        " the binning held fixed) for which both ratios reach the threshold."
        + (
            ' "no theory syst.": the same likelihood without its theory systematics, ratios as for the MC'
            " statistics; the notes give each theory modifier's total up and down shift per binning."
        )
        * bool(theory_text)
        + "\n"
    )


#: What a theory modifier is in each mode (:data:`phenoflow.inference.theory.MODES`).
_MODE_TEXT = {
    "shape": "a histosys with the group's up and down yields",
    "norm": "a normsys with the group's total up and down ratios only",
    "both": "a normsys with the group's total up and down ratios and a histosys of the same parameter on its"
    " shapes normalised to the nominal total",
}


def _theory_note(theory: TheorySystematics, variations: Mapping[str, Sequence[Variation]]) -> str:
    """The theory systematics' part of :func:`uncertainty_note`: "" when disabled or none."""
    if not theory.enabled or not any(variations.values()):
        return ""
    modifiers: dict[str, list] = {}
    for process, vs in sorted(variations.items()):
        for group, members in groups(vs).items():
            entry = modifiers.setdefault(modifier_name(group, process, theory), [members[0].combine, set(), []])
            entry[1].add(len(members))
            entry[2].append(process)
    described = [
        f"{name} ({combine} of {'/'.join(map(str, sorted(sizes)))} variations; {', '.join(processes)})"
        for name, (combine, sizes, processes) in modifiers.items()
    ]
    return f"theory systematics where the scores carry their weights, each {_MODE_TEXT[theory.mode]}: " + ", ".join(
        described
    )


def write_table(
    table: pd.DataFrame,
    csv_path: str | os.PathLike,
    markdown_path: str | os.PathLike,
    *,
    cl: float,
    n_skipped: int,
    note: str = "",
) -> None:
    """The table as CSV and as a markdown table (4 significant digits) with a note on what the
    columns are (and ``note``, e.g. :func:`uncertainty_note`) and on skipped simplex binnings,
    each written atomically."""
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    shown = table.drop(columns="notes").copy()
    band = shown["limit_median"].map(lambda v: f"{v:.4g}")
    shown["limit_median"] = (
        band
        + " ["
        + shown["limit_minus1"].map(lambda v: f"{v:.3g}")
        + ", "
        + shown["limit_plus1"].map(lambda v: f"{v:.3g}")
        + "]"
    )
    shown["limit_median"] += (
        " ["
        + shown["limit_minus2"].map(lambda v: f"{v:.3g}")
        + ", "
        + shown["limit_plus2"].map(lambda v: f"{v:.3g}")
        + "]"
    )
    shown = shown.drop(columns=["limit_minus2", "limit_minus1", "limit_plus1", "limit_plus2"])
    for column in ("z_asimov", "z_cowan", "z_discovery", "z_discovery_no_mc", "limit_median_no_mc"):
        shown[column] = shown[column].map(lambda v: f"{v:.4g}")
    for column in ("z_ratio_mc", "limit_ratio_mc"):
        shown[column] = shown[column].map(lambda v: f"{v:.3f}")
    shown["mc_limited"] = [
        f"yes: {needed}" if limited else "no" for limited, needed in zip(table["mc_limited"], table["mc_events_needed"])
    ]
    shown = shown.drop(columns="mc_events_needed")
    headers = dict(zip(THEORY_COLUMNS, ["Z, no theory syst.", "median limit, no theory syst.", "Z ratio (theory)",
                                         "limit ratio (theory)"]))  # fmt: skip
    theory = [c for c in THEORY_COLUMNS if c in shown.columns]
    for column in theory:
        shown[column] = shown[column].map(lambda v, c=column: f"{v:.3f}" if "ratio" in c else f"{v:.4g}")
    shown.columns = [
        "method",
        "K",
        "bins kept",
        "Z_A (binning)",
        "Z (Cowan)",
        "Z (likelihood)",
        f"{100 * cl:g} % CL limit on mu [±1σ] [±2σ]",
        "Z, no MC stat.",
        "median limit, no MC stat.",
        "Z ratio",
        "limit ratio",
        "MC-limited: more events needed",
        *(headers[c] for c in theory),
    ]
    text = shown.to_markdown(index=False, disable_numparse=True) + "\n"
    text += "\nExpected (Asimov) results of the HistFactory likelihood of each binning (pyhf).\n"
    text += note
    if n_skipped:
        text += (
            f"{n_skipped} multi-class (simplex) binnings are not included: only 1-D score binnings get a likelihood.\n"
        )
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
