"""Public names of the package (read by lazy_loader.attach_stub and by type checkers)."""

from . import (
    observables as observables,
    plots as plots,
    selection as selection,
    skim as skim,
    substructure as substructure,
)
from .observables import (
    Substructure as Substructure,
    needs_constituents as needs_constituents,
    observable as observable,
)
from .selection import Cut as Cut, SelectionError as SelectionError
from .skim import (
    EmptySelectionError as EmptySelectionError,
    WeightNorm as WeightNorm,
    physical_weights as physical_weights,
)
from .substructure import nsubjettiness as nsubjettiness, softdrop_mass as softdrop_mass
