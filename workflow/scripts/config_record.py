"""Write the validated analysis config into the results (rule config_record)."""

from phenoflow.io import write_yaml
from phenoflow.logs import to_log_file

with to_log_file(snakemake.log[0]):
    write_yaml(snakemake.output[0], snakemake.params.config)
