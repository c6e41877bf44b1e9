"""Event generation backends and the dispatch from a configured process to one chunk of events.

A process is either Pythia8 settings (``pythia``, optionally a ``bias`` towards high pT-hat and a
``decay_filter``) or an LHE file (``lhe``) showered with Pythia8. Both return a
:class:`~phenoflow.generation.pythia.GeneratedChunk`.
"""

from __future__ import annotations

import logging

from phenoflow.generation.pythia import (
    DecayFilter,
    GeneratedChunk,
    bias_settings,
    generate,
    hand_set_bias,
    pythia_settings,
    shower_variation_settings,
    shower_variations,
)

__all__ = [
    "DecayFilter",
    "GeneratedChunk",
    "bias_settings",
    "generate",
    "generate_chunk",
    "hand_set_bias",
    "pythia_settings",
    "shower_variation_settings",
    "shower_variations",
]

log = logging.getLogger("phenoflow.generation")


def generate_chunk(
    process: dict,
    n_events: int,
    first_event: int,
    seed: int,
    sqrt_s_gev: float,
    lhe_scan: tuple[str, str] | None = None,
    beams: tuple[int, int] = (2212, 2212),
) -> tuple[GeneratedChunk, list[str]]:
    """Generate chunk events ``first_event`` .. ``first_event + n_events - 1`` of a configured process.

    ``process`` is the generator part of a process's config (``pythia``, ``bias`` and
    ``decay_filter``, or ``lhe``; either with ``shower_variations``). Returns the chunk and the
    Pythia settings that describe it (for the record). The chunk carries the variations of the
    process's ``lhe.variations`` and ``shower_variations``, in that order. For a Pythia process ``beams`` are the PDG ids of the two beams, each at
    ``sqrt_s_gev / 2`` (GeV).
    For an LHE file the beams come from the file (the config check refuses a file whose beams are
    not the collider's unless ``lhe.allow_beam_mismatch``); a different sqrt(s) is logged as a warning.
    ``lhe_scan`` (header JSON, weights ``.npy`` of :func:`~phenoflow.generation.lhe.write_scan`)
    spares reading the whole LHE file, and a file with too few events fails before showering.
    """
    showers = shower_variations(process.get("shower_variations", []))
    if "lhe" in process:
        from phenoflow.generation.lhe import read_scan
        from phenoflow.generation.lhe_shower import shower

        lhe = process["lhe"]
        extra = list(lhe.get("pythia", []))
        scanned = read_scan(*lhe_scan) if lhe_scan else None
        if scanned is not None and scanned[0].n_events < first_event + n_events:
            raise ValueError(
                f"{lhe['file']}: has {scanned[0].n_events} events, fewer than the "
                f"{first_event + n_events} this process asks for; lower its 'events'"
            )
        chunk = shower(
            lhe["file"],
            n_events,
            seed=seed,
            extra_settings=extra,
            first_event=first_event,
            scanned=scanned,
            variations=lhe.get("variations", []),
            shower_variations=showers,
        )
        file_sqrt_s, file_beams = chunk.info["sqrt_s_gev"], tuple(chunk.info["beam_pdg"])
        if abs(file_sqrt_s - sqrt_s_gev) > 1e-6 * sqrt_s_gev or sorted(file_beams) != sorted(beams):
            log.warning(
                "%s: beams %s at sqrt(s) = %g GeV, not the configured %s at %g GeV (allowed by lhe.allow_beam_mismatch)",
                lhe["file"],
                file_beams,
                file_sqrt_s,
                tuple(beams),
                sqrt_s_gev,
            )
        if chunk.n_accepted != n_events:
            raise ValueError(
                f"{lhe['file']}: has {chunk.info['n_events_file']} events, fewer than the "
                f"{first_event + n_events} this process asks for; lower its 'events'"
            )
        settings = [f"Beams:LHEF = {lhe['file']}", f"Beams:nSkipLHEFatInit = {first_event}"]
        return chunk, [*settings, *shower_variation_settings(showers), *extra]
    dfilter = process.get("decay_filter")
    if dfilter:
        dfilter = DecayFilter(dfilter["mother"], tuple(tuple(c) for c in dfilter["channels"]))
    lines = list(process["pythia"])
    if process.get("bias"):
        if hand_set_bias(lines):
            raise ValueError("a process with a 'bias' key may not set PhaseSpace:bias2Selection* in its 'pythia' lines")
        lines += bias_settings(process["bias"])
    settings = pythia_settings(lines, sqrt_s_gev, seed, tuple(beams))
    # after the process's lines, which may not set them (reserved)
    settings += shower_variation_settings(showers)
    return generate(settings, n_events, dfilter, variations=showers), settings
