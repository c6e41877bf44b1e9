"""Malformed configs are rejected with a message naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from phenoflow.config import ConfigError, check_config, htcondor_path_errors, input_paths

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_shipped_configs_are_valid(monkeypatch):
    monkeypatch.chdir(REPO)  # file paths in a config are relative to the working directory
    check_config(DEFAULT, SCHEMA)
    check_config(yaml.safe_load((REPO / "tests/data/tiny_config.yaml").read_text()), SCHEMA)


def _set(path: str, value):
    def edit(c):
        *parents, last = path.split(".")
        for p in parents:
            c = c[p]
        if value is _DELETE:
            del c[last]
        else:
            c[last] = value

    return edit


_DELETE = object()

BAD = [
    ("unknown top-level key", _set("colour", "red"), r"\(top level\).*'colour' was unexpected"),
    ("wrong type", _set("luminosity_fb", "lots"), r"luminosity_fb: 'lots' is not of type 'number'"),
    ("negative events", _set("processes.qcd.events", -5), r"processes\.qcd\.events: -5 is less than the minimum"),
    ("unknown process key", _set("processes.qcd.generator_name", "x"), r"processes\.qcd.*'generator_name' was unexpected"),
    ("bad role", _set("processes.qcd.role", "noise"), r"processes\.qcd\.role: 'noise' is not one of"),
    ("missing key", _set("seed", _DELETE), r"'seed' is a required property"),
    ("bad process name", _set("processes.q c d", DEFAULT["processes"]["qcd"]), r"processes: 'q c d' does not match"),
    ("bad selection", _set("selection.cuts", ["fatjet0.pt >"]), r"selection\.cuts\[0\]: cannot parse"),
    ("unknown observable", _set("features.names", ["tau0.pt"]), r"features\.names\[0\].*tau0"),
    ("split sum", _set("split.fractions", {"train": 0.5, "val": 0.5, "test": 0.5}), r"split\.fractions: must sum to 1"),
    ("no signal", _set("processes.zz_qqvv.role", "background"), r"processes: need at least one signal"),
    ("bad pythia line", _set("processes.qcd.pythia", ["HardQCD:all"]), r"processes\.qcd\.pythia\[0\]: 'HardQCD:all' does not match"),
    ("zero chunk size", _set("generation.events_per_chunk", 0), r"generation\.events_per_chunk: 0 is less than the minimum"),
    ("missing LHE file", _set("processes.qcd", {"role": "background", "events": 5, "lhe": {"file": "nope.lhe"}}),
     r"processes\.qcd\.lhe\.file: no such file 'nope\.lhe'"),
    ("pythia and lhe at once", _set("processes.qcd.lhe", {"file": "x.lhe"}), r"processes\.qcd: .*not valid under any"),
    ("bias set twice", _set("processes.qcd.pythia", ["HardQCD:all = on", "PhaseSpace:bias2SelectionPow = 3"]),
     r"processes\.qcd\.pythia\[1\]: sets 'PhaseSpace:bias2SelectionPow' by hand; remove it, processes\.qcd\.bias"),
    ("bias power out of Pythia's range", _set("processes.qcd.bias", {"power": 12, "reference_pt": 250}),
     r"processes\.qcd\.bias\.power: 12 is greater than the maximum of 10"),
    ("bias without a reference pT", _set("processes.qcd.bias", {"power": 4}),
     r"processes\.qcd\.bias: 'reference_pt' is a required property"),
    ("bias of an LHE file", _set("processes.qcd", {"role": "background", "events": 5, "lhe": {"file": "x.lhe"},
                                                   "bias": {"power": 4, "reference_pt": 250}}),
     r"processes\.qcd: .*not valid under any"),
    ("class mixing roles", _set("processes.qcd.class", "signal"), r"processes\.qcd\.class: 'signal' is the name of the other role"),
    ("bad class name", _set("processes.qcd.class", "q c d"), r"processes\.qcd\.class: 'q c d' does not match"),
    ("bad binning method", _set("binning.methods", ["magic"]), r"binning\.methods\[0\]: 'magic' is not one of"),
    ("missing detector card", _set("detector.card", "config/cards/nope.yaml"), r"detector\.card: detector card config/cards/nope\.yaml: cannot read"),
    ("madgraph run_card injection", _set("processes.qcd", {"role": "background", "events": 5, "madgraph": {
        "process": ["generate p p > j j"], "run_card": {"ptj": "20; shell rm -rf /"}}}), r"processes\.qcd\.madgraph\.run_card\.ptj"),
    ("missing MadGraph Delphes card", _set("processes.qcd", {"role": "background", "events": 5, "madgraph": {
        "process": ["generate p p > j j"], "delphes_card": "cards/none.tcl"}}), r"processes\.qcd\.madgraph\.delphes_card: no such file"),
]


@pytest.mark.parametrize("edit,pattern", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_config_names_the_key(edit, pattern):
    config = copy.deepcopy(DEFAULT)
    edit(config)
    with pytest.raises(ConfigError, match=pattern):
        check_config(config, SCHEMA)


def test_input_paths_and_the_paths_htcondor_cannot_pass():
    config = yaml.safe_load((REPO / "tests/data/tiny_config.yaml").read_text())
    config["processes"]["zz_madgraph"]["lhe"]["file"] = "data/my run/$(x).lhe"
    paths = input_paths(config)
    assert paths["detector.card"] == config["detector"]["card"]
    assert paths["processes.zz_madgraph.lhe.file"] == "data/my run/$(x).lhe"
    where = {"working directory": "/home/a b", "Snakefile": "/home/ab/Snakefile", "quote": "/x/it's", "tab": "/x\ty", **paths}
    errors = htcondor_path_errors(where)
    assert [e.split(":")[0] for e in errors] == ["working directory", "quote", "tab", "processes.zz_madgraph.lhe.file"]
    assert errors[0] == (
        "working directory: '/home/a b' contains whitespace, a quote or '$', which the HTCondor executor cannot pass to its jobs"
    )
    assert htcondor_path_errors({"dollar": "/x/$HOME"}) and not htcondor_path_errors({"plain": "/x/a-b_c.d+e@f"})
