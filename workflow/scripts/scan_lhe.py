"""Read an LHE file once for the chunks of its process (rule scan_lhe)."""

from phenoflow.generation.lhe import write_scan
from phenoflow.logs import to_log_file

with to_log_file(snakemake.log[0]) as log:
    header = write_scan(
        snakemake.input.lhe, snakemake.output.header, snakemake.output.weights, snakemake.params.variations
    )
    log.info(
        "%s: %d events, IDWTUP %d, sqrt(s) = %g GeV", header.path, header.n_events, header.idwtup, header.sqrt_s_gev
    )
