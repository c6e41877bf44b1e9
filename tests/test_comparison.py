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
    # a cut-and-count: no AUC, R50 or R99 (a pass/fail score has one working point)
    {"method": "cnc_parallel", "z_max": 34.742661, "wp_signal_efficiency": 0.41, "wp_background_rejection": 4.256874},
    {
        "method": "bdt",
        "auc": 0.952525,
        "auc_err": 0.0123,
        "z_max": 44.131214,
        "z_max_err": 1.5,
        "s_over_sqrt_b": 51.2,
        "wp_signal_efficiency": 0.3,
        "wp_background_rejection": 1200.0,
        "r50": 86.015831,
        "r99": 1.99742,
        "training_time_s": 12.345,
        "n_parameters": 24000,
    },
    {"method": "mlp", "auc": 0.95, "z_max": 44.0, "r50": math.inf, "r99": 999.7, "n_parameters": 1201},
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
        comparison_table([{"method": "bdt", "accuracy": 0.9}])  # dropped: it only measured the class yields
    with pytest.raises(ValueError, match="method"):
        comparison_table([{"auc": 0.9}])


@pytest.mark.parametrize(
    "column, value, text",
    [
        ("auc", 0.952525, "0.9525"),
        ("auc_zvv_jets", 0.79012, "0.7901"),
        ("wp_signal_efficiency", 0.41234, "0.412"),
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
    assert lines[2 + len(ROWS)] == "" and "bootstrap standard errors" in lines[3 + len(ROWS)]  # the note
    assert lines[0].startswith("| Method") and "AUC" in lines[0] and "R50" in lines[0]
    assert "Accuracy" not in markdown
    assert "0.9525 ± 0.0123" in lines[3] and "44.13 ± 1.50" in lines[3] and "86.0" in lines[3] and "2.00" in lines[3]
    assert "∞" in lines[4]
    cuts = [c.strip() for c in lines[2].strip("|").split("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for name in ("AUC", "R50", "R99"):
        assert cuts[header.index(name)] == "—", name
    assert cuts[header.index("1/ε_B at Z_max")] == "4.26" and cuts[header.index("ε_S at Z_max")] == "0.410"
    assert "pass/fail score has one working point" in markdown
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
    assert cells(by_hand)[2:] == cells(with_tabulate)[2:]  # rows and note; only the rule line may differ
    rule = cells(by_hand)[1]
    assert rule[0].startswith("---") and rule[1].endswith(":")  # method left, numbers right aligned


# --- Figures: each writes a non-empty PNG and PDF ---

LHC = Collision(13000.0, 139.0)


def _written(path):
    return path.exists() and path.stat().st_size > 0


@pytest.mark.parametrize("suffix", ["png", "pdf"])
def test_roc_of_several_methods(tmp_path, suffix):
    eps_s = np.linspace(0, 1, 50)
    curves = {
        "bdt": (eps_s, eps_s**4, 0.8),
        "cut-and-count": (np.array([0.0, 0.6, 1.0]), np.array([0.0, 0.1, 1.0]), None),
    }
    path = tmp_path / f"roc.{suffix}"
    plots.roc(curves, path, collision=LHC)
    assert _written(path)
    if suffix == "png":  # every PNG plot comes with a PDF beside it, equal bytes for equal figures
        pdf = path.with_suffix(".pdf")
        assert pdf.read_bytes()[:4] == b"%PDF"
        first = pdf.read_bytes()
        plots.roc(curves, path, collision=LHC)
        assert pdf.read_bytes() == first


def test_roc_axis_labels_and_marker(tmp_path, monkeypatch):
    captured = {}
    monkeypatch.setattr(plots, "save", lambda fig, path: captured.setdefault("fig", fig))
    plots.roc(
        {
            "mlp": (np.linspace(0, 1, 10), np.linspace(0, 1, 10) ** 2, 0.6667),
            "cnc": (np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.2, 1.0]), None),
        },
        tmp_path / "x.png",
        collision=LHC,
    )
    ax = captured["fig"].axes[0]
    assert ax.get_xlabel() == r"Signal efficiency $\varepsilon_S$"
    assert ax.get_ylabel() == r"Background rejection $1/\varepsilon_B$"
    assert ax.get_yscale() == "log"
    mlp, cnc = ax.get_lines()
    assert mlp.get_label() == "mlp (AUC = 0.667)" and cnc.get_label() == "cnc (working point)"
    assert cnc.get_linestyle() == "None" and cnc.get_marker() != "None"
    np.testing.assert_allclose(cnc.get_xydata(), [[0.5, 5.0]])  # only the working point
    assert len(mlp.get_xdata()) == 9  # eps_B = 0 left out


def test_a_cut_and_counts_own_roc_is_its_working_point(tmp_path, monkeypatch):
    captured = {}
    monkeypatch.setattr(plots, "save", lambda fig, path: captured.setdefault("fig", fig))
    plots.roc({"cuts": (np.array([0.0, 0.6, 1.0]), np.array([0.0, 0.1, 1.0]), None)}, tmp_path / "x.png", collision=LHC)
    (point,) = captured["fig"].axes[0].get_lines()
    assert point.get_linestyle() == "None" and point.get_label() == "cuts (working point)"
    np.testing.assert_allclose(point.get_xydata(), [[0.6, 10.0]])


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


# --- Which differences are significant: paired bootstrap errors on the same events ---

from phenoflow.evaluation.bootstrap import Bootstrap, replica_metrics  # noqa: E402
from phenoflow.evaluation.comparison import (  # noqa: E402
    PAIR_COLUMNS,
    columns,
    comparison_row,
    differences_to_best,
    paired_differences,
    paired_events,
)
from phenoflow.evaluation.metrics import weighted_auc  # noqa: E402
from phenoflow.evaluation.scores import evaluate  # noqa: E402

BOOTSTRAP = Bootstrap(300, 11)


def _events(n=900, seed=5):
    """Signal, a Z+jets-like and a QCD-like background (few heavy events), and a classifier's
    latent separation ``x`` that the classifiers below see with their own noise."""
    rng = np.random.default_rng(seed)
    processes = rng.choice(["sig", "zj", "qcd"], n, p=[0.3, 0.6, 0.1])
    labels = (processes == "sig").astype(int)
    weights = np.where(labels == 1, 0.4, np.where(processes == "zj", 5.0, rng.uniform(20, 200, n)))
    x = rng.normal(labels * 1.2, 1.0)
    return processes, labels, weights, x, rng


def _compare(scores: dict, processes, labels, weights, continuous=None):
    continuous = continuous or {}
    metrics, replicas = {}, {}
    for name, score in scores.items():
        flag = continuous.get(name, True)
        result = evaluate(score, weights, labels, 1.0, processes=processes, continuous=flag)
        reps = replica_metrics(score, weights, labels, processes, 1.0, BOOTSTRAP, continuous=flag)
        metrics[name] = {"model": name, **result.metrics, "bootstrap": reps.errors()}
        replicas[name] = reps
    rows = [comparison_row(m, {"training_time_s": 1.0, "n_parameters": 10}) for m in metrics.values()]
    table = differences_to_best(comparison_table(rows, ["qcd", "zj"]), replicas)
    return table, paired_differences(table, replicas), replicas


def test_the_paired_difference_of_identical_scores_is_exactly_zero():
    processes, labels, weights, x, rng = _events()
    score = 1 / (1 + np.exp(-x))
    table, pairs, _ = _compare({"bdt": score, "copy": score.copy()}, processes, labels, weights)
    assert list(pairs.columns) == list(PAIR_COLUMNS)
    same = pairs[(pairs.method_a == "bdt") & (pairs.method_b == "copy")].set_index("metric")
    assert sorted(same.index) == ["auc", "auc_qcd", "auc_zj", "z_max", "z_max_asimov"]
    assert (same["difference"] == 0).all() and (same["error"] == 0).all()
    assert (same["n_sigma"] == 0).all() and not same["significant"].any()
    assert list(table["auc_minus_best"]) == [0.0, 0.0] and list(table["auc_minus_best_err"]) == [0.0, 0.0]
    assert (table["auc_err"] > 0).all()  # each has its own error; only their difference has none


def test_pairing_cancels_what_two_classifiers_share_and_finds_a_real_difference():
    processes, labels, weights, x, rng = _events()
    scores = {
        "good": 1 / (1 + np.exp(-(x + rng.normal(0, 0.2, len(x))))),
        "close": 1 / (1 + np.exp(-(x + rng.normal(0, 0.25, len(x))))),
        "poor": 1 / (1 + np.exp(-(x + rng.normal(0, 2.0, len(x))))),
    }
    table, pairs, replicas = _compare(scores, processes, labels, weights)
    auc = pairs[pairs.metric == "auc"].set_index(["method_a", "method_b"])
    close = auc.loc[("good", "close")]
    unpaired = np.hypot(*table.set_index("method").loc[["good", "close"], "auc_err"])
    assert close["error"] < 0.5 * unpaired  # the events they share cancel in the difference
    assert close["difference"] == pytest.approx(table["auc"][0] - table["auc"][1], rel=1e-12)
    assert close["error"] == pytest.approx(np.std(replicas["good"].auc - replicas["close"].auc, ddof=1), rel=1e-12)
    assert auc.loc[("good", "poor"), "significant"] and auc.loc[("good", "poor"), "n_sigma"] > 2
    best = table.set_index("method")
    assert best.loc["good", "auc_minus_best"] == 0 or best.loc["close", "auc_minus_best"] == 0
    assert best.loc["poor", "auc_minus_best"] < -2 * best.loc["poor", "auc_minus_best_err"]


def test_per_background_aucs_with_errors_and_a_cut_and_count_without(tmp_path):
    processes, labels, weights, x, rng = _events()
    scores = {"bdt": 1 / (1 + np.exp(-x)), "cuts": (x > 1.0).astype(float)}
    table, pairs, _ = _compare(scores, processes, labels, weights, {"cuts": False})
    assert list(table.columns) == list(columns(["qcd", "zj"]))
    bdt, cuts = table.iloc[0], table.iloc[1]
    for process in ("qcd", "zj"):
        mine = (processes == "sig") | (processes == process)
        assert bdt[f"auc_{process}"] == pytest.approx(weighted_auc(scores["bdt"][mine], weights[mine], labels[mine]))
        assert 0 < bdt[f"auc_{process}_err"] < 0.1
        assert np.isnan(cuts[f"auc_{process}"]) and np.isnan(cuts[f"auc_{process}_err"])
    for column in ("auc", "auc_err", "auc_minus_best", "r50", "r99"):
        assert np.isnan(cuts[column]), column
    kept = x > 1.0
    assert cuts["wp_signal_efficiency"] == pytest.approx(
        weights[kept & (labels == 1)].sum() / weights[labels == 1].sum()
    )
    assert np.isfinite(cuts["z_max_minus_best"]) and cuts["z_max_err"] > 0  # Z_max it has
    assert set(pairs[pairs.metric.str.startswith("auc")].method_b) == set()  # no AUC pair with the cut-and-count
    write_comparison(table, tmp_path / "c.csv", tmp_path / "c.md", n_replicas=BOOTSTRAP.n_replicas)
    markdown = (tmp_path / "c.md").read_text()
    header = [c.strip() for c in markdown.splitlines()[0].strip("|").split("|")]
    assert "AUC vs zj" in header and "AUC vs qcd" in header and "auc_err" not in header
    assert f"{BOOTSTRAP.n_replicas} replicas" in markdown
    back = pd.read_csv(tmp_path / "c.csv")
    assert list(back.columns) == list(table.columns)


def test_the_markdown_marks_the_best_and_what_lies_within_two_sigma_of_it(tmp_path):
    rows = [
        {"method": "a", "auc": 0.95, "auc_err": 0.01, "z_max": 5.0, "z_max_err": 0.5},
        {"method": "b", "auc": 0.94, "auc_err": 0.01, "z_max": 7.0, "z_max_err": 0.6},
        {"method": "c", "auc": 0.90, "auc_err": 0.01, "z_max": 6.0, "z_max_err": 0.6},
    ]
    table = comparison_table(rows)
    table["auc_minus_best"] = [0.0, -0.01, -0.05]
    table["auc_minus_best_err"] = [0.0, 0.008, 0.01]
    table["z_max_minus_best"] = [-2.0, 0.0, -1.0]
    table["z_max_minus_best_err"] = [0.0, 0.0, 0.5]
    write_comparison(table, tmp_path / "c.csv", tmp_path / "c.md")
    lines = (tmp_path / "c.md").read_text().splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = {row[0]: row for row in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:5])}
    auc, z = header.index("AUC − best (paired)"), header.index("Z_max − best (paired)")
    assert cells["a"][auc] == "best" and cells["b"][z] == "best"
    assert cells["b"][auc] == "−0.0100 ± 0.0080 (1.2σ: within 2σ)"
    assert cells["c"][auc] == "−0.0500 ± 0.0100 (5.0σ)"
    assert cells["c"][z] == "−1.00 ± 0.50 (2.0σ: within 2σ)"
    assert cells["a"][z] == "−2.00 ± 0.00 (∞σ)"  # a difference without spread
    assert cells["a"][header.index("AUC")] == "0.9500 ± 0.0100"


def test_paired_events_pair_rows_and_refuse_other_events():
    frame = pd.DataFrame(
        {
            "row": [0, 1, 2, 3],
            "fold": [0, 1, 0, 1],
            "process": ["sig", "zj", "qcd", "zj"],
            "label": [1, 0, 0, 0],
            "weight": [0.5, 2.0, 30.0, 2.0],
            "score": [0.9, 0.2, 0.4, 0.1],
        }
    )
    shuffled = frame.iloc[[2, 0, 3, 1]].assign(score=[0.8, 0.7, 0.3, 0.6])
    events, scores = paired_events({"a": frame, "b": shuffled}, {"a": "a.parquet", "b": "b.parquet"})
    assert list(events["row"]) == [0, 1, 2, 3] and list(events["process"]) == ["sig", "zj", "qcd", "zj"]
    np.testing.assert_array_equal(scores["b"], [0.7, 0.6, 0.8, 0.3])  # by row, not by position
    other = frame.assign(weight=[0.5, 2.0, 31.0, 2.0])
    with pytest.raises(ValueError, match=r"c\.parquet: not the events of a\.parquet"):
        paired_events({"a": frame, "c": other}, {"a": "a.parquet", "c": "c.parquet"})
    with pytest.raises(ValueError, match=r"c\.parquet"):
        paired_events({"a": frame, "c": frame.iloc[:3]}, {"a": "a.parquet", "c": "c.parquet"})


def test_a_background_whose_auc_column_would_be_another_is_refused():
    with pytest.raises(ValueError, match="rename"):
        columns(["zj", "err"])
