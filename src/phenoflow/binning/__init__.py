"""Binning of classifier scores: the rule every method is judged by, the methods, the study and its plots.

Its public names are importable from here (``from phenoflow.binning import ...``), each loaded with
its module on first use, so that a job pays only for the modules it uses; the stub
``__init__.pyi`` lists them (SPEC 1 lazy loading, :mod:`lazy_loader`).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
