"""Public names of the package (read by lazy_loader.attach_stub and by type checkers)."""

from . import (
    bootstrap as bootstrap,
    comparison as comparison,
    headline as headline,
    metrics as metrics,
    plots as plots,
    scores as scores,
)
from .bootstrap import Bootstrap as Bootstrap, replica_metrics as replica_metrics
from .comparison import comparison_table as comparison_table, paired_differences as paired_differences
from .headline import headline_table as headline_table
from .metrics import max_significance as max_significance, weighted_auc as weighted_auc, weighted_roc as weighted_roc
from .scores import Evaluation as Evaluation, evaluate as evaluate
