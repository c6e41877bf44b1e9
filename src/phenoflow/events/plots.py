"""Figures of the selection: the cutflow of every process, in the common style (:mod:`phenoflow.plotstyle`).

Like every figure of the package, drawn with the "Simulation" label and written atomically as
PNG and PDF (the suffix of ``path`` is replaced).
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np

from phenoflow.plotstyle import Collision, add_label, save, styled


@styled
def cutflow(table, path: str | os.PathLike, *, collision: Collision) -> None:
    """Cutflow per process: expected events (log scale, MC error bars) and raw MC events per step.

    ``table``: rows with columns process, step, events, yield, yield_error (as the skim writes).
    """
    steps = list(dict.fromkeys(table["step"]))
    x = np.arange(len(steps))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 9), sharex=True, layout="constrained")
    for process, rows in table.groupby("process", sort=False):
        rows = rows.set_index("step").loc[steps]
        top.errorbar(x, rows["yield"], yerr=rows["yield_error"], marker="o", capsize=3, label=str(process))
        bottom.plot(x, rows["events"], marker="o", label=str(process))
    top.set_yscale("log")
    top.set_ylabel("expected events")
    top.legend(fontsize="small")
    bottom.set_yscale("log")
    bottom.set_ylabel("MC events")
    bottom.set_xticks(x, steps, rotation=30, ha="right", fontsize="small")
    add_label(top, collision)
    save(fig, path)
