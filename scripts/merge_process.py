"""Merge the chunk summaries of a process into its cross section and counts (rule merge_process)."""

from phenoflow.crosssection import merge_chunks
from phenoflow.io import read_json, write_json
from phenoflow.logs import to_log_file

with to_log_file(snakemake.log[0]) as log:
    summary = merge_chunks([read_json(f) for f in snakemake.input], snakemake.params.cross_section)
    write_json(snakemake.output[0], {"process": snakemake.wildcards.process, **summary})
    log.info("sigma = %.6g +- %.2g pb from %d events", summary["sigma_pb"], summary["sigma_err_pb"], summary["n_events"])
