"""Keep Snakemake's retry of a job for failures that may not repeat (a lost node, a killed
process), and fail a retry at once when the previous attempt failed on its input."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from phenoflow.io import read_json, write_json

log = logging.getLogger("phenoflow.retry")

#: Errors that the same inputs, settings and seed raise again: phenoflow's checks of the
#: generator's input (ValueError) and Pythia refusing it (RuntimeError, e.g. its init() failing).
DETERMINISTIC: tuple[type[Exception], ...] = (ValueError, RuntimeError)


@contextlib.contextmanager
def not_repeated(record: str | os.PathLike, attempt: int, log_file: str | os.PathLike | None = None) -> Iterator[None]:
    """Run the block of attempt ``attempt`` (Snakemake's, from 1) of a job that has retries.

    If the block raises one of :data:`DETERMINISTIC`, its type and message (and the text of
    ``log_file`` so far) are written to ``record`` (JSON) before the error propagates. A retry
    (``attempt`` > 1) that finds such a record logs that earlier log (Snakemake removes a job's
    log before each attempt) and raises the same error with the same message at once, without
    running the block again. A first attempt removes an old record first; a failure of any other
    kind (memory, I/O, a signal) writes none, so its retry runs the block as before.
    """
    path = Path(record)
    if attempt > 1 and path.is_file():
        failed = read_json(path)
        if failed.get("log"):
            log.info("the log of attempt %d, which failed:\n%s", failed["attempt"], failed["log"].rstrip("\n"))
        error = {cls.__name__: cls for cls in DETERMINISTIC}.get(failed["type"], RuntimeError)
        raise error(
            f"{failed['message']} [attempt {attempt} not run: attempt {failed['attempt']} failed on the same "
            "input and seed, which fail the same way again]"
        )
    path.unlink(missing_ok=True)
    try:
        yield
    except DETERMINISTIC as err:
        text = Path(log_file).read_text(errors="replace") if log_file and os.path.isfile(log_file) else ""
        write_json(path, {"attempt": attempt, "type": type(err).__name__, "message": str(err), "log": text})
        raise
