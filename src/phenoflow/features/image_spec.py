"""The pixel grid and preprocessing options of a jet image (:class:`ImageSpec`); see
:mod:`phenoflow.features.images` for the images themselves. Angles in radians."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from phenoflow.defaults import default

Centre = Literal["axis", "centroid", "leading_subjet"]
RotateTo = Literal["second_subjet", "principal_axis"]
Normalisation = Literal["none", "max", "log", "l1"]
CENTRES: tuple[str, ...] = ("axis", "centroid", "leading_subjet")
ROTATE_TO: tuple[str, ...] = ("second_subjet", "principal_axis")
NORMALISATIONS: tuple[str, ...] = ("none", "max", "log", "l1")


@dataclass(frozen=True)
class ImageSpec:
    """Pixel grid and preprocessing of a jet image.

    ``n_eta`` × ``n_phi`` pixels cover [-half_width_eta, half_width_eta) × [-half_width_phi,
    half_width_phi) (rad) around the centre. ``centre`` is ``"axis"``, ``"centroid"`` or
    ``"leading_subjet"``; ``rotate`` turns ``rotate_to`` to negative phi: the ``"second_subjet"``
    (else the principal axis, where there is no second subjet) or always the ``"principal_axis"``,
    which needs no reclustering; ``flip`` puts the harder eta half at positive eta; ``normalise`` is
    ``"none"``, ``"max"``, ``"log"`` (log(1 + x)) or ``"l1"``. Subjets are kT subjets of radius
    ``subjet_radius``.

    ``ImageSpec()`` is the plain image: centred on the jet axis, neither rotated nor flipped. The
    config's ``images`` block defaults to the preprocessed one (leading subjet, rotated, flipped:
    :func:`~phenoflow.features.images.spec_from_config`); the defaults the two share, the
    normalisation and the subjet radius, are the config schema's.
    """

    n_eta: int = 33
    n_phi: int = 33
    half_width_eta: float = 1.6
    half_width_phi: float = 1.6
    centre: Centre = "axis"
    rotate: bool = False
    rotate_to: RotateTo = "second_subjet"
    flip: bool = False
    normalise: Normalisation = default("images.normalise")
    subjet_radius: float = default("images.subjet_radius")

    def __post_init__(self) -> None:
        if self.n_eta < 1 or self.n_phi < 1:
            raise ValueError(f"image needs at least one pixel per axis, got {self.n_eta} x {self.n_phi}")
        if not (self.half_width_eta > 0 and self.half_width_phi > 0):
            raise ValueError("half widths must be positive")
        if self.half_width_phi > np.pi:
            raise ValueError(f"half_width_phi = {self.half_width_phi} exceeds pi")
        if self.centre not in CENTRES:
            raise ValueError(f"unknown centre '{self.centre}' (expected one of {', '.join(CENTRES)})")
        if self.rotate_to not in ROTATE_TO:
            raise ValueError(f"unknown rotate_to '{self.rotate_to}' (expected one of {', '.join(ROTATE_TO)})")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"unknown normalisation '{self.normalise}' (expected one of {', '.join(NORMALISATIONS)})")
        if not self.subjet_radius > 0:
            raise ValueError("subjet_radius must be positive")

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (n_eta, n_phi)."""
        return (self.n_eta, self.n_phi)

    @property
    def pixel_size(self) -> tuple[float, float]:
        """Pixel width in eta and in phi (rad)."""
        return (2 * self.half_width_eta / self.n_eta, 2 * self.half_width_phi / self.n_phi)

    @property
    def eta_edges(self) -> np.ndarray:
        """Pixel edges in eta relative to the centre, shape (n_eta + 1,)."""
        return np.linspace(-self.half_width_eta, self.half_width_eta, self.n_eta + 1)

    @property
    def phi_edges(self) -> np.ndarray:
        """Pixel edges in phi relative to the centre (rad), shape (n_phi + 1,)."""
        return np.linspace(-self.half_width_phi, self.half_width_phi, self.n_phi + 1)

    @property
    def uses_subjets(self) -> bool:
        """Whether the preprocessing needs kT subjets (a fastjet reclustering of every jet)."""
        return self.centre == "leading_subjet" or (self.rotate and self.rotate_to == "second_subjet")
