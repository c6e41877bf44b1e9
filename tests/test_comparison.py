"""The classifier comparison table and the comparison figures."""

import math
import sys

import numpy as np
import pandas as pd
import pytest

from phenoflow.evaluation import plots
from phenoflow.evaluation.comparison import COLUMNS, comparison_table, format_value, write_comparison
from phenoflow.plotstyle import Collision

ROWS = [
    {"method": "cnc_parallel", "accuracy": 0.765086, "auc": 0.743599, "z_max": 34.742661, "r50": 4.256874, "r99": 1.0},
    {
        "method": "bdt",
        "accuracy": 0.899797,
        "auc": 0.952525,
        "z_max": 44.131214,
        "s_over_sqrt_b": 51.2,
        "r50": 86.015831,
        "r99": 1.99742,
        "training_time_s": 12.345,
        "n_parameters": 24000,
    },
    {"method": "mlp", "accuracy": 0.9, "auc": 0.95, "z_max": 44.0, "r50": math.inf, "r99": 999.7, "n_parameters": 1201},
]


def test_table_columns_order_and_types():
    table = comparison_table(ROWS)
    assert list(table.columns) == list(COLUMNS)
    assert list(table["method"]) == ["cnc_parallel", "bdt", "mlp"]  # as given, not sorted
    assert table["n_parameters"].dtype == "Int64"
    assert pd.isna(table.loc[0, "training_time_s"]) and pd.isna(table.loc[0, "n_parameters"])
    assert table.loc[2, "r50"] == math.inf


def test_table_rejects_unknown_or_unnamed_rows():
    with pytest.raises(ValueError, match="unknown"):
        comparison_table([{"method": "bdt", "acc": 0.9}])
    with pytest.raises(ValueError, match="method"):
        comparison_table([{"auc": 0.9}])


@pytest.mark.parametrize(
    "column, value, text",
    [
        ("auc", 0.952525, "0.9525"),
        ("accuracy", 0.9, "0.9000"),
        ("z_max", 44.131214, "44.13"),
        ("r50", 86.015831, "86.0"),
        ("r99", 1.99742, "2.00"),
        ("r99", 999.7, "1000"),
        ("r50", 1234.5, "1230"),
        ("r50", 0.012345, "0.0123"),
        ("r50", math.inf, "∞"),
        ("training_time_s", float("nan"), "—"),
        ("n_parameters", 24000, "24000"),
    ],
)
def test_number_formats(column, value, text):
    assert format_value(column, value) == text


def test_write_comparison_csv_round_trip_and_markdown(tmp_path):
    table = comparison_table(ROWS)
    write_comparison(table, tmp_path / "cmp.csv", tmp_path / "cmp.md")
    back = pd.read_csv(tmp_path / "cmp.csv")
    assert list(back.columns) == list(COLUMNS)
    assert back.loc[1, "auc"] == 0.952525  # full precision in the CSV
    assert back.loc[2, "r50"] == math.inf
    markdown = (tmp_path / "cmp.md").read_text(encoding="utf-8")
    lines = markdown.splitlines()
    assert len(lines) == 2 + len(ROWS)
    assert lines[0].startswith("| Method") and "AUC" in lines[0] and "R50" in lines[0]
    assert "0.9525" in lines[3] and "44.13" in lines[3] and "86.0" in lines[3] and "2.00" in lines[3]
    assert "∞" in lines[4] and "—" in lines[2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.csv", "cmp.md"]  # no temporary files left


def test_markdown_without_tabulate_is_the_same_table(tmp_path, monkeypatch):
    table = comparison_table(ROWS)
    write_comparison(table, tmp_path / "a.csv", tmp_path / "a.md")
    monkeypatch.setitem(sys.modules, "tabulate", None)  # makes "import tabulate" fail
    write_comparison(table, tmp_path / "b.csv", tmp_path / "b.md")
    with_tabulate, by_hand = (tmp_path / "a.md").read_text(), (tmp_path / "b.md").read_text()

    def cells(markdown):
        return [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines()]

    assert cells(by_hand)[0] == cells(with_tabulate)[0]  # headers
    assert cells(by_hand)[2:] == cells(with_tabulate)[2:]  # rows; only the rule line may differ
    rule = cells(by_hand)[1]
    assert rule[0].startswith("---") and rule[1].endswith(":")  # method left, numbers right aligned


# --- Figures: each writes a non-empty PNG and PDF ---

LHC = Collision(13000.0, 139.0)


def _written(path):
    return path.exists() and path.stat().st_size > 0


@pytest.mark.parametrize("suffix", ["png", "pdf"])
def test_roc_comparison(tmp_path, suffix):
    eps_s = np.linspace(0, 1, 50)
    curves = {
        "bdt": (eps_s, eps_s**4),
        "cut-and-count": (np.array([0.0, 0.6, 1.0]), np.array([0.0, 0.1, 1.0])),
    }
    path = tmp_path / f"roc.{suffix}"
    plots.roc_comparison(curves, path, collision=LHC)
    assert _written(path)
    if suffix == "png":  # every PNG plot comes with a PDF beside it, equal bytes for equal figures
        pdf = path.with_suffix(".pdf")
        assert pdf.read_bytes()[:4] == b"%PDF"
        first = pdf.read_bytes()
        plots.roc_comparison(curves, path, collision=LHC)
        assert pdf.read_bytes() == first


def test_roc_comparison_axis_labels_and_marker(tmp_path, monkeypatch):
    captured = {}
    monkeypatch.setattr(plots, "save", lambda fig, path: captured.setdefault("fig", fig))
    plots.roc_comparison(
        {
            "mlp": (np.linspace(0, 1, 10), np.linspace(0, 1, 10) ** 2),
            "cnc": (np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.2, 1.0])),
        },
        tmp_path / "x.png",
        collision=LHC,
    )
    ax = captured["fig"].axes[0]
    assert ax.get_xlabel() == "Signal efficiency ε_S"
    assert ax.get_ylabel() == "Background rejection 1/ε_B"
    assert ax.get_yscale() == "log"
    mlp, cnc = ax.get_lines()
    assert cnc.get_linestyle() == "None" and cnc.get_marker() != "None"
    np.testing.assert_allclose(cnc.get_xydata(), [[0.5, 5.0]])  # only the working point
    assert len(mlp.get_xdata()) == 9  # eps_B = 0 left out


@pytest.mark.parametrize("suffix", ["png", "pdf"])
def test_overtraining(tmp_path, suffix):
    rng = np.random.default_rng(0)

    def sample(mean, n):
        return np.clip(rng.normal(mean, 0.15, n), 0, 1), rng.exponential(1.0, n)

    train = {"signal": sample(0.7, 500), "background": sample(0.3, 800)}
    test = {"signal": sample(0.68, 300), "background": sample(0.31, 400)}
    path = tmp_path / f"overtraining.{suffix}"
    plots.overtraining(train, test, {"signal": 0.42, "background": 0.031}, path, collision=LHC)
    assert _written(path)


@pytest.mark.parametrize("suffix", ["png", "pdf"])
def test_training_history(tmp_path, suffix):
    history = pd.DataFrame(
        {
            "epoch": np.arange(10),
            "train_loss": np.linspace(0.7, 0.3, 10),
            "val_loss": np.linspace(0.7, 0.35, 10),
            "val_auc": np.linspace(0.6, 0.9, 10),
        }
    )
    path = tmp_path / f"history.{suffix}"
    plots.training_history(history, path, collision=LHC)
    assert _written(path)
    # a BDT history: iterations, no AUC
    path = tmp_path / f"bdt_history.{suffix}"
    plots.training_history(history.rename(columns={"epoch": "iteration"}).drop(columns="val_auc"), path, collision=LHC)
    assert _written(path)


@pytest.mark.parametrize("suffix", ["png", "pdf"])
def test_confusion(tmp_path, suffix):
    matrix = np.array([[50.0, 10.0, 5.0], [8.0, 40.0, 2.0], [0.0, 0.0, 0.0]])  # an empty true class stays zero
    path = tmp_path / f"confusion.{suffix}"
    plots.confusion(matrix, ["g", "q", "W"], path, collision=LHC)
    assert _written(path)
