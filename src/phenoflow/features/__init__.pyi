"""Public names of the package (read by lazy_loader.attach_stub and by type checkers)."""

from . import classes as classes, datasets as datasets, images as images, plots as plots, splits as splits
from .classes import Classes as Classes, classes_from_config as classes_from_config
from .datasets import (
    SplitArrays as SplitArrays,
    balanced_weights as balanced_weights,
    feature_table as feature_table,
    load_scored_arrays as load_scored_arrays,
    load_split_arrays as load_split_arrays,
)
from .images import (
    ImageSpec as ImageSpec,
    average_image as average_image,
    jet_images as jet_images,
    write_jet_images as write_jet_images,
)
from .splits import (
    full_luminosity_weights as full_luminosity_weights,
    kfold_indices as kfold_indices,
    split_indices as split_indices,
    split_sets as split_sets,
)
