"""Build the jet images of all skimmed events and their average per class (rule images)."""

import awkward as ak
import numpy as np
import pandas as pd

from phenoflow.features import plots
from phenoflow.features.datasets import image_metadata
from phenoflow.features.images import average_image, leading_fatjet_inputs, spec_from_config, write_jet_images
from phenoflow.io import atomic_path, write_yaml
from phenoflow.logs import to_log_file
from phenoflow.plotstyle import Collision
from phenoflow.provenance import now

started = now()
p = snakemake.params
out = snakemake.output
with to_log_file(snakemake.log[0]) as log:
    spec = spec_from_config(p.spec)
    chunks = (leading_fatjet_inputs(ak.from_parquet(path), p.radius) for path in snakemake.input.events)
    with atomic_path(out.images) as tmp:
        shape = write_jet_images(tmp, chunks, spec)
    table = pd.read_parquet(snakemake.input.table, columns=["process", "label", "weight"])
    if len(table) != shape[0]:
        raise RuntimeError(f"{len(table)} feature rows but {shape[0]} images: the inputs are out of step")
    images = np.load(out.images, mmap_mode="r")
    label, weight = table["label"].to_numpy(), table["weight"].to_numpy()
    averages = {
        name: average_image(images[label == value], weight[label == value])
        for name, value in (("signal", 1), ("background", 0))
    }
    extent = (-spec.half_width_eta, spec.half_width_eta, -spec.half_width_phi, spec.half_width_phi)
    plots.average_images(averages, extent, out.average, collision=Collision(p.sqrt_s_gev))
    write_yaml(out.metadata, image_metadata(table, shape, p.spec, p.provenance, started, snakemake.input.events))
    log.info("%d jet images of %d x %d pixels", *shape)
