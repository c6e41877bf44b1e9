"""Malformed configs are rejected with a message naming the key."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from workflow_helpers import SNAKEMAKE, copy_repo, edit_config

from phenoflow.config import (
    MAX_CHUNKS_PER_PROCESS,
    ConfigError,
    DuplicateKeyError,
    check_config,
    check_config_files,
    chunk_errors,
    htcondor_path_errors,
    input_paths,
    load_yaml_strict,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_shipped_configs_are_valid(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)  # file paths in a config are relative to the working directory
    check_config(DEFAULT, SCHEMA)
    for example in sorted((REPO / "config" / "examples").glob("*.yaml")):
        check_config(yaml.safe_load(example.read_text()), SCHEMA)
    monkeypatch.chdir(copy_repo(tmp_path))  # where the tiny config's NLO-like LHE file is written
    check_config(yaml.safe_load((REPO / "tests/data/tiny_config.yaml").read_text()), SCHEMA)


def _set(path: str, value):
    def edit(c):
        *parents, last = path.split(".")
        for p in parents:
            c = c.setdefault(p, {})  # a block the config leaves at its defaults
        if value is _DELETE:
            del c[last]
        else:
            c[last] = value

    return edit


_DELETE = object()

BAD = [
    ("unknown top-level key", _set("colour", "red"), r"\(top level\).*'colour' was unexpected"),
    (
        "results directory with a wildcard",
        _set("results", "results/{model}"),
        r"results: 'results/\{model\}' does not match",
    ),
    ("results directory ending in /", _set("results", "results/wjj/"), r"results: 'results/wjj/' does not match"),
    ("wrong type", _set("luminosity_fb", "lots"), r"luminosity_fb: 'lots' is not of type 'number'"),
    ("negative events", _set("processes.qcd.events", -5), r"processes\.qcd\.events: -5 is less than the minimum"),
    (
        "unknown process key",
        _set("processes.qcd.generator_name", "x"),
        r"processes\.qcd.*'generator_name' was unexpected",
    ),
    ("bad role", _set("processes.qcd.role", "noise"), r"processes\.qcd\.role: 'noise' is not one of"),
    ("missing key", _set("seed", _DELETE), r"'seed' is a required property"),
    ("bad process name", _set("processes.q c d", DEFAULT["processes"]["qcd"]), r"processes: 'q c d' does not match"),
    ("bad selection", _set("selection.cuts", ["fatjet0.pt >"]), r"selection\.cuts\[0\]: cannot parse"),
    ("unknown observable", _set("features.names", ["tau0.pt"]), r"features\.names\[0\].*tau0"),
    (
        "min_delta_phi over a bad slice",
        _set("features.names", ["met", "jet[1:4],met.min_delta_phi"]),
        r"features\.names\[1\]: observable 'jet\[1:4\],met\.min_delta_phi': 'jet\[1:4\]': min_delta_phi takes",
    ),
    (
        "split sum",
        _set("split", {"fractions": {"train": 0.5, "val": 0.5, "test": 0.5}}),
        r"split\.fractions: must sum to 1",
    ),
    (
        "split both",
        _set("split.fractions", {"train": 0.5, "val": 0.2, "test": 0.3}),
        r"split: give exactly one of 'folds' or 'fractions'; got \['folds', 'fractions'",
    ),
    ("one fold", _set("split.folds", 1), r"split\.folds: 1 is less than the minimum of 2"),
    ("no signal", _set("processes.zz_qqvv.role", "background"), r"processes: no signal process \(role: signal\)"),
    (
        "no background",
        lambda c: [c["processes"].pop(p) for p in ("qcd", "zvv_jets")],
        r"processes: no background process \(role: background\); the analysis needs at least one signal and one",
    ),
    (
        "reserved Pythia setting",
        _set("processes.qcd.pythia", ["HardQCD:all = on", "beams:eCM = 14000."]),
        r"processes\.qcd\.pythia\[1\]: 'beams:eCM = 14000\.' is reserved: phenoflow sets the beams from the config's 'collider'",
    ),
    (
        "reserved Pythia seed",
        _set("processes.qcd.pythia", ["HardQCD:all = on", "Random:seed = 3"]),
        r"processes\.qcd\.pythia\[1\]: 'Random:seed = 3' is reserved: phenoflow seeds every chunk from the config's 'seed'",
    ),
    (
        "unknown Pythia setting",
        _set("processes.qcd.pythia", ["HardQDC:all = on"]),
        r"processes\.qcd\.pythia\[0\]: 'HardQDC:all = on': Pythia 8\.\d+ has no setting or particle property 'HardQDC:all'",
    ),
    (
        "unreadable Pythia value",
        _set("processes.qcd.pythia", ["PhaseSpace:pTHatMin = high"]),
        r"processes\.qcd\.pythia\[0\]: .* cannot read this value of PhaseSpace:pTHatMin",
    ),
    (
        "unknown Pythia setting of an LHE shower",
        _set(
            "processes.qcd",
            {
                "role": "background",
                "events": 5,
                "lhe": {
                    "file": "tests/data/lhe/pp_jj.lhe.gz",
                    "pythia": ["TimeShower:alphaSvalue = 0.12", "TimeShower:nope = 1"],
                },
            },
        ),
        r"processes\.qcd\.lhe\.pythia\[1\]: .*no setting or particle property 'TimeShower:nope'",
    ),
    (
        "LHE beams not the collider's",
        _set(
            "processes.qcd",
            {"role": "background", "events": 5, "lhe": {"file": "tests/data/lhe/ppbar_1960_idwtup3.lhe"}},
        ),
        r"processes\.qcd\.lhe\.file: the file's beams are p pbar at 980 \+ 980 GeV \(sqrt\(s\) = 1960 GeV\), but "
        r"collider is p p at sqrt\(s\) = 13000 GeV .*processes\.qcd\.lhe\.allow_beam_mismatch",
    ),
    (
        "LHE sqrt(s) not the collider's",
        lambda c: (
            c["collider"].update(sqrt_s_gev=14000.0),
            c["processes"].update(
                qcd={"role": "background", "events": 5, "lhe": {"file": "tests/data/lhe/pp_jj.lhe.gz"}}
            ),
        ),
        r"processes\.qcd\.lhe\.file: the file's beams are p p at 6500 \+ 6500 GeV",
    ),
    (
        "garbage LHE header",
        _set("processes.qcd", {"role": "background", "events": 5, "lhe": {"file": "tests/data/lhe/garbage.lhe"}}),
        r"processes\.qcd\.lhe\.file: tests/data/lhe/garbage\.lhe: not a valid LHE file",
    ),
    (
        "MadGraph with antiprotons",
        lambda c: (
            c["collider"].update(beams=["p", "pbar"]),
            c["processes"].update(
                qcd={"role": "background", "events": 5, "madgraph": {"process": ["generate p p~ > j j"]}}
            ),
        ),
        r"processes\.qcd\.madgraph: phenoflow runs MadGraph for p p beams only, but collider\.beams is p pbar",
    ),
    ("unknown beam particle", _set("collider.beams", ["p", "e-"]), r"collider\.beams\[1\]: 'e-' is not one of"),
    (
        "bad pythia line",
        _set("processes.qcd.pythia", ["HardQCD:all"]),
        r"processes\.qcd\.pythia\[0\]: 'HardQCD:all' does not match",
    ),
    (
        "zero chunk size",
        _set("generation.events_per_chunk", 0),
        r"generation\.events_per_chunk: 0 is less than the minimum",
    ),
    (
        "missing LHE file",
        _set("processes.qcd", {"role": "background", "events": 5, "lhe": {"file": "nope.lhe"}}),
        r"processes\.qcd\.lhe\.file: no such file 'nope\.lhe'",
    ),
    (
        "pythia and lhe at once",
        _set("processes.qcd.lhe", {"file": "x.lhe"}),
        r"processes\.qcd: give exactly one of 'pythia' or 'lhe' or 'madgraph'",
    ),
    (
        "bias set twice",
        _set("processes.qcd.pythia", ["HardQCD:all = on", "PhaseSpace:bias2SelectionPow = 3"]),
        r"processes\.qcd\.pythia\[1\]: sets 'PhaseSpace:bias2SelectionPow' by hand; remove it, processes\.qcd\.bias",
    ),
    (
        "bias power out of Pythia's range",
        _set("processes.qcd.bias", {"power": 12, "reference_pt": 250}),
        r"processes\.qcd\.bias\.power: 12 is greater than the maximum of 10",
    ),
    (
        "bias without a reference pT",
        _set("processes.qcd.bias", {"power": 4}),
        r"processes\.qcd\.bias: 'reference_pt' is a required property",
    ),
    (
        "bias of an LHE file",
        _set(
            "processes.qcd",
            {"role": "background", "events": 5, "lhe": {"file": "x.lhe"}, "bias": {"power": 4, "reference_pt": 250}},
        ),
        r"processes\.qcd: give exactly one of 'pythia' or 'lhe' or 'madgraph'",
    ),
    (
        "unknown shower variation",
        _set("processes.qcd.shower_variations", ["isr", "mpi"]),
        r"processes\.qcd\.shower_variations\[1\]: 'mpi' is not one of \['isr', 'fsr'\]",
    ),
    (
        "shower variations of a MadGraph process",
        _set(
            "processes.qcd",
            {
                "role": "background",
                "events": 5,
                "madgraph": {"process": ["generate p p > j j"]},
                "shower_variations": ["fsr"],
            },
        ),
        r"processes\.qcd: give exactly one of 'pythia' or 'lhe' or 'madgraph'",
    ),
    (
        "unknown LHE variation",
        _set("processes.qcd", {"role": "background", "events": 5, "lhe": {"file": "x.lhe", "variations": ["alphas"]}}),
        r"processes\.qcd\.lhe\.variations\[0\]: 'alphas' is not one of \['scale', 'pdf'\]",
    ),
    (
        "class mixing roles",
        _set("processes.qcd.class", "signal"),
        r"processes\.qcd\.class: 'signal' is the name of the other role",
    ),
    ("bad class name", _set("processes.qcd.class", "q c d"), r"processes\.qcd\.class: 'q c d' does not match"),
    ("bad binning method", _set("binning.methods", ["magic"]), r"binning\.methods\[0\]: 'magic' is not one of"),
    (
        "negative bin MC events",
        _set("binning.min_mc_events", -1),
        r"binning\.min_mc_events: -1 is less than the minimum",
    ),
    (
        "fractional threshold MC events",
        _set("evaluation.min_mc_events", 2.5),
        r"evaluation\.min_mc_events: 2\.5 is not of type 'integer'",
    ),
    (
        "MC events of a cut-and-count as text",
        _set("classifiers.cuts.min_mc_events", "ten"),
        r"classifiers\.cuts\.min_mc_events: 'ten' is not of type 'integer'",
    ),
    (
        "missing detector card",
        _set("detector.card", "config/cards/nope.yaml"),
        r"detector\.card: detector card config/cards/nope\.yaml: cannot read",
    ),
    (
        "madgraph run_card injection",
        _set(
            "processes.qcd",
            {
                "role": "background",
                "events": 5,
                "madgraph": {"process": ["generate p p > j j"], "run_card": {"ptj": "20; shell rm -rf /"}},
            },
        ),
        r"processes\.qcd\.madgraph\.run_card\.ptj",
    ),
    (
        "missing MadGraph Delphes card",
        _set(
            "processes.qcd",
            {
                "role": "background",
                "events": 5,
                "madgraph": {"process": ["generate p p > j j"], "delphes_card": "cards/none.tcl"},
            },
        ),
        r"processes\.qcd\.madgraph\.delphes_card: no such file",
    ),
    # classifier instances
    (
        "old shape: keyed by method",
        _set("classifiers.bdt", {"n_estimators": 10}),
        r"classifiers\.bdt: no 'method' key: classifiers are named instances now.*add 'method: bdt' to it",
    ),
    (
        "no method, free name",
        _set("classifiers.mine", {"max_depth": 2}),
        r"classifiers\.mine: no 'method' key.*add 'method: <one of bdt, cuts, mlp, cnn>'",
    ),
    ("unknown method", _set("classifiers.svm", {"method": "svm"}), r"classifiers\.svm\.method: 'svm' is not one of"),
    (
        "another method's setting",
        _set("classifiers.cuts", {"method": "cuts", "max_depth": 3}),
        r"classifiers\.cuts: .*'max_depth' was unexpected",
    ),
    ("unsafe instance name", _set("classifiers.bdt-2", {"method": "bdt"}), r"classifiers: 'bdt-2' does not match"),
    (
        "feature not in features.names",
        _set("classifiers.cuts.features", ["met", "ht", "jet0.pt"]),
        r"classifiers\.cuts\.features\[2\]: 'jet0\.pt' is not one of features\.names \(fatjet0\.pt, .*\)",
    ),
    ("empty features", _set("classifiers.mlp.features", []), r"classifiers\.mlp\.features: \[\] should be non-empty"),
    (
        "unknown batch source",
        _set("training_batches", "disk"),
        r"training_batches: 'disk' is not one of \['memory', 'mapped'\]",
    ),
    (
        "CNN without images",
        _set("images", _DELETE),
        r"classifiers\.cnn: method cnn trains on jet images; add an images block",
    ),
    (
        "inference of an unknown instance",
        _set("inference.classifiers", ["bdt", "bdt_deep"]),
        r"inference\.classifiers\[1\]: 'bdt_deep' is no classifier instance \(classifiers\.<name>\); "
        r"the binnable instances are bdt, mlp, cnn$",
    ),
    (
        "inference of a cut-and-count",
        _set("inference.classifiers", ["cuts"]),
        r"inference\.classifiers\[0\]: 'cuts' is a cut-and-count \(method cuts\), whose pass/fail score is not binned; "
        r"the binnable instances are bdt, mlp, cnn",
    ),
    (
        "inference.classifiers not a list of names",
        _set("inference.classifiers", [3]),
        r"inference\.classifiers\[0\]: 3 is not of type 'string'",
    ),
    (
        "inference.mc_statistics of an unknown key",
        _set("inference.mc_statistics", {"signal": False}),
        r"inference\.mc_statistics: Additional properties are not allowed \('signal' was unexpected\)",
    ),
    (
        "inference.mc_statistics with a negative threshold",
        _set("inference.mc_statistics", {"poisson_below": -1}),
        r"inference\.mc_statistics\.poisson_below: -1 is less than the minimum of 0",
    ),
    (
        "inference.mc_limited_below of 1 or more",
        _set("inference.mc_limited_below", 1.0),
        r"inference\.mc_limited_below: 1\.0 is greater than or equal to the maximum of 1",
    ),
    (
        "inference.mc_statistics neither boolean nor mapping",
        _set("inference.mc_statistics", "yes"),
        r"inference\.mc_statistics: 'yes' is not of type 'boolean', 'object'",
    ),
]


@pytest.mark.parametrize("edit,pattern", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_config_names_the_key(edit, pattern):
    config = copy.deepcopy(DEFAULT)
    edit(config)
    with pytest.raises(ConfigError, match=pattern):
        check_config(config, SCHEMA)


def _with_lhe(config: dict, path: str, **lhe) -> dict:
    config = copy.deepcopy(config)
    config["processes"]["qcd"] = {"role": "background", "events": 5, "lhe": {"file": path, **lhe}}
    return config


def test_lhe_beams_matching_the_collider_are_accepted(monkeypatch):
    monkeypatch.chdir(REPO)
    check_config(_with_lhe(DEFAULT, "tests/data/lhe/pp_jj.lhe.gz"), SCHEMA)
    # the Tevatron file with a Tevatron collider, beams in either order
    for beams in (["p", "pbar"], ["pbar", "p"]):
        tevatron = _with_lhe(DEFAULT, "tests/data/lhe/ppbar_1960_idwtup3.lhe")
        tevatron["collider"] = {"sqrt_s_gev": 1960.0, "beams": beams}
        check_config(tevatron, SCHEMA)
    # or explicitly allowed at the LHC
    check_config(_with_lhe(DEFAULT, "tests/data/lhe/ppbar_1960_idwtup3.lhe", allow_beam_mismatch=True), SCHEMA)


def test_theory_variations_are_accepted_and_checked_against_the_file(monkeypatch):
    monkeypatch.chdir(REPO)
    config = _with_lhe(DEFAULT, "tests/data/lhe/pp_jj.lhe.gz", variations=["scale", "pdf"])
    config["processes"]["qcd"]["shower_variations"] = ["isr", "fsr"]
    config["processes"]["zvv_jets"]["shower_variations"] = ["fsr"]
    check_config(config, SCHEMA)
    # phenoflow sets Pythia's shower variations: by hand they are reserved
    config["processes"]["zvv_jets"]["pythia"].append("UncertaintyBands:doVariations = on")
    with pytest.raises(ConfigError, match=r"processes\.zvv_jets\.pythia\[6\]: 'UncertaintyBands:doVariations = on' is reserved: .*give shower_variations instead"):  # fmt: skip
        check_config(config, SCHEMA)
    # a file without the variations asked for: the file, the variation and what the file has
    config = _with_lhe(DEFAULT, "tests/data/lhe/ppbar_1960_idwtup3.lhe", variations=["scale"], allow_beam_mismatch=True)
    with pytest.raises(ConfigError, match=r"processes\.qcd\.lhe\.variations: tests/data/lhe/ppbar_1960_idwtup3\.lhe: asks for scale variations.*no <initrwgt> weights"):  # fmt: skip
        check_config(config, SCHEMA)


def test_lhe_beams_are_read_from_the_header_only(tmp_path, monkeypatch):
    """Events that would fail the scan do not matter to the config check: it stops at </init>."""
    good = (REPO / "tests/data/lhe/ppbar_1960_idwtup3.lhe").read_text()
    broken = tmp_path / "broken_events.lhe"
    broken.write_text(good[: good.index("</event>") + 20])  # cut inside the second event
    config = _with_lhe(DEFAULT, str(broken))
    config["collider"] = {"sqrt_s_gev": 1960.0, "beams": ["p", "pbar"]}
    monkeypatch.chdir(REPO)
    check_config(config, SCHEMA)


def test_every_problem_of_every_process_is_listed(monkeypatch):
    monkeypatch.chdir(REPO)
    config = copy.deepcopy(DEFAULT)
    config["processes"]["qcd"]["pythia"] += ["Beams:eCM = 1", "HardQCD:nope = on"]
    config["processes"]["zvv_jets"]["pythia"] += ["Random:setSeed = off"]
    with pytest.raises(ConfigError) as err:
        check_config(config, SCHEMA)
    keys = [line.split(":")[0].strip() for line in str(err.value).splitlines()[1:]]
    assert keys == ["processes.zvv_jets.pythia[6]", "processes.qcd.pythia[2]", "processes.qcd.pythia[3]"]


def test_input_paths_and_the_paths_htcondor_cannot_pass():
    config = yaml.safe_load((REPO / "tests/data/tiny_config.yaml").read_text())
    config["processes"]["zz_madgraph"]["lhe"]["file"] = "data/my run/$(x).lhe"
    paths = input_paths(config)
    assert paths["detector.card"] == config["detector"]["card"]
    assert paths["processes.zz_madgraph.lhe.file"] == "data/my run/$(x).lhe"
    where = {
        "working directory": "/home/a b",
        "Snakefile": "/home/ab/Snakefile",
        "quote": "/x/it's",
        "tab": "/x\ty",
        **paths,
    }
    errors = htcondor_path_errors(where)
    assert [e.split(":")[0] for e in errors] == ["working directory", "quote", "tab", "processes.zz_madgraph.lhe.file"]
    assert errors[0] == (
        "working directory: '/home/a b' contains whitespace, a quote or '$', which the HTCondor executor cannot pass to its jobs"
    )
    assert htcondor_path_errors({"dollar": "/x/$HOME"}) and not htcondor_path_errors({"plain": "/x/a-b_c.d+e@f"})


# -- duplicate keys -------------------------------------------------------------------------------

DUPLICATE_PROCESS = """\
seed: 1
processes:
  qcd:
    role: background
    events: 10
  zz:
    role: signal
    events: 10
  qcd:
    role: background
    events: 20
"""


@pytest.mark.parametrize(
    "text,message",
    [
        (DUPLICATE_PROCESS, "line 9: key 'processes.qcd' given twice, first on line 3"),
        (
            "seed: 1\nprocesses:\n  qcd:\n    events: 10\n    role: background\n    events: 20\n",
            "line 6: key 'processes.qcd.events' given twice, first on line 4",
        ),
        ("seed: 1\nluminosity_fb: 139.0\nseed: 2\n", "line 3: key 'seed' given twice, first on line 1"),
        ("binning: {n_bins: [3, 5], n_bins: [10]}\n", "line 1: key 'binning.n_bins' given twice, first on line 1"),
        ('{"seed": 1, "results": "r",\n "seed": 2}\n', "line 2: key 'seed' given twice, first on line 1"),  # JSON
        ("classifiers:\n  - {name: a, name: b}\n", "line 2: key 'classifiers[0].name' given twice, first on line 2"),
    ],
    ids=["process", "nested key", "top level", "flow mapping", "json", "in a list"],
)
def test_a_key_given_twice_is_refused_naming_file_key_and_line(tmp_path, text, message):
    path = tmp_path / "analysis.yaml"
    path.write_text(text)
    assert yaml.safe_load(text)  # PyYAML alone would take the last silently
    with pytest.raises(
        DuplicateKeyError, match=rf"^{re.escape(f'{path}: {message}')} \(YAML would keep only the last\)"
    ):
        load_yaml_strict(path)
    with pytest.raises(ConfigError):
        check_config_files([REPO / "config/config.yaml", path])


def test_strict_loading_changes_nothing_else(tmp_path):
    """Every shipped config reads as with yaml.safe_load; keys a merge brings in may be overridden;
    a file PyYAML cannot read is left to Snakemake."""
    shipped = [
        REPO / "config/config.yaml",
        *sorted((REPO / "config/examples").glob("*.yaml")),
        REPO / "tests/data/tiny_config.yaml",
    ]
    for path in shipped:
        assert load_yaml_strict(path) == yaml.safe_load(path.read_text()), path
    check_config_files(shipped)
    merged = tmp_path / "merged.yaml"
    merged.write_text("base: &base {events: 10, role: background}\nqcd:\n  <<: *base\n  events: 20\n")
    assert load_yaml_strict(merged)["qcd"] == {"events": 20, "role": "background"}
    unreadable = tmp_path / "tabs.yaml"
    unreadable.write_text("seed:\t1\n\tx: [\n")
    check_config_files([unreadable])


# -- classifier instances -------------------------------------------------------------------------


def test_inference_classifiers_are_instance_names():
    """`inference.classifiers` lists instances by name, whatever their method; an unknown or
    unbinnable one is reported, with the binnable instances, and nothing else of the config."""
    config = copy.deepcopy(DEFAULT)
    config["classifiers"] = {
        "cuts_tight": {"method": "cuts"},
        "bdt_deep": {"method": "bdt", "max_depth": 6},
        "bdt_shallow": {"method": "bdt", "max_depth": 2},
        "cnn_log": {"method": "cnn", "normalise": "log"},
    }
    config["inference"]["classifiers"] = ["cnn_log", "bdt_deep"]
    check_config(config, SCHEMA)
    config["inference"]["classifiers"] = ["bdt", "cnn_log", "cuts_tight"]
    with pytest.raises(ConfigError) as err:
        check_config(config, SCHEMA)
    available = "the binnable instances are bdt_deep, bdt_shallow, cnn_log"
    assert str(err.value).splitlines()[1:] == [
        f"  inference.classifiers[0]: 'bdt' is no classifier instance (classifiers.<name>); {available}",
        f"  inference.classifiers[2]: 'cuts_tight' is a cut-and-count (method cuts), whose pass/fail score is not binned; {available}",
    ]
    config["classifiers"] = {"cuts_tight": {"method": "cuts"}}
    config["inference"]["classifiers"] = ["cuts_tight"]
    with pytest.raises(ConfigError, match=r"not binned; no instance is binnable$"):
        check_config(config, SCHEMA)


def test_an_old_style_classifiers_block_gets_one_migration_line_per_entry():
    """The schema's own complaints about an entry without `method` are replaced by one line
    saying how to migrate it; other problems are still listed."""
    config = copy.deepcopy(DEFAULT)
    for block in config["classifiers"].values():
        del block["method"]
    config["luminosity_fb"] = "lots"
    with pytest.raises(ConfigError) as err:
        check_config(config, SCHEMA)
    lines = str(err.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == [f"classifiers.{m}" for m in config["classifiers"]] + [
        "luminosity_fb"
    ]
    assert "add 'method: cnn' to it (classifiers: {cnn: {method: cnn, ...}})" in lines[3]


def test_instances_of_one_method_with_their_own_features():
    from phenoflow.models import classifiers

    config = copy.deepcopy(DEFAULT)
    config["classifiers"] = {
        "cuts_parallel": {"method": "cuts", "topology": "parallel"},
        "cuts_sequential": {"method": "cuts", "topology": "sequential", "features": ["met", "ht"]},
        "cnn_log": {"method": "cnn", "normalise": "log", "features": ["met", "ht"]},
        "cnn_max": {"method": "cnn", "normalise": "max"},
    }
    check_config(config, SCHEMA)
    instances = classifiers(config)
    assert list(instances) == ["cnn_log", "cnn_max", "cuts_parallel", "cuts_sequential"]
    assert instances["cuts_parallel"].features == tuple(config["features"]["names"])  # all by default
    assert instances["cuts_sequential"].features == ("met", "ht")
    assert instances["cnn_max"].features == () and instances["cnn_max"].images  # the image alone by default
    assert instances["cnn_log"].hyper == {"normalise": "log"}  # without method and features
    assert instances["cnn_log"].model_file(2) == "models/cnn_log/fold2/model.keras"
    assert instances["cuts_parallel"].model_file(0) == "models/cuts_parallel/fold0/model.json"
    assert instances["cuts_parallel"].manifest_file == "models/cuts_parallel/ensemble.json"


@pytest.mark.parametrize(
    "given, filled",
    [
        (None, {"enabled": True, "include_signal": False, "poisson_below": 10}),
        ({"poisson_below": 4}, {"enabled": True, "include_signal": False, "poisson_below": 4}),
        (True, True),
        (False, False),
    ],
)
def test_inference_mc_statistics_defaults_are_the_likelihoods(given, filled):
    """Snakemake's validate fills the schema's defaults into a mapping (or a missing key) and
    leaves the shorthand true / false as it is; each means the same MCStatistics as in the
    likelihood module."""
    from snakemake.utils import validate

    from phenoflow.inference.likelihood import MCStatistics

    config = copy.deepcopy(DEFAULT)
    if given is None:
        config["inference"].pop("mc_statistics", None)  # the default config leaves it to the schema
    else:
        config["inference"]["mc_statistics"] = given
    validate(config, str(SCHEMA))
    assert config["inference"]["mc_statistics"] == filled
    expected = (
        MCStatistics(enabled=filled)
        if isinstance(filled, bool)
        else MCStatistics(poisson_below=filled["poisson_below"])
    )
    assert MCStatistics.from_config(config["inference"]["mc_statistics"]) == expected


def test_the_minimum_of_mc_events_has_one_default_for_bins_and_one_for_thresholds():
    """binning.min_mc_events and evaluation.min_mc_events default to 10 in the schema; a
    cut-and-count's own key has no default (the workflow gives it evaluation's), and a BDT's block
    refuses it."""
    schema = yaml.safe_load(SCHEMA.read_text())
    props = schema["properties"]
    assert props["binning"]["properties"]["min_mc_events"]["default"] == 10
    assert props["evaluation"]["properties"]["min_mc_events"]["default"] == 10
    own = schema["$defs"]["cuts"]["properties"]["min_mc_events"]
    assert own["type"] == "integer" and "default" not in own
    config = copy.deepcopy(DEFAULT)
    config["classifiers"]["bdt"]["min_mc_events"] = 10
    with pytest.raises(ConfigError, match=r"classifiers\.bdt"):
        check_config(config, SCHEMA)


def test_mc_limited_below_defaults_to_the_inference_settings():
    """A config without inference.mc_limited_below gets 0.8, the default of InferenceSettings."""
    from dataclasses import fields

    from snakemake.utils import validate

    from phenoflow.inference.study import InferenceSettings

    config = copy.deepcopy(DEFAULT)
    config["inference"].pop("mc_limited_below", None)  # the default config leaves it to the schema
    validate(config, str(SCHEMA))
    assert config["inference"]["mc_limited_below"] == 0.8
    assert {f.name: f.default for f in fields(InferenceSettings)}["mc_limited_below"] == 0.8
    assert InferenceSettings.from_config(config["inference"], config["significance"]).mc_limited_below == 0.8


def test_inference_settings_from_the_filled_config():
    """The schema fills every key InferenceSettings.from_config reads; they make the settings the
    library's objects say, and a block without one of them is refused naming the key."""
    from snakemake.utils import validate

    from phenoflow.inference.likelihood import MCStatistics
    from phenoflow.inference.study import InferenceSettings
    from phenoflow.inference.theory import TheorySystematics
    from phenoflow.significance import Significance

    config = copy.deepcopy(DEFAULT)
    config["inference"] = {"normalisation": {"qcd": 0.5}, "mc_statistics": {"poisson_below": 4}}
    config["significance"] = {"relative_background_uncertainty": 0.1}
    validate(config, str(SCHEMA))
    settings = InferenceSettings.from_config(config["inference"], config["significance"])
    assert settings == InferenceSettings(
        luminosity_uncertainty=0.0,
        normalisation={"qcd": 0.5},
        mc_statistics=MCStatistics(poisson_below=4.0),
        cl=0.95,
        significance=Significance(relative_background_uncertainty=0.1),
        mc_limited_below=0.8,
        theory=TheorySystematics(),
    )
    del config["inference"]["cl"]
    with pytest.raises(ValueError, match=r"inference\.cl: missing"):
        InferenceSettings.from_config(config["inference"], config["significance"])


@pytest.mark.parametrize(
    "given, filled",
    [
        (None, {"enabled": True, "mode": "both", "correlated": ["isr", "fsr"]}),
        ({"mode": "shape"}, {"enabled": True, "mode": "shape", "correlated": ["isr", "fsr"]}),
        ({"correlated": []}, {"enabled": True, "mode": "both", "correlated": []}),
    ],
)
def test_inference_theory_defaults_are_the_libraries(given, filled):
    """Snakemake's validate fills the schema's defaults into inference.theory; without the key
    they make the TheorySystematics of the library's defaults (run_inference's when given none)."""
    from snakemake.utils import validate

    from phenoflow.inference.theory import TheorySystematics

    config = copy.deepcopy(DEFAULT)
    if given is None:
        config["inference"].pop("theory", None)
    else:
        config["inference"]["theory"] = given
    validate(config, str(SCHEMA))
    assert config["inference"]["theory"] == filled
    options = TheorySystematics.from_config(config["inference"]["theory"])
    assert options == TheorySystematics(**{**filled, "correlated": tuple(filled["correlated"])})
    if given is None:
        assert options == TheorySystematics()


def test_a_bad_theory_mode_is_refused_naming_the_key():
    config = copy.deepcopy(DEFAULT)
    config["inference"]["theory"] = {"mode": "ratio"}
    with pytest.raises(ConfigError, match=r"inference\.theory\.mode: 'ratio' is not one of"):
        check_config(config, SCHEMA)


# -- absurd sample sizes --------------------------------------------------------------------------


def test_more_chunks_than_the_limit_are_refused_naming_the_key_and_the_chunks():
    """ceil(events / events_per_chunk) above generation.max_chunks_per_process (default 10^5,
    the schema's default too) is refused, naming the process's events key and the chunk count."""
    schema = yaml.safe_load(SCHEMA.read_text())
    assert (
        schema["properties"]["generation"]["properties"]["max_chunks_per_process"]["default"] == MAX_CHUNKS_PER_PROCESS
    )
    config = copy.deepcopy(DEFAULT)  # events_per_chunk 2500
    config["processes"]["qcd"]["events"] = 10_000_000_000  # 4 000 000 chunks
    config["processes"]["zvv_jets"]["events"] = 2500 * MAX_CHUNKS_PER_PROCESS  # exactly at the limit
    assert chunk_errors(config) == [
        "processes.qcd.events: 10000000000 events are 4000000 generation chunks of 2500 "
        "(generation.events_per_chunk), more than generation.max_chunks_per_process = 100000; if the "
        "number is meant, raise generation.events_per_chunk or generation.max_chunks_per_process"
    ]
    config["processes"]["zvv_jets"]["events"] += 1  # one event more is one chunk more
    assert [e.split(":")[0] for e in chunk_errors(config)] == ["processes.zvv_jets.events", "processes.qcd.events"]
    assert "100001 generation chunks" in chunk_errors(config)[0]
    with pytest.raises(ConfigError, match=r"processes\.qcd\.events: .* 4000000 generation chunks"):
        check_config(config, SCHEMA)


def test_the_chunk_limit_and_the_chunk_size_can_be_raised():
    config = copy.deepcopy(DEFAULT)
    config["processes"]["qcd"]["events"] = 10_000_000_000
    config["generation"]["max_chunks_per_process"] = 4_000_000
    assert chunk_errors(config) == []
    config["generation"]["max_chunks_per_process"] = 3_999_999
    assert len(chunk_errors(config)) == 1
    config["generation"] = {"events_per_chunk": 100_000}  # 100 000 chunks: at the default limit
    assert chunk_errors(config) == []
    config["generation"]["max_chunks_per_process"] = 0
    with pytest.raises(ConfigError, match=r"generation\.max_chunks_per_process: 0 is less than the minimum of 1"):
        check_config(config, SCHEMA)


def test_a_typo_of_three_zeros_is_refused_before_the_dag_is_built(tmp_path):
    """A dry run with `processes.qcd.events: 10000000000` (50 000 000 chunks of the tiny config's
    200) stops at the config check. The timeout only guards the test run against a DAG of millions
    of jobs; how long the refusal takes is measured in docs/benchmarks.md."""
    workdir = copy_repo(tmp_path)
    edit_config(workdir, lambda c: c["processes"]["qcd"].update(events=10_000_000_000))
    proc = subprocess.run([*SNAKEMAKE, "-n"], cwd=workdir, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "processes.qcd.events: 10000000000 events are 50000000 generation chunks of 200" in output
    assert "Building DAG of jobs" not in output


def test_inference_targets_default_to_the_binned_classifiers_and_optimised_binnings():
    """Without choices the inference builds likelihoods for every binned instance (not the
    cut-and-count), the optimised binnings that run and every K; given ones are kept as given."""
    from phenoflow.config import inference_targets

    config = copy.deepcopy(DEFAULT)
    config["inference"] = {}
    config["binning"]["methods"] = ["equidistant", "gmm", "quantile"]
    config["binning"]["n_bins"] = [3, 5]
    targets = inference_targets(config)
    binned = sorted(n for n, block in config["classifiers"].items() if block["method"] != "cuts")
    assert targets.models == binned and "cuts" not in targets.models
    assert targets.methods == ["gmm"] and targets.n_bins == [3, 5]
    config["binning"]["methods"] = ["gmm_limit", "equidistant", "optimal", "gmm_likelihood"]
    assert inference_targets(config).methods == ["optimal", "gmm_likelihood", "gmm_limit"]  # each optimises
    config["binning"]["methods"] = ["equidistant", "quantile"]  # no optimised binning runs: all that run
    assert inference_targets(config).methods == ["equidistant", "quantile"]
    config["inference"] = {"classifiers": ["mlp", "bdt"], "methods": ["quantile"], "n_bins": [5]}
    assert inference_targets(config) == (["bdt", "mlp"], ["quantile"], [5])
