"""Theory variations carried as event weights: what one variation is, and how the weights of a
group of variations make one systematic uncertainty.

A generator gives each event its nominal weight and, per variation, the weight the event would
have had with a changed theory input (renormalisation and factorisation scales, the PDF member,
the parton-shower scales). A variation's weights are in the same units as the nominal ones and
are normalised as they are (sigma * L / sum of the nominal weights over all generated events), so
that a variation's total over all generated events is its own cross section times L.

The variations of one group make one systematic: the bin-wise ``envelope`` of its members (scale
and shower variations), the standard deviation of PDF ``replicas``, or the Hessian PDF
uncertainty from eigenvector pairs (``hessian``) or one member per eigenvector
(``symmhessian``), LHAPDF's error types of the same names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: How the variations of a group combine into an up and a down shift.
COMBINE = ("envelope", "replicas", "hessian", "symmhessian")
#: The feature and score tables hold a variation's physical weights in this column: ``weight:<name>``.
WEIGHT_COLUMN_PREFIX = "weight:"
#: The skimmed events hold a variation's physical weights in this field: ``weight_phys:<name>``.
SKIM_WEIGHT_PREFIX = "weight_phys:"


@dataclass(frozen=True)
class Variation:
    """One theory variation of the event weights.

    ``name``: unique within a process, as it appears in column names (``isr:murfac=2``,
    ``scale:mur=0.5,muf=1``, ``pdf:1``); ``group``: the systematic it belongs to (``scale``,
    ``pdf``, ``isr``, ``fsr``, or a name the generator gave); ``combine``: how its group combines
    (one of :data:`COMBINE`); ``source``: where the weights come from (an LHE weight id, a Pythia
    variation name) for the record.
    """

    name: str
    group: str
    combine: str
    source: str = ""

    def __post_init__(self):
        if self.combine not in COMBINE:
            raise ValueError(
                f"variation '{self.name}': combine must be one of {', '.join(COMBINE)}, not '{self.combine}'"
            )
        if not self.name or any(c in self.name for c in " \t\n/"):
            raise ValueError(f"variation name '{self.name}' must be non-empty without spaces or '/'")

    @property
    def column(self) -> str:
        """The column of the variation's physical weights in the feature and score tables."""
        return WEIGHT_COLUMN_PREFIX + self.name


def to_records(variations: Iterable[Variation]) -> list[dict[str, Any]]:
    """Plain dicts (for JSON and YAML summaries), in order."""
    return [asdict(v) for v in variations]


def from_records(records: Iterable[Mapping[str, Any]]) -> list[Variation]:
    """The variations written by :func:`to_records`."""
    return [Variation(**dict(r)) for r in records]


def groups(variations: Iterable[Variation]) -> dict[str, list[Variation]]:
    """The variations by group, groups and members in their first-seen order; a group's members
    must agree on how they combine."""
    out: dict[str, list[Variation]] = {}
    for v in variations:
        members = out.setdefault(v.group, [])
        if members and members[0].combine != v.combine:
            raise ValueError(f"variation group '{v.group}' mixes combine '{members[0].combine}' and '{v.combine}'")
        members.append(v)
    return out
