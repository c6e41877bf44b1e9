"""Build the jet images of all skimmed events and their average per class (rule images)."""

import pandas as pd

from phenoflow.features import plots
from phenoflow.features.datasets import image_metadata
from phenoflow.features.images import (
    READ_EVENTS,
    ImageAverages,
    leading_fatjet_inputs,
    spec_from_config,
    write_jet_images,
)
from phenoflow.io import atomic_path, write_yaml
from phenoflow.logs import to_log_file
from phenoflow.parquet import ColumnCursor, read_awkward
from phenoflow.plotstyle import Collision
from phenoflow.provenance import now

started = now()
p = snakemake.params
out = snakemake.output
with to_log_file(snakemake.log[0]) as log:
    spec = spec_from_config(p.spec)
    table = ColumnCursor(snakemake.input.table, ["label", "weight"])  # read in step with the images
    averages = ImageAverages({"signal": 1, "background": 0}, spec.shape)
    skimmed = read_awkward(snakemake.input.events, columns=["fatjet", "eflow"], batch_rows=READ_EVENTS)
    chunks = (leading_fatjet_inputs(events, p.radius) for events in skimmed)
    with atomic_path(out.images) as tmp:
        shape = write_jet_images(tmp, chunks, spec, on_batch=lambda images: averages.add(images, **table.take(len(images))))  # fmt: skip
        if table.n_rows != shape[0]:
            raise RuntimeError(f"{table.n_rows} feature rows but {shape[0]} images: the inputs are out of step")
    extent = (-spec.half_width_eta, spec.half_width_eta, -spec.half_width_phi, spec.half_width_phi)
    plots.average_images(averages.averages(), extent, out.average, collision=Collision(p.sqrt_s_gev))
    processes = pd.read_parquet(snakemake.input.table, columns=["process"])
    write_yaml(out.metadata, image_metadata(processes, shape, p.spec, p.provenance, started, snakemake.input.events))
    log.info("%d jet images of %d x %d pixels", *shape)
