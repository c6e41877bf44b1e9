"""Timing helper shared by the benchmark scripts (they run as scripts, so this is importable)."""

from __future__ import annotations

import time
from typing import Callable


def best_time(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Shortest wall time (s) of ``repeat`` calls and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result
