"""Preselect one process's events and attach physical weights (rule skim)."""

from phenoflow.events.observables import Substructure
from phenoflow.events.skim import WeightNorm, skim
from phenoflow.io import atomic_path, read_json
from phenoflow.logs import to_log_file
from phenoflow.provenance import now, write_record
from phenoflow.variations import from_records

started = now()
p = snakemake.params
with to_log_file(snakemake.log[0]) as log:
    summary = read_json(snakemake.input.summary)
    # the process's theory variations, in the order of its ntuples' Weight collection
    variations = tuple(v.name for v in from_records(summary.get("variations", [])))
    with atomic_path(snakemake.output.events) as tmp:
        _, cutflow = skim(
            snakemake.input.ntuples,
            p.cuts,
            WeightNorm(summary["sigma_pb"], summary["sum_weights"], p.luminosity_fb, variations),
            process=snakemake.wildcards.process,
            allow_empty=p.allow_empty,
            constituents=p.constituents,
            settings=Substructure.from_config(p.substructure),
            write_to=tmp,  # as the skim goes, one row group at a time
        )
    with atomic_path(snakemake.output.cutflow) as tmp:
        cutflow.to_csv(tmp, index=False)
    write_record(snakemake.output.provenance, p.provenance, started, snakemake.input, kind="skimmed events")
    log.info("cutflow:\n%s", cutflow.to_string(index=False))
