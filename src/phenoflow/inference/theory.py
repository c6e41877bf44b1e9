"""Theory systematics of the likelihood from the variations of the event weights
(:mod:`phenoflow.variations`): each group of variations of a process makes one up and one down
yield per bin, and from them pyhf modifiers.

A group's up and down yields (:func:`group_shift`), per bin, from the nominal yields and its
members' yields in the same bins:

* ``envelope`` (scale and shower variations): the bin-wise maximum and minimum over the members
  and the nominal. The LHC convention for scale uncertainties is the envelope of the 7-point
  variation (mu_R and mu_F each by 1/2, 1, 2, the two opposite combinations left out; e.g. the
  LHC Higgs Cross Section Working Group's Yellow Report 4, arXiv:1610.07922), whose members
  include the central point, so that the nominal counts as one of them; a shower's variations
  (Pythia's ISR and FSR renormalisation scales by 1/2 and 2, Mrenna and Skands, arXiv:1605.08352)
  do not include it, and taking the nominal into the envelope keeps up >= nominal >= down where
  both members move one way in a bin.
* ``replicas`` (Monte Carlo PDF sets): nominal +- the standard deviation of the members (with
  N - 1, about their mean), the PDF4LHC recommendations for Monte Carlo sets (Butterworth et al.,
  arXiv:1510.03865; PDF4LHC21, arXiv:2203.05506).
* ``hessian`` (Hessian PDF sets with a + and a - member per eigenvector, in that order, as LHAPDF
  orders them): the asymmetric Hessian uncertainty, up = nominal + sqrt(sum_k max(X+_k - X_0,
  X-_k - X_0, 0)^2), down = nominal - sqrt(sum_k max(X_0 - X+_k, X_0 - X-_k, 0)^2) (LHAPDF's
  ``errplus``/``errminus``; the PDF4LHC recommendations, Butterworth et al., arXiv:1510.03865).
* ``symmhessian`` (symmetric Hessian sets, one member per eigenvector, e.g. PDF4LHC15_30): nominal
  +- the quadrature sum of the members' shifts, sqrt(sum_k (X_k - X_0)^2), the same
  recommendations' symmetric formula.

Down yields are floored at zero.

The modifiers (:func:`theory_modifiers`), per the config's ``inference.theory.mode``
(:class:`TheorySystematics`), for a sample with nominal total n and a group's totals u (up) and
d (down):

* ``shape``: a ``histosys`` with the up and down yields themselves;
* ``norm``: a ``normsys`` with the factors u / n and d / n only;
* ``both`` (the default): the ``normsys`` with u / n and d / n, and a ``histosys`` of the same
  name (one nuisance parameter) on the shapes normalised to the nominal total, up x n / u and
  down x n / d. pyhf multiplies the nominal plus the histosys shift by the normsys factor, so at
  +-1 sigma the sample is exactly the up or down yields again; the norm part interpolates
  exponentially (pyhf's normsys) and cannot turn a yield negative, as histosys's linear one can.
  This is HistFactory's usual split of a variation into an OverallSys and a HistoSys.

Modifier names: a group is uncorrelated between processes (its name is ``<group>_<process>``,
e.g. ``scale_zvv_jets``) unless it is listed in ``correlated`` (its name is the group's,
e.g. ``isr``, one parameter for every process that has it). Scale variations estimate each
process's own missing higher orders and are named per process in the experiments' combinations
(CMS's ``QCDscale_<process>`` nuisances); the shower variations of one generator are one model
uncertainty shared by every process it showers, so ``isr`` and ``fsr`` are correlated by default.
A PDF group combined to one up and one down per process (replicas, Hessian) can be correlated by
listing it, which assumes its shift goes the same way in every process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from phenoflow.defaults import default
from phenoflow.inference.options import checked_mapping
from phenoflow.variations import COMBINE, Variation, groups

#: How the group's up and down yields enter the workspace (see the module docstring).
MODES = ("shape", "norm", "both")
#: Modifier names taken by the rest of the likelihood (:mod:`phenoflow.inference.likelihood`).
_RESERVED = re.compile(r"^(mu|lumi|norm_.*|staterror_.*|shapesys_.*)$")


@dataclass(frozen=True)
class TheorySystematics:
    """How the theory variations enter the workspace (the config's ``inference.theory``):
    ``enabled`` adds them at all (where the scores carry variation weights), ``mode`` is one of
    :data:`MODES`, ``correlated`` the groups whose modifier is shared by every process (one
    name, the group's); the other groups get a modifier per process."""

    enabled: bool = default("inference.theory.enabled")
    mode: str = default("inference.theory.mode")
    correlated: tuple[str, ...] = tuple(default("inference.theory.correlated"))

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"inference.theory.mode: must be one of {', '.join(MODES)}, got {self.mode!r}")
        object.__setattr__(self, "correlated", tuple(self.correlated))

    @classmethod
    def from_config(cls, value: Mapping, key: str = "inference.theory") -> TheorySystematics:
        """From the config's mapping (missing keys take their defaults). Errors name ``key``."""
        value = checked_mapping(value, cls, key)
        if not isinstance(value.get("enabled", cls.enabled), bool):
            raise ValueError(f"{key}.enabled: must be true or false, got {value['enabled']!r}")
        if value.get("mode", cls.mode) not in MODES:
            raise ValueError(f"{key}.mode: must be one of {', '.join(MODES)}, got {value['mode']!r}")
        correlated = value.get("correlated", cls.correlated)
        if isinstance(correlated, str) or not all(isinstance(g, str) for g in correlated):
            raise ValueError(f"{key}.correlated: must be a list of group names, got {correlated!r}")
        return cls(**{**value, "correlated": tuple(correlated)})


@dataclass(frozen=True)
class TheoryShift:
    """One group's variation of a process in the bins: ``up`` and ``down`` yields, shape
    (n_bins,), events at the full luminosity, from ``n_members`` variations combined by
    ``combine``."""

    group: str
    combine: str
    n_members: int
    up: np.ndarray
    down: np.ndarray


def group_shift(nominal: np.ndarray, members: np.ndarray, combine: str) -> tuple[np.ndarray, np.ndarray]:
    """The up and down yields, shape (n_bins,), of a group of variations from the nominal yields
    (n_bins,) and the members' yields (n_members, n_bins) in the same bins, combined as
    ``combine`` says (one of :data:`phenoflow.variations.COMBINE`; see the module docstring).
    Down yields are floored at 0."""
    nominal = np.asarray(nominal, dtype=np.float64)
    members = np.atleast_2d(np.asarray(members, dtype=np.float64))
    if members.shape[1:] != nominal.shape or members.shape[0] == 0:
        raise ValueError(f"members of shape {members.shape} do not match nominal yields of shape {nominal.shape}")
    if combine == "envelope":
        return np.maximum(nominal, members.max(axis=0)), np.maximum(np.minimum(nominal, members.min(axis=0)), 0.0)
    if combine == "replicas":
        if len(members) < 2:
            raise ValueError("a standard deviation over replicas needs at least 2 of them, got 1")
        delta = members.std(axis=0, ddof=1)
    elif combine == "hessian":
        if len(members) % 2:
            raise ValueError(f"a Hessian set of eigenvector pairs needs an even number of members, got {len(members)}")
        shifts = members.reshape(len(members) // 2, 2, -1) - nominal  # (eigenvector, +/-, bin)
        up = np.sqrt(np.sum(np.clip(shifts.max(axis=1), 0, None) ** 2, axis=0))
        down = np.sqrt(np.sum(np.clip(-shifts.min(axis=1), 0, None) ** 2, axis=0))
        return nominal + up, np.maximum(nominal - down, 0.0)
    elif combine == "symmhessian":
        delta = np.sqrt(np.sum((members - nominal) ** 2, axis=0))
    else:
        raise ValueError(f"combine must be one of {', '.join(COMBINE)}, not '{combine}'")
    return nominal + delta, np.maximum(nominal - delta, 0.0)


def theory_shifts(nominal: np.ndarray, variations: Sequence[Variation], yields: np.ndarray) -> tuple[TheoryShift, ...]:
    """Each group's :class:`TheoryShift` (groups in first-seen order) from the nominal yields
    (n_bins,) and the yields of ``variations`` (n_variations, n_bins), row i of variation i."""
    yields = np.asarray(yields, dtype=np.float64).reshape(len(variations), -1)
    index = {v.name: i for i, v in enumerate(variations)}
    if len(index) != len(variations):
        raise ValueError(f"variation names repeat: {[v.name for v in variations]}")
    out = []
    for group, members in groups(variations).items():
        rows = yields[[index[v.name] for v in members]]
        up, down = group_shift(nominal, rows, members[0].combine)
        out.append(TheoryShift(group, members[0].combine, len(members), up, down))
    return tuple(out)


def modifier_name(group: str, process: str, options: TheorySystematics) -> str:
    """The pyhf modifier of ``group`` on ``process``: the group's name if it is correlated
    across processes, else ``<group>_<process>``; characters other than letters, digits and _
    become _. A name the rest of the likelihood uses (mu, lumi, norm_*, staterror_*,
    shapesys_*) is an error."""
    base = re.sub(r"\W", "_", group)
    name = base if group in options.correlated else f"{base}_{process}"
    if _RESERVED.match(name):
        raise ValueError(f"theory group '{group}' of {process}: its modifier name '{name}' is taken by the likelihood")
    return name


def theory_modifiers(
    process: str, nominal: np.ndarray, shifts: Sequence[TheoryShift], options: TheorySystematics
) -> list[dict]:
    """The pyhf modifiers (JSON) of one sample's theory ``shifts`` on its ``nominal`` yields
    (n_bins,), per ``options.mode`` (see the module docstring); [] when disabled. In ``norm`` and
    ``both`` mode a group whose nominal, up or down total is not positive is an error."""
    if not options.enabled:
        return []
    nominal = np.asarray(nominal, dtype=np.float64)
    out, names = [], set()
    for shift in shifts:
        name = modifier_name(shift.group, process, options)
        if name in names:
            raise ValueError(f"{process}: two theory groups share the modifier name '{name}'")
        names.add(name)
        if options.mode == "shape":
            data = {"hi_data": shift.up.tolist(), "lo_data": shift.down.tolist()}
            out.append({"name": name, "type": "histosys", "data": data})
            continue
        total, up, down = nominal.sum(), shift.up.sum(), shift.down.sum()
        if not (total > 0 and up > 0 and down > 0):
            raise ValueError(
                f"{process}, theory group '{shift.group}': the nominal, up and down totals must be positive for a"
                f" normsys (got {total:g}, {up:g}, {down:g}); inference.theory.mode: shape needs no totals"
            )
        out.append({"name": name, "type": "normsys", "data": {"hi": float(up / total), "lo": float(down / total)}})
        if options.mode == "both":
            data = {"hi_data": (shift.up * (total / up)).tolist(), "lo_data": (shift.down * (total / down)).tolist()}
            out.append({"name": name, "type": "histosys", "data": data})
    return out


def describe_shifts(
    process: str, nominal: np.ndarray, shifts: Sequence[TheoryShift], options: TheorySystematics
) -> str:
    """One line on a sample's theory modifiers for the table's notes, e.g. ``zvv_jets: scale_zvv_jets
    (envelope of 7) +8.2 % / -7.5 %, isr (envelope of 2) +3.1 % / -2.9 %``: each group's modifier
    name, how many variations it combines and how, and its up and down total relative to the nominal."""
    total = float(np.sum(nominal))

    def percent(x: float) -> str:
        return f"{100 * (x / total - 1):+.3g} %" if total > 0 else "n/a"

    parts = [
        f"{modifier_name(s.group, process, options)} ({s.combine} of {s.n_members})"
        f" {percent(s.up.sum())} / {percent(s.down.sum())}"
        for s in shifts
    ]
    return f"{process}: {', '.join(parts)}"
