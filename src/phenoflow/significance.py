"""The median discovery significance of a counting experiment: the Asimov Z, Cowan's Z with a
background uncertainty, and :class:`Significance`, the choice between them that every figure of
merit (threshold scans, binnings, the cut-and-count's training) takes from the config.

Yields are expected event counts at the full luminosity. A basic concept of every stage (models,
evaluation, binning, inference), so it sits below them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from phenoflow.defaults import default


def asimov_significance(s: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Median discovery significance Z = sqrt(2((s+b) ln(1+s/b) - s)) for s signal and b > 0 background.

    Broadcasts over arrays. Where b <= 0 the result is NaN (the caller decides how to treat
    bins without background); where s <= 0 it is 0.
    """
    s, b = np.broadcast_arrays(np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64))
    z = np.full(s.shape, np.nan)
    ok = b > 0
    sp = np.where(ok, np.clip(s, 0, None), 0.0)
    bp = np.where(ok, b, 1.0)
    z2 = 2 * ((sp + bp) * np.log1p(sp / bp) - sp)
    z[ok] = np.sqrt(np.clip(z2[ok], 0, None))
    return z if z.ndim else float(z)


#: Where sigma_b^2 / b is below this, the significance with a background uncertainty is the plain
#: Asimov one: Z^2 changes by a relative amount of at most about sigma_b^2 / b, far below the
#: precision of either formula, and the exact expression would divide by sigma_b^2 -> 0.
_NEGLIGIBLE_VARIANCE_OVER_B = 1e-12


def asimov_significance_with_uncertainty(
    s: np.ndarray | float, b: np.ndarray | float, sigma_b: np.ndarray | float
) -> np.ndarray:
    """Median discovery significance for s signal over b > 0 background known to +-sigma_b
    (Cowan's formula, the profile likelihood of a Poisson count with a Poisson auxiliary
    measurement of the background):

        Z = sqrt(2 ((s+b) ln[(s+b)(b+sb2) / (b^2+(s+b) sb2)] - (b^2/sb2) ln[1 + sb2 s / (b(b+sb2))])),

    sb2 = sigma_b^2, all in expected events. Broadcasts over arrays like
    :func:`asimov_significance`, to which it reduces as sigma_b -> 0 (it is used where
    sigma_b^2 / b < 1e-12); b <= 0 gives NaN, s <= 0 gives 0; the sign of sigma_b is ignored.
    """
    arrays = (np.asarray(x, dtype=np.float64) for x in (s, b, sigma_b))
    s, b, sigma_b = np.broadcast_arrays(*arrays)
    z = np.asarray(asimov_significance(s, b), dtype=np.float64).copy()
    sb2 = sigma_b**2
    ok = (b > 0) & (sb2 > _NEGLIGIBLE_VARIANCE_OVER_B * np.where(b > 0, b, 0.0))
    sp = np.where(ok, np.clip(s, 0, None), 0.0)
    bp = np.where(ok, b, 1.0)
    v = np.where(ok, sb2, 1.0)
    # (s+b)(b+v) / (b^2+(s+b)v) = 1 + s b / (b(b+v) + s v): with log1p no large terms cancel
    log_ratio = np.log1p(sp * bp / (bp * (bp + v) + sp * v))
    z2 = 2 * ((sp + bp) * log_ratio - bp**2 / v * np.log1p(v * sp / (bp * (bp + v))))
    z[ok] = np.sqrt(np.clip(z2[ok], 0, None))
    return z if z.ndim else float(z)


def background_uncertainty(b: np.ndarray | float, relative: float = 0.0, sumw2: np.ndarray | float = 0.0) -> np.ndarray:
    """Absolute background uncertainty of bins, sigma_b = sqrt((relative * b)^2 + sum w^2): a
    relative systematic and the bins' MC statistical error sqrt(sum w^2) in quadrature.

    ``b``: background yields (expected events), ``sumw2``: their sum of squared event weights
    (events^2; 0 leaves out the MC statistics), broadcastable; ``relative`` >= 0 (e.g. 0.1 for 10 %).
    """
    if not relative >= 0:
        raise ValueError(f"the relative background uncertainty must be >= 0, got {relative}")
    b, sumw2 = np.asarray(b, dtype=np.float64), np.asarray(sumw2, dtype=np.float64)
    if np.any(sumw2 < 0):
        raise ValueError("a sum of squared weights is negative")
    sigma = np.sqrt((relative * b) ** 2 + sumw2)
    return sigma if sigma.ndim else float(sigma)


@dataclass(frozen=True)
class Significance:
    """Which discovery significance a figure of merit uses: the plain Asimov Z_A(s, b) (the
    default, both settings 0 / false) or Cowan's Z(s, b, sigma_b) with

        sigma_b^2 = (relative_background_uncertainty * b)^2 + (sum w^2 of the background if mc_statistics),

    each bin's (or selection's) uncertainty taken on its own, i.e. uncorrelated between bins.
    The config's ``significance`` block (:meth:`from_config`). Call it with yields ``s``, ``b``
    (expected events) and the background's sum of squared weights ``sumw2`` (events^2),
    broadcastable; it returns :func:`asimov_significance` exactly when :attr:`plain`.
    """

    relative_background_uncertainty: float = default("significance.relative_background_uncertainty")
    mc_statistics: bool = default("significance.mc_statistics")

    def __post_init__(self):
        if not self.relative_background_uncertainty >= 0:
            raise ValueError(
                f"significance.relative_background_uncertainty must be >= 0, got {self.relative_background_uncertainty}"
            )

    @classmethod
    def from_config(cls, block: Mapping | None) -> Significance:
        """From the config's ``significance`` block (missing keys take the defaults, the schema's)."""
        block = dict(block or {})
        unknown = set(block) - {"relative_background_uncertainty", "mc_statistics"}
        if unknown:
            raise ValueError(f"significance: unknown keys {sorted(unknown)}")
        return cls(
            float(block.get("relative_background_uncertainty", cls.relative_background_uncertainty)),
            bool(block.get("mc_statistics", cls.mc_statistics)),
        )

    @property
    def plain(self) -> bool:
        """Whether this is the plain Asimov Z (no background uncertainty at all)."""
        return self.relative_background_uncertainty == 0 and not self.mc_statistics

    def sigma_b(self, b: np.ndarray | float, sumw2: np.ndarray | float = 0.0) -> np.ndarray:
        """Absolute background uncertainty sigma_b (expected events) of yields ``b`` with sum of
        squared weights ``sumw2``; negative sums from rounding (differences of cumulative sums)
        count as 0."""
        sumw2 = np.clip(np.asarray(sumw2, dtype=np.float64), 0.0, None) if self.mc_statistics else 0.0
        return background_uncertainty(b, self.relative_background_uncertainty, sumw2)

    def __call__(self, s: np.ndarray | float, b: np.ndarray | float, sumw2: np.ndarray | float = 0.0) -> np.ndarray:
        """Z of yields ``s`` over ``b`` (NaN where b <= 0, 0 where s <= 0), broadcasting."""
        if self.plain:
            return asimov_significance(s, b)
        return asimov_significance_with_uncertainty(s, b, self.sigma_b(b, sumw2))

    def describe(self) -> str:
        """A short label: "Asimov" or e.g. "10 % syst. + MC stat."."""
        if self.plain:
            return "Asimov"
        parts = (
            [f"{100 * self.relative_background_uncertainty:g} % syst."] if self.relative_background_uncertainty else []
        )
        return " + ".join(parts + ["MC stat."] * self.mc_statistics)

    def as_dict(self) -> dict:
        return asdict(self)


#: The plain Asimov significance, the default of every figure of merit.
ASIMOV = Significance()
