"""Which resonance decays a process keeps: the decay filter of a process (config ``decay_filter``).

Used twice over: on full Pythia event batches after generation (:meth:`DecayFilter.passes`) and
on each hard-process record before the shower (:meth:`DecayFilter.accepts`, asked by the veto
hook :class:`~phenoflow.generation.veto.DecayVeto`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import awkward as ak
import numpy as np

from phenoflow.arrays import isin

if TYPE_CHECKING:
    import pythia8mc


@dataclass(frozen=True)
class DecayFilter:
    """Keep events whose hard-process resonances ``mother`` decay into the given channels.

    ``channels`` lists, per resonance, the set of allowed |PDG id| of its (two-body) decay
    products; the event passes when exactly one resonance decays into each channel, as in
    ZZ -> (qq)(vv): ``DecayFilter(23, ((1, 2, 3, 4, 5), (12, 14, 16)))``. The products are the
    hard process's outgoing particles (|status| 23) whose first mother has |PDG id| ``mother``:
    there must be two per channel, and as many in each distinct channel as it is listed times two.
    """

    mother: int
    channels: tuple[tuple[int, ...], ...]

    @cached_property
    def _required(self) -> dict[tuple[int, ...], int]:
        """Times each distinct channel (its sorted |PDG ids|) is listed."""
        return dict(Counter(tuple(sorted(channel)) for channel in self.channels))

    def passes(self, prt: ak.Array) -> np.ndarray:
        """Boolean mask over the events of a Pythia batch (``prt`` of ``nextBatch``: full events)."""
        hard = prt[abs(prt.status) == 23]
        products = hard[abs(prt.id[hard.mother1]) == self.mother]
        pdg = abs(products.id)
        keep = ak.num(products) == 2 * len(self.channels)
        for channel, count in self._required.items():
            keep = keep & (ak.sum(isin(pdg, channel), axis=1) == 2 * count)
        return ak.to_numpy(keep)

    def accepts(self, process: pythia8mc.Event) -> bool:
        """Whether one ``pythia8mc.Event`` record passes (the same test as :meth:`passes`); the
        veto (:class:`~phenoflow.generation.veto.DecayVeto`) asks it of each hard-process record."""
        pdg = [
            abs(process[i].id())
            for i in range(process.size())
            if abs(process[i].status()) == 23 and abs(process[process[i].mother1()].id()) == self.mother
        ]
        return len(pdg) == 2 * len(self.channels) and all(
            sum(p in channel for p in pdg) == 2 * count for channel, count in self._required.items()
        )
