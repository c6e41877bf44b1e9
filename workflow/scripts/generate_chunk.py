"""Generate one chunk, simulate the detector and write its Delphes-layout ntuple (rule generate_chunk)."""

import math

from phenoflow.detector.card import load_card
from phenoflow.detector.ntuple import delphes_branches, write_ntuple
from phenoflow.detector.simulation import simulate
from phenoflow.generation import generate_chunk
from phenoflow.generation.crosssection import variation_summary
from phenoflow.io import write_json
from phenoflow.logs import redirect_native_output, to_log_file
from phenoflow.retry import not_repeated

p = snakemake.params
with to_log_file(snakemake.log[0]) as log:
    # an LHE process's chunks share one read of the file (rule scan_lhe)
    lhe_scan = (snakemake.input.lhe_header, snakemake.input.lhe_weights) if snakemake.input.get("lhe_header") else None
    # Pythia prints (C++ std::cout) into this log; a retry does not repeat a failure on the input
    with (
        not_repeated(p.failure_record, snakemake.resources.attempt, snakemake.log[0]),
        redirect_native_output(snakemake.log[0]),
    ):
        chunk, settings = generate_chunk(p.generator, p.n_events, p.first_event, p.seed, p.sqrt_s, lhe_scan, p.beams)
    objects = simulate(chunk.particles, load_card(snakemake.input.card), p.detector_seed)
    write_ntuple(
        snakemake.output.ntuple,
        delphes_branches(
            objects, chunk.weights, chunk.sigma_pb, chunk.sigma_err_pb, p.first_event, chunk.variation_weights
        ),
    )
    write_json(
        snakemake.output.summary,
        {
            "process": snakemake.wildcards.process,
            "chunk": int(snakemake.wildcards.chunk),
            "seed": p.seed,
            "detector_seed": p.detector_seed,
            "detector_card": snakemake.input.card,
            "n_events": chunk.n_accepted,
            "n_tried": chunk.n_tried,
            "sum_weights": math.fsum(chunk.weights),
            "sigma_pb": chunk.sigma_pb,
            "sigma_err_pb": chunk.sigma_err_pb,
            "filter_efficiency": chunk.filter_efficiency,
            "pythia_settings": settings,
            **chunk.info,
            **variation_summary(chunk.variations, chunk.variation_weights),
        },
    )
    log.info("chunk done: %d events, sigma = %.6g +- %.2g pb", chunk.n_accepted, chunk.sigma_pb, chunk.sigma_err_pb)
