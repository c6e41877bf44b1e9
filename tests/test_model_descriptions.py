"""Every model describes itself, and the workflow reads the description instead of method names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from phenoflow.models import DESCRIPTIONS, METHODS, ModelDescription, describe


def test_methods_and_their_descriptions():
    assert METHODS == ("bdt", "cuts", "mlp", "cnn")
    assert all(isinstance(d, ModelDescription) and d.method == m for m, d in DESCRIPTIONS.items())
    binnable = [m for m in METHODS if describe(m).binnable]
    assert binnable == ["bdt", "mlp", "cnn"]  # a cut-and-count passes or fails: nothing to bin
    assert [m for m in METHODS if describe(m).images] == ["cnn"]
    assert [m for m in METHODS if describe(m).physical_weights] == ["cuts"]  # Z_A needs expected events
    assert [m for m in METHODS if describe(m).batched] == ["mlp", "cnn"]  # the networks' mini-batches
    assert {describe(m).file_name for m in ("mlp", "cnn")} == {"model.keras"}  # Keras insists on the suffix
    assert describe("cuts").history == "cuts" and describe("bdt").history == "curves"
    with pytest.raises(KeyError, match="unknown model 'svm'"):
        describe("svm")


def test_descriptions_need_neither_xgboost_nor_tensorflow():
    """Snakemake reads them when it starts: importing them must not import the ML libraries."""
    code = (
        "import sys; from phenoflow.models import classifiers, describe; import phenoflow.config; "
        "print(sorted(m for m in ('xgboost', 'tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
