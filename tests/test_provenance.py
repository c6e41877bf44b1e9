import platform
import subprocess

from phenoflow.provenance import EVENT_KEYS, config_part, git_state, provenance_config, record


def _git(directory, *args):
    return subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True, text=True).stdout.strip()


def test_git_state_names_the_commit_and_uncommitted_changes(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "new.txt").write_text("untracked files do not make the source dirty\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "a.txt").write_text("two\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": True}


def test_git_state_is_none_outside_a_checkout(tmp_path):
    assert git_state(tmp_path) is None


def test_record_carries_python_version_and_config_hash():
    rec = record({"seed": 1}, started="2026-01-01T00:00:00+00:00", kind="test")
    assert rec["python"] == platform.python_version()
    assert rec["kind"] == "test" and rec["config"] == {"seed": 1}
    assert len(rec["config_hash"]) == 64 and "git" in rec


def _config() -> dict:
    return {
        "seed": 1, "luminosity_fb": 139.0, "collider": {"sqrt_s_gev": 13000.0}, "generation": {"events_per_chunk": 10},
        "detector": {"card": "c.yaml"}, "selection": {"cuts": ["met > 200"]}, "substructure": {"radius": 1.0},
        "features": {"names": ["met"]}, "images": {"n_pixels": 4}, "split": {"folds": 3},
        "training_weights": "process", "evaluation": {"min_mc_events": 10}, "binning": {"n_bins": [5]},
        "significance": {"relative_uncertainty": 0.1}, "inference": {}, "results": "results",
        "processes": {"sig": {"role": "signal", "title": "S", "class": "s", "events": 100, "pythia": ["A = on"]}},
        "classifiers": {"bdt": {"method": "bdt"}, "cnn": {"method": "cnn"}, "cuts": {"method": "cuts"},
                        "own": {"method": "cuts", "min_mc_events": 3}},
    }  # fmt: skip


def test_config_part_keeps_dotted_entries_under_their_parents_and_skips_missing_keys():
    config = {"a": 1, "b": {"x": 2, "y": 3}, "c": 4}
    assert config_part(config, ("b.y", "a", "missing", "b.missing")) == {"b": {"y": 3}, "a": 1}


def test_a_process_records_its_own_block_without_role_class_or_title():
    config = _config()
    generate = provenance_config(config, "generate", process="sig")
    assert generate["processes"] == {"sig": {"events": 100, "pythia": ["A = on"]}}
    assert set(generate) == {"seed", "collider", "generation", "detector", "processes"}
    skim = provenance_config(config, "skim", process="sig")
    assert set(skim) - set(generate) == {"luminosity_fb", "selection", "substructure"}


def test_a_model_stage_records_only_what_that_classifier_uses():
    from phenoflow.models import classifiers

    config = _config()
    instances = classifiers(config)
    part = {name: provenance_config(config, "train", model=name, classifier=instances[name]) for name in instances}
    assert "images" in part["cnn"] and "images" not in part["bdt"]
    assert "training_weights" in part["bdt"] and "training_weights" not in part["cuts"]  # physical weights
    assert part["bdt"]["classifiers"] == {"bdt": {"method": "bdt"}}
    # the cut-and-count maximises the significance: its rule, and the threshold rule's minimum of
    # MC events unless its own block sets one
    assert part["cuts"]["evaluation"] == {"min_mc_events": 10} and "significance" in part["cuts"]
    assert "evaluation" not in part["own"] and "significance" not in part["bdt"]
    inference = provenance_config(config, "inference", model="bdt", classifier=instances["bdt"])
    assert {"evaluation", "binning", "significance", "inference"} <= set(inference)


def test_an_analysis_wide_result_records_its_keys():
    config = _config()
    assert set(provenance_config(config, "split")) == set(EVENT_KEYS) | {"features", "split"}
    assert provenance_config(config, "headline")["inference"] == {}
