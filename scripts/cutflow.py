"""Concatenate the per-process cutflows (rule cutflow)."""

import pandas as pd

from phenoflow.io import atomic_path
from phenoflow.logs import to_log_file

with to_log_file(snakemake.log[0]):
    table = pd.concat([pd.read_csv(f) for f in snakemake.input], ignore_index=True)
    with atomic_path(snakemake.output[0]) as tmp:
        table.to_csv(tmp, index=False)
