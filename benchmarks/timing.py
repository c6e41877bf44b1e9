"""Timing helpers shared by the benchmark scripts (they run as scripts, so this is importable)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Shortest wall time (s) of ``repeat`` calls and the last result."""
    return best_times(function, repeat=repeat)[0]


def best_times(*functions: Callable[[], object], repeat: int) -> list[tuple[float, object]]:
    """Per function, its shortest wall time (s) over ``repeat`` rounds and its last result.

    In each round the functions take turns, so that a change in the load of a shared machine
    (other processes) falls on all of them alike rather than on whichever ran during it.
    """
    times: list[list[float]] = [[] for _ in functions]
    results: list[object] = [None] * len(functions)
    for _ in range(repeat):
        for k, function in enumerate(functions):
            start = time.perf_counter()
            results[k] = function()
            times[k].append(time.perf_counter() - start)
    return [(min(spent), result) for spent, result in zip(times, results)]
