"""Public names of the package (read by lazy_loader.attach_stub and by type checkers)."""

from . import (
    baselines as baselines,
    crossfit as crossfit,
    gmm as gmm,
    methods as methods,
    optimal as optimal,
    plots as plots,
    rule as rule,
    simplex as simplex,
    study as study,
    toys as toys,
)
from .crossfit import CrossFit as CrossFit, crossfit_binning as crossfit_binning
from .gmm import GMMBinningResult as GMMBinningResult, GMMSettings as GMMSettings, fit_gmm_binning as fit_gmm_binning
from .methods import (
    Binning as Binning,
    MethodOptions as MethodOptions,
    evaluate_binning as evaluate_binning,
    registered as registered,
)
from .optimal import optimal_edges as optimal_edges
from .rule import BinRule as BinRule, BinYields as BinYields, combined_significance as combined_significance
from .study import Plan as Plan, run_binnings as run_binnings, run_simplex_binnings as run_simplex_binnings
