"""phenoflow: generation -> skim -> features -> train -> evaluate -> binning -> inference -> report."""

import os
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


# The library lives in src/: importable here and, through PYTHONPATH, in every job and conda env.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
_inherited = dict(os.environ).pop("PYTHONPATH", "")
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (SRC, _inherited) if p))

from phenoflow.config import check_config

# A concise list of problems, each naming its key; then Snakemake's validate fills the defaults.
check_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
validate(config, "workflow/schemas/config.schema.yaml")


onstart:
    # The HTCondor plugin passes each job's arguments unquoted: refuse paths it would break
    # before the first submission (the local and SLURM executors quote them).
    if workflow.executor_plugin.name == "htcondor":
        from phenoflow.config import htcondor_path_errors, input_paths

        where = {"working directory": os.getcwd(), "Snakefile": workflow.main_snakefile}
        where.update({f"configfile {i}": str(f) for i, f in enumerate(workflow.overwrite_configfiles)})
        errors = htcondor_path_errors({**where, **input_paths(config)})
        if errors:
            raise WorkflowError("cannot run through HTCondor:\n  " + "\n  ".join(errors))


include: "workflow/rules/common.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/skim.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/binning.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/report.smk"


rule all:
    """Everything the analysis produces; `snakemake --report` collects the report from it."""
    input:
        "results/config.yaml",
        "results/skim/cutflow.csv",
        expand("results/evaluation/{model}/metrics.json", model=MODELS),
        expand("results/evaluation/{model}/roc.png", model=MODELS),
        "results/evaluation/comparison.csv",
        expand("results/binning/{model}/table.csv", model=BINNED_MODELS),
        expand("results/inference/{model}/table.csv", model=INFERENCE_MODELS),
        ["results/features/images.yaml"] if "images" in config else [],
    default_target: True
