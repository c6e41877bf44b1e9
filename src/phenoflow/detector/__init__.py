"""The fast detector simulation: its card, the simulation and the Delphes-layout ntuples.

Its public names are importable from here (``from phenoflow.detector import ...``), each loaded with
its module on first use, so that a job pays only for the modules it uses; the stub
``__init__.pyi`` lists them (SPEC 1 lazy loading, :mod:`lazy_loader`).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
