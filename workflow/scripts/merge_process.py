"""Merge the chunk summaries of a process into its cross section and counts (rule merge_process)."""

from phenoflow.generation.crosssection import merge_chunks
from phenoflow.io import read_json, write_json
from phenoflow.logs import to_log_file
from phenoflow.provenance import now, write_record

started = now()
with to_log_file(snakemake.log[0]) as log:
    chunks = [read_json(f) for f in snakemake.input.chunks]
    summary = merge_chunks(chunks, snakemake.params.cross_section)
    write_json(snakemake.output.summary, {"process": snakemake.wildcards.process, **summary})
    seeds = {f"chunk{c['chunk']}": {"generator": c["seed"], "detector": c.get("detector_seed")} for c in chunks}
    write_record(snakemake.output.provenance, snakemake.params.provenance, started, snakemake.input,
                 kind="generated events", seeds=seeds)  # fmt: skip
    log.info(
        "sigma = %.6g +- %.2g pb from %d events", summary["sigma_pb"], summary["sigma_err_pb"], summary["n_events"]
    )
