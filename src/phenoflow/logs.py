"""Send a job's log messages, warnings and stray prints to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def to_log_file(path: str | os.PathLike) -> Iterator[logging.Logger]:
    """Route the ``phenoflow`` logger, warnings, stdout and stderr to ``path`` inside the block.

    Exceptions raised in the block are logged with their traceback before they propagate, so the
    log file says why a job failed.
    """
    logger = logging.getLogger("phenoflow")
    with open(path, "a", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logging.captureWarnings(True)
        logging.getLogger("py.warnings").addHandler(handler)
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield logger
        except BaseException:
            logger.exception("job failed")
            raise
        finally:
            logger.removeHandler(handler)
            logging.getLogger("py.warnings").removeHandler(handler)
            sys.stdout.flush()
