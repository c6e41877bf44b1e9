"""The mixture's settings: the one home of its defaults, and how the config's ``binning.gmm``
block sets them (:meth:`GMMSettings.from_config`). See :mod:`phenoflow.binning.gmm` for the method."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from phenoflow.binning.gmm.loss import SCHEDULES, schedule
from phenoflow.defaults import block_defaults

#: Default fine cells: 1-D quantile cells (with fewer distinct scores, one cell per score, so
#: that every cut between two events is open to the mixture), and grid divisions per free
#: simplex coordinate
FINE_CELLS_1D, FINE_DIVISIONS_SIMPLEX = 2000, 100
#: Default restarts: 1-D, and on the simplex (where the cells are more numerous)
RESTARTS_1D, RESTARTS_SIMPLEX = 6, 4

#: Keys of the config's binning.gmm block and the settings each one sets
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "steps": ("n_steps",),
    "restarts": ("n_restarts",),
    "fine_bins": ("n_fine",),
    "coarse_bins": ("n_coarse",),
    "temperature": ("temperature",),
    "learning_rate": ("learning_rate",),
    "schedule": ("temperature_schedule", "learning_rate_schedule"),
    "penalty": ("penalty_background", "penalty_uncertainty"),
}
#: What the mixture optimises: the per-bin proxy (the rule's significance, combined over the bins;
#: binning method ``gmm``), or of the inference stage's profiled likelihood the expected discovery
#: Z (:mod:`phenoflow.binning.gmm.profile`; method ``gmm_likelihood``) or the median expected CLs
#: upper limit on the signal strength (:mod:`phenoflow.binning.gmm.limit`; method ``gmm_limit``)
OBJECTIVES = ("proxy", "discovery", "limit")


def _settings(block: Mapping) -> dict:
    """The settings the config's ``binning.gmm`` keys in ``block`` set (lists become tuples)."""
    return {
        name: tuple(value) if isinstance(value, list) else value
        for key, value in block.items()
        for name in CONFIG_KEYS[key]
    }


#: The settings' defaults: the config schema's defaults of the binning.gmm keys
_DEFAULTS = _settings(block_defaults("binning.gmm"))


@dataclass(frozen=True, kw_only=True)
class GMMSettings:
    """How a mixture is trained. The defaults of the settings a config key sets are the config
    schema's (:mod:`phenoflow.defaults`); ``margin`` and ``score_range`` are the library's own.

    ``n_steps`` Adam steps; ``temperature`` and ``learning_rate``: (start, end) of their
    schedules (one of :data:`phenoflow.binning.gmm.loss.SCHEDULES`) over the steps.
    ``n_restarts``: starts trained side by side (None: :data:`RESTARTS_1D` in 1-D,
    :data:`RESTARTS_SIMPLEX` in n-D). ``n_fine``: fine bins (1-D) or grid divisions per free
    coordinate (n-D) the events are summed into (None: :data:`FINE_CELLS_1D`,
    :data:`FINE_DIVISIONS_SIMPLEX`). ``n_coarse`` (1-D, one signal): restarts 1-3 start from the
    exact optimum on coarse grids of ``n_coarse`` x (1, 1.5, 2) runs of fine cells (0: no such
    starts). ``penalty_background`` weighs the rule's background hinge, ``penalty_uncertainty``
    both MC-statistics hinges (0 switches a penalty off; the rule still applies to the hard
    bins), each asking for ``margin`` more than the rule. ``score_range``: [lo, hi] of 1-D scores
    and of the components' means. ``objective`` (:data:`OBJECTIVES`; set by the binning method,
    not by the config): ``proxy`` (method ``gmm``) maximises the rule's significance summed over
    the bins; ``discovery`` (method ``gmm_likelihood``) maximises the expected discovery Z of the
    inference stage's likelihood, ``limit`` (method ``gmm_limit``) minimises its median expected
    CLs limit (both 1-D scores; the fit needs each event's process and the likelihood's
    settings): the profile fit takes ``newton_steps`` Newton steps per training step,
    warm-started, and ``newton_steps_hard`` for each hard state checked during training,
    warm-started from the soft state's; the limit also ``limit_solves`` Newton steps in mu per
    training step (and ``limit_solves_hard`` per hard check), each after such a profile fit.
    """

    n_steps: int = _DEFAULTS["n_steps"]
    n_restarts: int | None = None
    n_fine: int | None = None
    n_coarse: int = _DEFAULTS["n_coarse"]
    temperature: tuple[float, float] = _DEFAULTS["temperature"]
    temperature_schedule: str = _DEFAULTS["temperature_schedule"]
    learning_rate: tuple[float, float] = _DEFAULTS["learning_rate"]
    learning_rate_schedule: str = _DEFAULTS["learning_rate_schedule"]
    penalty_background: float = _DEFAULTS["penalty_background"]
    penalty_uncertainty: float = _DEFAULTS["penalty_uncertainty"]
    margin: float = 0.02
    score_range: tuple[float, float] = (0.0, 1.0)
    objective: str = "proxy"
    newton_steps: int = 2
    newton_steps_hard: int = 5
    limit_solves: int = 1
    limit_solves_hard: int = 1

    def __post_init__(self):
        def check(ok: bool, key: str, name: str, want: str) -> None:
            if not ok:
                raise ValueError(f"binning.gmm.{key} ({name}) must be {want}, got {getattr(self, name)!r}")

        check(self.n_steps >= 1, "steps", "n_steps", "at least 1")
        check(self.n_restarts is None or self.n_restarts >= 1, "restarts", "n_restarts", "at least 1")
        check(self.n_fine is None or self.n_fine >= 1, "fine_bins", "n_fine", "at least 1")
        check(self.n_coarse >= 0, "coarse_bins", "n_coarse", ">= 0")
        for key in ("temperature", "learning_rate"):
            value = getattr(self, key)
            check(len(value) == 2 and min(value) > 0, key, key, "two positive numbers (start, end)")
            check(getattr(self, f"{key}_schedule") in SCHEDULES, "schedule", f"{key}_schedule", f"one of {SCHEDULES}")
        for name in ("penalty_background", "penalty_uncertainty"):
            check(getattr(self, name) >= 0, "penalty", name, ">= 0")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"the mixture's objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")

    @classmethod
    def from_config(cls, block: Mapping | None) -> GMMSettings:
        """From the config's ``binning.gmm`` block (keys of :data:`CONFIG_KEYS`; lists become
        tuples); unset keys keep the defaults. An unknown key is an error naming it."""
        for key in block or {}:
            if key not in CONFIG_KEYS:
                raise ValueError(f"binning.gmm.{key} is not a setting of the mixture (known: {', '.join(CONFIG_KEYS)})")
        return cls(**_settings(block or {}))

    @property
    def on_likelihood(self) -> bool:
        """Whether the objective is one of the inference stage's likelihood (discovery or limit)."""
        return self.objective != "proxy"

    def resolved(self, one_d: bool) -> GMMSettings:
        """These settings with the defaults that depend on the dimension filled in: 1-D scores
        (``one_d``) or softmax vectors."""
        restarts = RESTARTS_1D if one_d else RESTARTS_SIMPLEX
        fine = FINE_CELLS_1D if one_d else FINE_DIVISIONS_SIMPLEX
        return replace(self, n_restarts=self.n_restarts or restarts, n_fine=self.n_fine or fine)

    def temperatures(self) -> np.ndarray:
        """The temperature at every step, (n_steps,)."""
        return schedule(self.temperature_schedule, *self.temperature, self.n_steps)

    def learning_rates(self) -> np.ndarray:
        """The learning rate at every step, (n_steps,)."""
        return schedule(self.learning_rate_schedule, *self.learning_rate, self.n_steps)
