"""Generate one chunk with MadGraph5 + Pythia8 + Delphes (rule generate_madgraph_chunk).

MadGraph runs in ``chunk<i>.mg5/`` beside the outputs; the Delphes file is moved to the ntuple
output, and the command script, banner and Delphes card stay in that directory for the record.
"""

import os
import shutil
from pathlib import Path

from phenoflow.generation.madgraph import generate_chunk
from phenoflow.io import atomic_path, write_json
from phenoflow.logs import to_log_file

p = snakemake.params
w = snakemake.wildcards
ntuple = Path(snakemake.output.ntuple)
with to_log_file(snakemake.log[0]) as log:
    run = generate_chunk(
        p.generator["madgraph"],
        p.n_events,
        p.seed,
        p.sqrt_s,
        workdir=ntuple.with_suffix(".mg5"),
        log_path=snakemake.log[0],
        key=f"processes.{w.process}.madgraph",
        cores=snakemake.threads,
    )
    with atomic_path(ntuple) as tmp:
        shutil.move(run.delphes_root, tmp)
    write_json(
        snakemake.output.summary,
        {
            "process": w.process,
            "chunk": int(w.chunk),
            "seed": p.seed,
            "n_events": run.n_events,
            "n_tried": run.n_lhe_events,
            "sum_weights": run.sum_weights,
            "sigma_pb": run.sigma_pb,
            "sigma_err_pb": run.sigma_err_pb,
            "filter_efficiency": 1.0,
            "generator": "madgraph",
            "mg5_version": run.mg5_version,
            "mg5_script": os.path.relpath(run.script),
            "banner": os.path.relpath(run.banner),
            "delphes_card": os.path.relpath(run.delphes_card),
            "sigma_init_pb": run.banner_info.sigma_pb,
            "sigma_matched_pb": run.banner_info.sigma_matched_pb,
        },
    )
    log.info("chunk done: %d events, sigma = %.6g +- %.2g pb", run.n_events, run.sigma_pb, run.sigma_err_pb)
