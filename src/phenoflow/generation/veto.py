"""A decay filter applied before the shower: a Pythia ``UserHooks`` veto on the hard process.

Imports ``pythia8mc`` (the generation environment's); :func:`phenoflow.generation.pythia.generate`
installs it for a process with a ``decay_filter``.
"""

from __future__ import annotations

from collections.abc import Callable

import pythia8mc

from phenoflow.generation.decays import DecayFilter


class DecayVeto(pythia8mc.UserHooks):
    """Rejects a hard process whose resonance decays fail ``decay_filter``, before any shower,
    MPI or hadronisation is generated for it.

    The veto is Pythia's process-level one (``doVetoProcessLevel``, called once per hard process
    after its resonance decays): a rejected hard process is dropped whole and Pythia starts a
    new one inside the same ``next()``, so a veto is neither a failed event (``next()`` does not
    return False for it) nor a kept one; Pythia's ``sigmaGen`` counts it as selected but not
    accepted. The kept events are those the same filter would keep after the full event, with
    the same production kinematics. (A veto of the resonance decays alone, ``doVetoResonanceDecays``,
    would instead redo the decays of the same production until they pass, which over-represents
    the productions the filter rarely accepts and leaves ``sigmaGen`` unfiltered.)

    Counts the rejected hard processes (``n_vetoed``) and the sum and sum of squares of their
    generator weights (``sum_w``, ``sum_w2``), each weight read by ``weight()`` when the hook is
    called (Pythia's ``info.weight()``: a biased selection's weight is already set then).
    """

    def __init__(self, decay_filter: DecayFilter, weight: Callable[[], float]) -> None:
        super().__init__()
        self.decay_filter = decay_filter
        self._weight = weight
        self.n_vetoed = 0
        self.sum_w = 0.0
        self.sum_w2 = 0.0

    def canVetoProcessLevel(self) -> bool:
        return True

    def doVetoProcessLevel(self, process: pythia8mc.Event) -> bool:
        """True (veto) when the hard-process record ``process`` fails the decay filter."""
        if self.decay_filter.accepts(process):
            return False
        w = self._weight()
        self.n_vetoed += 1
        self.sum_w += w
        self.sum_w2 += w * w
        return True
