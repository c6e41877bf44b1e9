"""The common figure label: what it writes above the axes."""

import matplotlib.pyplot as plt
import numpy as np

from phenoflow.evaluation import plots
from phenoflow.inference import plots as inference_plots
from phenoflow.plotstyle import Collision, add_label, label_text


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_label_shows_simulation_energy_and_luminosity():
    fig, ax = plt.subplots()
    add_label(ax, Collision(13000.0, 139.0))
    assert texts(ax) == ["Simulation", "13 TeV, 139 fb$^{-1}$"]
    plt.close(fig)


def test_label_without_luminosity_or_energy():
    assert label_text(Collision(13600.0, 300.0), luminosity=False) == "13.6 TeV"
    assert label_text(Collision(14000.0)) == "14 TeV"
    assert label_text(Collision(None, 0.1)) == "0.1 fb$^{-1}$"


def test_figures_carry_the_label(tmp_path, monkeypatch):
    """A luminosity-dependent figure (expected events) shows it; an efficiency figure does not."""
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, path: figures.append(fig))
    lhc = Collision(8000.0, 20.3)
    x = np.linspace(0, 1, 20)
    plots.roc({"bdt": (x, x**2, 0.8)}, tmp_path / "roc.png", collision=lhc)
    processes = np.array(["s", "b"] * 10)
    plots.score_distributions(
        x, np.ones(20), processes, (processes == "s").astype(int), tmp_path / "s.png", collision=lhc
    )
    assert texts(figures[0].axes[0]) == ["Simulation", "8 TeV"]
    assert texts(figures[1].axes[0]) == ["Simulation", "8 TeV, 20.3 fb$^{-1}$"]


def test_a_row_of_panels_has_one_label_across_it(tmp_path, monkeypatch):
    """Brazil plot of two methods: "Simulation" above the first panel, sqrt(s) and luminosity above
    the last, each method's name inside its panel."""
    figures = []
    monkeypatch.setattr(inference_plots, "save", lambda fig, path: figures.append(fig))
    limits = np.array([[0.5, 0.7, 1.0, 1.4, 2.0]] * 2)
    lhc = Collision(13000.0, 139.0)
    inference_plots.expected_limits(
        {"optimal": ([2, 5], limits), "gmm": ([2, 5], limits)}, tmp_path / "l.png", collision=lhc
    )
    first, last = figures[0].axes
    assert texts(first) == ["optimal", "Simulation"] and texts(last) == ["gmm", "13 TeV, 139 fb$^{-1}$"]
    assert first.get_title() == "" and last.get_title() == ""
