"""Send a job's log messages, warnings and stray prints to its Snakemake log file."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
from collections.abc import Iterator


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


def _flush_all() -> None:
    """Flush Python's stdout and stderr and every C stdio stream (where C++ ``std::cout`` goes)."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.flush()
    ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def redirect_native_output(target: str | os.PathLike | int) -> Iterator[None]:
    """Send file descriptors 1 and 2 -- what compiled libraries such as Pythia print with
    ``std::cout`` or ``printf`` -- to ``target`` (a path, appended to, or an open file descriptor)
    inside the block, and restore them afterwards. Python's and C's buffers are flushed on the way
    in and out, so the native lines stay in order with the log's own (line-flushed) records."""
    _flush_all()
    fd = target if isinstance(target, int) else os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    saved = (os.dup(1), os.dup(2))
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        _flush_all()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for copy in saved:
            os.close(copy)
        if not isinstance(target, int):
            os.close(fd)
