"""Write the manifest of a classifier instance's fold models (rule ensemble)."""

from phenoflow.io import read_json
from phenoflow.logs import to_log_file
from phenoflow.models.ensemble import write_manifest
from phenoflow.provenance import now, write_record

started = now()
p = snakemake.params
out = snakemake.output
with to_log_file(snakemake.log[0]) as log:
    trainings = [read_json(path) for path in snakemake.input.trainings]
    manifest = write_manifest(out.manifest, snakemake.wildcards.model, p.method, p.file_name, trainings, p.split)
    write_record(out.provenance, p.provenance, started, snakemake.input, kind="fold ensemble")
    log.info(
        "%s: %d fold models, %.1f s of training", manifest["model"], manifest["n_folds"], manifest["training_time_s"]
    )
