"""The MadGraph5 + Pythia8 + Delphes backend (phenoflow.generation.madgraph).

MadGraph cannot be installed here, so what is tested is phenoflow's side: the command script it
writes, banner parsing on a real MadGraph banner (tests/data/madgraph/run_01_tag_1_banner.txt, a
byte copy of shared/data/madgraph/pp_zz_jjvv/run_01_tag_1_banner.txt: MadGraph5_aMC@NLO 3.5.2,
`p p > z z, z > j j, z > vl vl~` at 13 TeV, 100 events, iseed 42, Pythia8 and Delphes run), and
process control with a stand-in ``mg5_aMC`` put first on PATH. The stand-in records its argv and
cwd, reads the command script and writes what MadGraph would: the banner (the real one, with the
script's seed and event count) and a small Delphes-layout ROOT file at MadGraph's paths.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from phenoflow.detector.ntuple import read_events
from phenoflow.generation.madgraph import (
    BANNER_FILE,
    CARD_FILE,
    PROCESS_DIR,
    ROOT_FILE,
    SCRIPT_FILE,
    generate_chunk,
    read_banner,
)
from phenoflow.generation.madgraph_script import command_script
from phenoflow.seeds import derive_seed

REPO = Path(__file__).resolve().parents[1]
BANNER = REPO / "tests/data/madgraph/run_01_tag_1_banner.txt"
SCRIPT = REPO / "workflow/scripts/generate_madgraph_chunk.py"
KEY = "processes.zz.madgraph"
SIGMA_PB, SIGMA_ERR_PB = 2.283700e-03, 3.839514e-05  # the banner's <init> process line

ZZ = {
    "model": "sm",
    "definitions": ["define vl = ve vm vt", "define vl~ = ve~ vm~ vt~"],
    "process": ["generate p p > z z, z > j j, z > vl vl~", "add process p p > z z j, z > j j, z > vl vl~"],
    "run_card": {"ptj": 20, "htjmin": 400.0, "use_syst": False, "pdlabel": "nn23lo1"},
    "pythia8_card": ["PartonLevel:MPI = off", "23:onIfMatch = 12 -12"],
}

STANDIN = """#!PYTHON
import json, os, re, sys
from pathlib import Path

script = Path(sys.argv[1])
lines = script.read_text().splitlines()
record = Path(os.environ["STANDIN_RECORD"])
record.mkdir(exist_ok=True)
call = record / f"call{len(list(record.iterdir()))}.json"
call.write_text(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "lines": lines}))
print("stand-in MadGraph5_aMC@NLO  VERSION 3.5.7")
mode = os.environ.get("STANDIN_MODE", "ok")
if mode == "fail":
    print("Command \\"launch\\" interrupted with error:", file=sys.stderr)
    sys.exit(1)
run_card = dict(re.fullmatch(r"set run_card (\\w+) (\\S+)", l).groups() for l in lines if l.startswith("set run_card "))
proc = Path(next(l.split()[1] for l in lines if l.startswith("output ")))
events = proc / "Events" / "run_01"
events.mkdir(parents=True)
banner = Path(os.environ["STANDIN_BANNER"]).read_text()
n = int(run_card["nevents"])
if mode != "stale_seed":
    banner = re.sub(r"^ *\\d+ = iseed", f" {run_card['iseed']} = iseed", banner, flags=re.M)
banner = re.sub(r"^ *\\d+\\t= nevents", f"  {n}\\t= nevents", banner, flags=re.M)
banner = re.sub(r"Number of Events +: +\\d+", f"Number of Events        :       {n}", banner)
(events / "run_01_tag_1_banner.txt").write_text(banner)
if mode == "no_output":
    sys.exit(0)

import awkward as ak
import numpy as np
import uproot

rng = np.random.default_rng(int(run_card["iseed"]))
one = lambda x: ak.unflatten(np.asarray(x), np.ones(n, dtype=np.int64))

def collection(fields):
    counts = rng.integers(0, 4, n)
    m = int(counts.sum())
    ranges = {"PT": (20, 500), "Eta": (-2.5, 2.5), "Phi": (-3.1, 3.1), "Mass": (0, 100), "E": (20, 900)}
    arrays = {k: rng.uniform(*ranges[k], m).astype("f4") for k in fields if k in ranges}
    arrays.update({k: rng.choice([-1, 1], m).astype("i4") for k in fields if k == "Charge"})
    arrays.update({k: np.zeros(m, dtype="u4") for k in fields if k == "BTag"})
    return ak.unflatten(ak.zip(arrays), counts)

# The collections and fields (a subset) of a Delphes file written with delphes_card_CMS.tcl.
branches = {
    "Event": ak.zip({"Number": one(np.arange(n)), "Weight": one(np.full(n, 0.0022837, dtype="f4"))}),
    "Jet": collection(["PT", "Eta", "Phi", "Mass", "BTag"]),
    "FatJet": collection(["PT", "Eta", "Phi", "Mass"]),
    "Electron": collection(["PT", "Eta", "Phi", "Charge"]),
    "Muon": collection(["PT", "Eta", "Phi", "Charge"]),
    "Photon": collection(["PT", "Eta", "Phi", "E"]),
    "MissingET": ak.zip({k: one(rng.uniform(0, 3, n).astype("f4")) for k in ("MET", "Eta", "Phi")}),
    "ScalarHT": ak.zip({"HT": one(rng.uniform(0, 900, n).astype("f4"))}),
}
if mode == "no_fatjet":
    del branches["FatJet"]
with uproot.recreate(events / "tag_1_delphes_events.root") as out:
    out.mktree("Delphes", branches, field_name=lambda o, i: f"{o}.{i}", counter_name=lambda c: f"{c}_size")
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def fake_env(tmp_path, monkeypatch) -> SimpleNamespace:
    """A conda-env-like prefix with the stand-in mg5_aMC, dummy Delphes programs and a Delphes card,
    its bin/ first on PATH."""
    prefix = tmp_path / "env"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "cards").mkdir()
    _executable(prefix / "bin" / "mg5_aMC", STANDIN.replace("PYTHON", sys.executable, 1))
    for name in ("DelphesHepMC2", "DelphesSTDHEP"):
        _executable(prefix / "bin" / name, "#!/bin/sh\nexit 0\n")
    (prefix / "cards" / "delphes_card_CMS.tcl").write_text("set ExecutionPath {ParticlePropagator}\n")
    monkeypatch.setenv("PATH", f"{prefix / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_RECORD", str(tmp_path / "calls"))
    monkeypatch.setenv("STANDIN_BANNER", str(BANNER))

    def calls() -> list[dict]:
        files = sorted((tmp_path / "calls").glob("call*.json"), key=lambda p: int(p.stem[4:]))
        return [json.loads(p.read_text()) for p in files]

    return SimpleNamespace(prefix=prefix, calls=calls)


def test_command_script_lines_and_order():
    lines = command_script(ZZ, 2500, 123456, 13000.0, "/w/mg5_process", "/w/delphes_card.tcl", "/env/bin", key=KEY)
    assert lines == [
        "set delphes_path /env/bin --no_save",
        "set nb_core 1 --no_save",
        "set automatic_html_opening False --no_save",
        "import model sm",
        "define vl = ve vm vt",
        "define vl~ = ve~ vm~ vt~",
        "generate p p > z z, z > j j, z > vl vl~",
        "add process p p > z z j, z > j j, z > vl vl~",
        "output /w/mg5_process -nojpeg",
        "launch /w/mg5_process",
        "shower=Pythia8",
        "detector=Delphes",
        "analysis=OFF",
        "madspin=OFF",
        "done",
        "set run_card nevents 2500",
        "set run_card iseed 123456",
        "set run_card ebeam1 6500.0",
        "set run_card ebeam2 6500.0",
        "set run_card ptj 20",
        "set run_card htjmin 400.0",
        "set run_card use_syst False",
        "set run_card pdlabel nn23lo1",
        "set pythia8_card Random:setSeed = on",
        "set pythia8_card Random:seed = 123456",
        "set pythia8_card PartonLevel:MPI = off",
        "set pythia8_card 23:onIfMatch = 12 -12",
        "/w/delphes_card.tcl",
        "done",
    ]


def test_command_script_minimal_block_and_cores():
    lines = command_script({"process": ["generate p p > t t~"]}, 10, 7, 14000.0, "/p", "/c.tcl", "/b", cores=2)
    assert lines[1] == "set nb_core 2 --no_save"
    assert lines[3:6] == ["import model sm", "generate p p > t t~", "output /p -nojpeg"]
    assert "set run_card ebeam1 7000.0" in lines and lines[-2:] == ["/c.tcl", "done"]


def _with(section: str, value) -> dict:
    """ZZ with one part replaced: 'run_card.<name>', 'process[<i>]', 'definitions[0]', 'pythia8_card[0]', ..."""
    block = json.loads(json.dumps(ZZ))
    if section.startswith("run_card."):
        block["run_card"][section.split(".", 1)[1]] = value
    elif "[" in section:
        name, index = section[:-1].split("[")
        block[name][int(index)] = value
    else:
        block[section] = value
    return block


BAD = [
    ("run_card.ptj", "20; shell touch MARKER", ".run_card.ptj"),
    ("run_card.ptj", "20\nshell touch MARKER", ".run_card.ptj"),
    ("run_card.ptj", "$(touch MARKER)", ".run_card.ptj"),
    ("run_card.ptj", "`touch MARKER`", ".run_card.ptj"),
    ("run_card.ptj", "20 ! touch MARKER", ".run_card.ptj"),
    ("run_card.ptj", [1, 2], ".run_card.ptj"),
    ("run_card.ptj", float("nan"), ".run_card.ptj"),
    ("run_card.ptj;shell", 20, ".run_card.ptj;shell"),
    ("run_card.iseed", 5, ".run_card.iseed"),
    ("run_card.nevents", 5, ".run_card.nevents"),
    ("process[0]", "generate p p > z z; shell touch MARKER", ".process[0]"),
    ("process[0]", "generate p p > z z\nshell touch MARKER", ".process[0]"),
    ("process[0]", "generate p p > $(touch MARKER)", ".process[0]"),
    ("process[0]", "!touch MARKER", ".process[0]"),
    ("process[0]", "add process p p > z z", ".process[0]"),
    ("process[1]", "generate p p > z z j", ".process[1]"),
    ("process", [], ".process"),
    ("definitions[0]", "define vl = ve vm vt; shell touch MARKER", ".definitions[0]"),
    ("definitions[0]", "shell touch MARKER", ".definitions[0]"),
    ("model", "sm\nshell touch MARKER", ".model"),
    ("model", "sm # comment", ".model"),
    ("pythia8_card[0]", "PartonLevel:MPI = off; shell touch MARKER", ".pythia8_card[0]"),
    ("pythia8_card[0]", "PartonLevel:MPI = off\nshell touch MARKER", ".pythia8_card[0]"),
    ("pythia8_card[0]", "PartonLevel:MPI\n= off", ".pythia8_card[0]"),
    ("pythia8_card[0]", "Random:seed = 3", ".pythia8_card[0]"),
    ("decays", ["z > j j"], ": unknown key"),
]


@pytest.mark.parametrize("section,value,where", BAD, ids=[f"{s}={v!r}" for s, v, _ in BAD])
def test_bad_values_are_a_value_error_naming_the_key(section, value, where):
    with pytest.raises(ValueError, match=f"^{re.escape(KEY + where)}"):
        command_script(_with(section, value), 100, 1, 13000.0, "/p", "/c.tcl", "/b", key=KEY)


@pytest.mark.parametrize("section,value,where", BAD[:5] + BAD[10:14] + BAD[21:22])
def test_injected_commands_never_run(fake_env, tmp_path, section, value, where):
    marker = tmp_path / "MARKER"
    block = _with(section, value.replace("MARKER", str(marker)))
    with pytest.raises(ValueError, match=f"^{re.escape(KEY + where)}"):
        generate_chunk(block, 5, 1, 13000.0, tmp_path / "work", tmp_path / "mg5.log", key=KEY)
    assert fake_env.calls() == [] and not marker.exists()


@pytest.mark.parametrize("section", ["run_card.ptj", "process[0]", "definitions[0]", "pythia8_card[0]"])
def test_rm_rf_is_rejected_before_anything_runs(fake_env, tmp_path, section):
    victim = tmp_path / "victim"
    victim.mkdir()
    value = {"run_card.ptj": "20", "process[0]": "generate p p > z z", "definitions[0]": "define vl = ve vm vt",
             "pythia8_card[0]": "PartonLevel:MPI = off"}[section] + f"; rm -rf {victim}"  # fmt: skip
    with pytest.raises(ValueError, match=f"^{re.escape(KEY + '.' + section)}"):
        generate_chunk(_with(section, value), 5, 1, 13000.0, tmp_path / "work", tmp_path / "mg5.log", key=KEY)
    assert fake_env.calls() == [] and victim.is_dir()


def test_real_banner():
    text = BANNER.read_text()
    assert "2.283700e-03 3.839514e-05 2.283700e-03 1" in text and "Integrated weight (pb)  :       0.0022837" in text
    banner = read_banner(BANNER)
    assert banner.sigma_pb == pytest.approx(SIGMA_PB, rel=1e-12)
    assert banner.sigma_err_pb == pytest.approx(SIGMA_ERR_PB, rel=1e-12)
    assert banner.sigma_integrated_pb == pytest.approx(0.0022837, rel=1e-12)
    assert banner.sigma_matched_pb is None
    assert banner.processes == ((SIGMA_PB, SIGMA_ERR_PB),)
    assert banner.n_events == 100
    assert banner.mg5_version == "3.5.2"
    assert banner.beam_energy_gev == (6500.0, 6500.0)
    assert {k: banner.run_card[k] for k in ("nevents", "iseed", "htjmin", "run_tag")} == {
        "nevents": "100", "iseed": "42", "htjmin": "400.0", "run_tag": "tag_1",
    }  # fmt: skip


def test_banner_sums_processes_in_quadrature_and_reads_matched_sigma(tmp_path):
    path = tmp_path / "banner.txt"
    path.write_text(
        '<LesHouchesEvents version="3.0">\n<header>\n<MGVersion>\n#2.6.5\n</MGVersion>\n'
        "<MGGenerationInfo>\n#  Number of Events        :       500\n#  Integrated weight (pb)  :       7.0\n"
        "#  Matched Integrated weight (pb)  :       5.0\n</MGGenerationInfo>\n</header>\n<init>\n"
        "2212 2212 7.000000e+03 7.000000e+03 0 0 247000 247000 -4 2\n"
        "4.000000e+00 3.000000e-02 4.0 1\n3.000000e+00 4.000000e-02 3.0 2\n</init>\n</LesHouchesEvents>\n"
    )
    banner = read_banner(path)
    assert banner.sigma_pb == pytest.approx(7.0) and banner.sigma_err_pb == pytest.approx(0.05)
    assert banner.sigma_matched_pb == 5.0 and banner.n_events == 500 and banner.mg5_version == "2.6.5"
    assert banner.beam_energy_gev == (7000.0, 7000.0)


def test_banner_without_init_or_with_missing_process_lines_is_an_error(tmp_path):
    path = tmp_path / "banner.txt"
    path.write_text("<header></header>\n")
    with pytest.raises(ValueError, match="no <init> block"):
        read_banner(path)
    path.write_text("<init>\n2212 2212 6500 6500 0 0 247000 247000 -4 2\n1.0 0.1 1.0 1\n</init>\n")
    with pytest.raises(ValueError, match="NPRUP = 2"):
        read_banner(path)


def test_two_chunks_with_the_stand_in(fake_env, tmp_path):
    seeds = [derive_seed(1, "generate", "zz", chunk) for chunk in (0, 1)]
    runs = [
        generate_chunk(ZZ, 40 + i, seed, 13000.0, tmp_path / f"chunk{i}.mg5", tmp_path / f"chunk{i}.log", key=KEY)
        for i, seed in enumerate(seeds)
    ]
    calls = fake_env.calls()
    assert len(calls) == 2
    for i, (run, call, seed) in enumerate(zip(runs, calls, seeds)):
        workdir = tmp_path / f"chunk{i}.mg5"
        assert call["argv"] == [str(fake_env.prefix / "bin" / "mg5_aMC"), str(workdir / SCRIPT_FILE)]
        assert call["cwd"] == str(workdir)
        expected = command_script(ZZ, 40 + i, seed, 13000.0, workdir / PROCESS_DIR, workdir / CARD_FILE,
                                  fake_env.prefix / "bin", key=KEY)  # fmt: skip
        assert call["lines"] == expected == (workdir / SCRIPT_FILE).read_text().splitlines()
        assert {f"set run_card iseed {seed}", f"set pythia8_card Random:seed = {seed}"} <= set(call["lines"])
        assert (workdir / CARD_FILE).read_text() == (fake_env.prefix / "cards" / "delphes_card_CMS.tcl").read_text()
        assert run.delphes_root == workdir / ROOT_FILE and run.banner == workdir / BANNER_FILE
        assert not (workdir / PROCESS_DIR).exists()
        assert run.sigma_pb == pytest.approx(SIGMA_PB) and run.sigma_err_pb == pytest.approx(SIGMA_ERR_PB)
        assert run.n_events == run.n_lhe_events == 40 + i
        assert run.sum_weights == pytest.approx((40 + i) * 0.0022837, rel=1e-6)
        assert run.mg5_version == "3.5.2"
        assert read_banner(run.banner).run_card["iseed"] == str(seed)
        assert len(read_events([run.delphes_root])) == 40 + i
        log_text = run.log.read_text()
        assert "stand-in MadGraph5_aMC@NLO" in log_text and f"set run_card iseed {seed}" in log_text
    seed_lines = [{line for line in call["lines"] if "seed" in line} for call in calls]
    assert seed_lines[0].isdisjoint(seed_lines[1])


def test_a_workdir_with_spaces_and_shell_characters_works(fake_env, tmp_path):
    marker = tmp_path / "MARKER"
    workdir = tmp_path / "my work dir" / f"chunk 0; $(touch {marker})"
    run = generate_chunk(ZZ, 12, 5, 13000.0, workdir, tmp_path / "log dir" / "chunk 0.log", key=KEY)
    (call,) = fake_env.calls()
    assert " " not in call["cwd"] and not Path(call["cwd"]).exists()  # ran in a temporary directory, now removed
    assert run.delphes_root == workdir / ROOT_FILE and run.delphes_root.is_file()
    assert sorted(p.name for p in workdir.iterdir()) == sorted([ROOT_FILE, BANNER_FILE, SCRIPT_FILE, CARD_FILE])
    assert run.n_events == 12 and not marker.exists()


def test_failing_mg5_names_the_log_and_leaves_no_output(fake_env, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_MODE", "fail")
    log_path = tmp_path / "chunk0.log"
    with pytest.raises(RuntimeError, match=f"status 1; see its output in {log_path}"):
        generate_chunk(ZZ, 5, 3, 13000.0, tmp_path / "work", log_path, key=KEY)
    assert "interrupted with error" in log_path.read_text()
    assert not (tmp_path / "work" / ROOT_FILE).exists()


def test_missing_delphes_file_names_the_log(fake_env, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_MODE", "no_output")
    log_path = tmp_path / "chunk0.log"
    with pytest.raises(RuntimeError, match=f"tag_1_delphes_events.root; see its output in {log_path}"):
        generate_chunk(ZZ, 5, 3, 13000.0, tmp_path / "work", log_path, key=KEY)


def test_delphes_file_without_a_collection_the_analysis_reads(fake_env, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_MODE", "no_fatjet")
    with pytest.raises(RuntimeError, match=r"no branch FatJet\.PT.*the Delphes card must write"):
        generate_chunk(ZZ, 5, 3, 13000.0, tmp_path / "work", tmp_path / "log", key=KEY)


def test_banner_must_show_the_requested_seed_and_beams(fake_env, tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="beam energies"):
        generate_chunk(ZZ, 5, 3, 14000.0, tmp_path / "a", tmp_path / "a.log", key=KEY)
    monkeypatch.setenv("STANDIN_MODE", "stale_seed")
    with pytest.raises(RuntimeError, match="iseed = 42, not this chunk's seed 3"):
        generate_chunk(ZZ, 5, 3, 13000.0, tmp_path / "b", tmp_path / "b.log", key=KEY)


def test_missing_executables_are_named(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    everything = r"needs mg5_aMC, DelphesHepMC2 on PATH.*workflow/envs/madgraph\.yaml.*--sdm conda"
    with pytest.raises(FileNotFoundError, match=everything):
        generate_chunk(ZZ, 5, 1, 13000.0, tmp_path / "work", tmp_path / "log", key=KEY)
    _executable(empty / "mg5_aMC", "#!/bin/sh\nexit 0\n")
    with pytest.raises(FileNotFoundError, match=r"needs DelphesHepMC2 on PATH"):
        generate_chunk(ZZ, 5, 1, 13000.0, tmp_path / "work", tmp_path / "log", key=KEY)
    _executable(empty / "DelphesHepMC2", "#!/bin/sh\nexit 0\n")
    with pytest.raises(FileNotFoundError, match="DelphesSTDHEP"):
        generate_chunk(ZZ, 5, 1, 13000.0, tmp_path / "work", tmp_path / "log", key=KEY)


def test_configured_delphes_card(fake_env, tmp_path):
    card = tmp_path / "my card.tcl"
    card.write_text("set ExecutionPath {Mine}\n")
    run = generate_chunk(dict(ZZ, delphes_card=str(card)), 5, 9, 13000.0, tmp_path / "w", tmp_path / "l", key=KEY)
    assert run.delphes_card.read_text() == card.read_text()
    with pytest.raises(FileNotFoundError, match=f"{KEY}.delphes_card: .*missing.tcl not found"):
        generate_chunk(dict(ZZ, delphes_card=str(tmp_path / "missing.tcl")), 5, 9, 13000.0, tmp_path / "w",
                       tmp_path / "l", key=KEY)  # fmt: skip


def _snakemake(tmp_path: Path, n_events: int) -> SimpleNamespace:
    return SimpleNamespace(
        params=SimpleNamespace(generator={"madgraph": ZZ}, n_events=n_events, seed=4242, sqrt_s=13000.0),
        wildcards=SimpleNamespace(process="zz", chunk="3"),
        output=SimpleNamespace(ntuple="results/generate/zz/chunk3.root", summary="results/generate/zz/chunk3.json"),
        log=[str(tmp_path / "logs" / "chunk3.log")],
        threads=1,
    )


def test_snakemake_script(fake_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    runpy.run_path(str(SCRIPT), init_globals={"snakemake": _snakemake(tmp_path, 25)})
    summary = json.loads(Path("results/generate/zz/chunk3.json").read_text())
    assert summary["process"] == "zz" and summary["chunk"] == 3 and summary["seed"] == 4242
    assert summary["n_events"] == summary["n_tried"] == 25 and summary["filter_efficiency"] == 1.0
    assert summary["sigma_pb"] == pytest.approx(SIGMA_PB) and summary["sigma_err_pb"] == pytest.approx(SIGMA_ERR_PB)
    assert summary["sum_weights"] == pytest.approx(25 * 0.0022837, rel=1e-6)
    assert summary["mg5_version"] == "3.5.2"
    assert summary["mg5_script"] == "results/generate/zz/chunk3.mg5/mg5_commands.txt"
    assert Path(summary["banner"]).is_file() and Path(summary["delphes_card"]).is_file()
    assert len(read_events(["results/generate/zz/chunk3.root"])) == 25
    assert not Path("results/generate/zz/chunk3.mg5", ROOT_FILE).exists()


def test_snakemake_script_failure_leaves_no_output(fake_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    monkeypatch.setenv("STANDIN_MODE", "fail")
    with pytest.raises(RuntimeError, match="chunk3.log"):
        runpy.run_path(str(SCRIPT), init_globals={"snakemake": _snakemake(tmp_path, 5)})
    outputs = sorted(p.name for p in Path("results/generate/zz").iterdir())
    assert outputs == ["chunk3.mg5"]
    assert "job failed" in (tmp_path / "logs" / "chunk3.log").read_text()


def test_workflow_runs_a_madgraph_process_with_its_own_rule(fake_env, tmp_path):
    """The config's MadGraph process goes through rule generate_madgraph_chunk (one MadGraph
    run per chunk, distinct seeds) and merge_process, next to the Pythia processes' rule."""
    sys.path.insert(0, str(REPO / "tests"))
    from workflow_helpers import copy_repo, edit_config, planned_jobs, snakemake

    work = tmp_path / "work dir"
    work.mkdir()
    copy_repo(work)

    def add_madgraph(config):
        config["processes"]["zz_mg"] = {"role": "signal", "events": 250, "madgraph": ZZ}

    edit_config(work, add_madgraph)
    target = "results/generate/zz_mg/summary.json"
    per_chunk = yaml.safe_load((work / "config" / "config.yaml").read_text())["generation"]["events_per_chunk"]
    n_chunks = -(-250 // per_chunk)
    assert planned_jobs(work, target) == {"generate_madgraph_chunk": n_chunks, "merge_process": 1}
    assert "generate_chunk" in planned_jobs(work, "results/generate/qcd/summary.json")
    snakemake(work, "--cores", "1", target)
    summary = json.loads((work / target).read_text())
    assert summary["n_events"] == 250 and summary["sigma_pb"] == pytest.approx(SIGMA_PB)
    seeds = {line for call in fake_env.calls() for line in call["lines"] if line.startswith("set run_card iseed")}
    assert len(fake_env.calls()) == n_chunks == len(seeds)
    assert len(read_events(sorted((work / "results/generate/zz_mg").glob("chunk*.root")))) == 250
