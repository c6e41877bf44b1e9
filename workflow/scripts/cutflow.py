"""Concatenate the per-process cutflows and plot them (rule cutflow)."""

import pandas as pd

from phenoflow.events import plots
from phenoflow.io import atomic_path
from phenoflow.logs import to_log_file
from phenoflow.plotstyle import Collision
from phenoflow.provenance import now, write_record

started = now()
with to_log_file(snakemake.log[0]):
    table = pd.concat([pd.read_csv(f) for f in snakemake.input], ignore_index=True)
    with atomic_path(snakemake.output.table) as tmp:
        table.to_csv(tmp, index=False)
    collision = Collision(snakemake.params.sqrt_s_gev, snakemake.params.luminosity_fb)
    plots.cutflow(table, snakemake.output.plot, collision=collision)
    write_record(snakemake.output.provenance, snakemake.params.provenance, started, snakemake.input, kind="cutflow")
