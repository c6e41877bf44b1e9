"""TensorFlow's CPU thread pools, set once per process: shared by the networks and the mixture binning."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def use_tensorflow_threads(threads: int) -> None:
    """Run TensorFlow's ops on ``threads`` CPU threads (its intra- and inter-op pools).

    TensorFlow fixes its pools when it first runs an op; if they were already set up with another
    count, a warning is logged and they are kept (results are reproducible for a fixed count).
    """
    import tensorflow as tf

    for kind in ("intra_op", "inter_op"):
        current = getattr(tf.config.threading, f"get_{kind}_parallelism_threads")()
        if current == threads:
            continue
        try:
            getattr(tf.config.threading, f"set_{kind}_parallelism_threads")(threads)
        except RuntimeError:
            log.warning(
                "TensorFlow already runs with %s %s threads (0 = its default); keeping them instead of %d",
                current,
                kind,
                threads,
            )
