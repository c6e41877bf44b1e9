"""Public names of the package (read by lazy_loader.attach_stub and by type checkers)."""

from . import (
    fits as fits,
    likelihood as likelihood,
    mclimit as mclimit,
    plots as plots,
    study as study,
    theory as theory,
)
from .fits import ExpectedResults as ExpectedResults, FitError as FitError, expected_results as expected_results
from .likelihood import MCStatistics as MCStatistics, workspace_spec as workspace_spec
from .mclimit import events_needed as events_needed, mc_impact as mc_impact
from .study import InferenceSettings as InferenceSettings, run_inference as run_inference
from .theory import TheorySystematics as TheorySystematics, group_shift as group_shift
