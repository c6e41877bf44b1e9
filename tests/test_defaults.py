"""Every default of a config key is written once, in the config schema: the library's settings
objects and model classes read it from there (phenoflow.defaults), the config files do not
restate it, and config/README.md says the same value."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import yaml

from phenoflow.defaults import SCHEMA, block_defaults, default

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
#: How far after its key (characters) config/README.md's prose must state a default
NEAR = 160
CONFIGS = [REPO / "config" / "config.yaml", *sorted((REPO / "config" / "examples").glob("*.yaml"))]


def _schema() -> dict:
    return yaml.safe_load(WORKFLOW_SCHEMA.read_text())


def _resolve(node: dict, schema: dict) -> dict:
    while "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _properties(node: dict, schema: dict) -> dict:
    node = _resolve(node, schema)
    return {**node.get("then", {}).get("properties", {}), **node.get("properties", {})}


def schema_defaults(schema: dict) -> dict[str, object]:
    """Every key of the schema with a default that is not an empty block, by dotted path
    (``$defs.<name>.`` for the definitions)."""
    out: dict[str, object] = {}

    def walk(node: dict, path: str) -> None:
        for key, child in _properties(node, schema).items():
            child = _resolve(child, schema)
            here = f"{path}.{key}" if path else key
            if "default" in child and child["default"] != {}:
                out[here] = child["default"]
            walk(child, here)

    walk(schema, "")
    for name, node in schema["$defs"].items():
        walk(node, f"$defs.{name}")
    return out


def restated(config: dict, node: dict, schema: dict, path: str = "") -> list[str]:
    """The keys of ``config`` whose value is the schema's default (block defaults {} aside)."""
    node = _resolve(node, schema)
    if "allOf" in node and "method" in config:  # a classifier: its method's definition
        node = schema["$defs"][config["method"]]
    props, extra = _properties(node, schema), node.get("additionalProperties")
    found = []
    for key, value in config.items():
        child = props.get(key, extra if isinstance(extra, dict) else None)
        if child is None:
            continue
        child = _resolve(child, schema)
        here = f"{path}.{key}" if path else str(key)
        if "default" in child and value == child["default"] and value != {}:
            found.append(f"{here}: {value!r}")
        if isinstance(value, dict):
            found += restated(value, child, schema, here)
    return found


def test_the_package_reads_the_workflow_schema():
    """The package's schema is the workflow's file (a link, copied into a built package)."""
    assert SCHEMA.read_text(encoding="utf-8") == WORKFLOW_SCHEMA.read_text(encoding="utf-8")


def test_defaults_are_read_by_dotted_key_and_copied():
    assert default("inference.cl") == 0.95
    assert default("$defs.mlp.hidden") == [64, 64]
    assert default("inference.mc_statistics.poisson_below") == 10  # in the branch for a mapping
    default("$defs.mlp.hidden").append(1)
    assert default("$defs.mlp.hidden") == [64, 64]
    assert block_defaults("substructure.softdrop") == {"z_cut": 0.1, "beta": 0.0}
    with pytest.raises(KeyError, match=r"no key 'inference\.nope'"):
        default("inference.nope")
    with pytest.raises(KeyError, match=r"gives 'seed' no default"):
        default("seed")


def test_the_library_takes_its_defaults_from_the_schema():
    """The settings objects and model classes the config builds default to the schema's values."""
    from phenoflow.binning.gmm.settings import GMMSettings
    from phenoflow.binning.rule import COMBINATION
    from phenoflow.config import MAX_CHUNKS_PER_PROCESS
    from phenoflow.events.observables import Substructure
    from phenoflow.features.image_spec import ImageSpec
    from phenoflow.features.images import spec_from_config
    from phenoflow.inference.likelihood import MCStatistics
    from phenoflow.inference.study import InferenceSettings
    from phenoflow.inference.theory import TheorySystematics
    from phenoflow.models.cuts import CutAndCount
    from phenoflow.significance import Significance

    schema = _schema()
    props = schema["properties"]
    defs = schema["$defs"]

    def given(block: dict) -> dict:
        return {k: v["default"] for k, v in block["properties"].items() if "default" in v}

    sub = props["substructure"]["properties"]
    assert Substructure() == Substructure(
        sub["radius"]["default"],
        sub["nsubjettiness_beta"]["default"],
        sub["softdrop"]["properties"]["z_cut"]["default"],
        sub["softdrop"]["properties"]["beta"]["default"],
    )
    images = given(props["images"])
    minimal = spec_from_config({"n_pixels": [33, 33], "half_width": [1.6, 1.6]})
    assert minimal == spec_from_config({"n_pixels": [33, 33], "half_width": [1.6, 1.6], **images})
    assert (minimal.centre, minimal.flip, minimal.rotate_to) == (images["centre"], images["flip"], images["rotate"])
    assert (ImageSpec().normalise, ImageSpec().subjet_radius) == (images["normalise"], images["subjet_radius"])
    assert Significance() == Significance(**given(props["significance"]))
    inference = props["inference"]["properties"]
    assert MCStatistics() == MCStatistics(**given(inference["mc_statistics"]["then"]))
    theory = given(inference["theory"])
    assert TheorySystematics() == TheorySystematics(**{**theory, "correlated": tuple(theory["correlated"])})
    assert (
        inspect.signature(InferenceSettings).parameters["mc_limited_below"].default
        == inference["mc_limited_below"]["default"]
    )
    assert GMMSettings() == GMMSettings.from_config(given(props["binning"]["properties"]["gmm"]))
    assert COMBINATION == props["binning"]["properties"]["combination"]["default"]
    assert MAX_CHUNKS_PER_PROCESS == props["generation"]["properties"]["max_chunks_per_process"]["default"]
    cuts = inspect.signature(CutAndCount).parameters
    assert {k: cuts[k].default for k in given(defs["cuts"])} == given(defs["cuts"])


def test_the_networks_take_their_hyperparameters_from_the_schema():
    pytest.importorskip("keras")
    from phenoflow.models.cnn import CNN
    from phenoflow.models.mlp import MLP

    schema = _schema()["$defs"]
    for model, name in ((MLP, "mlp"), (CNN, "cnn")):
        given = {k: v["default"] for k, v in schema[name]["properties"].items() if "default" in v}
        assert model.defaults == given, name


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_no_config_restates_a_default(path):
    """A config file sets what its analysis chooses; a key left at the schema's default is
    left out (else the value is written twice, and the copies drift)."""
    schema = _schema()
    found = restated(yaml.safe_load(path.read_text()), schema, schema)
    assert not found, f"{path.relative_to(REPO)} restates the schema's defaults (leave them out):\n  " + "\n  ".join(
        found
    )


def test_the_restated_check_finds_a_restated_default():
    schema = _schema()
    config = {
        "inference": {"cl": 0.95, "mc_statistics": {"poisson_below": 4}},
        "classifiers": {"m": {"method": "mlp", "epochs": 100}},
    }
    assert restated(config, schema, schema) == ["inference.cl: 0.95", "classifiers.m.epochs: 100"]


def _renderings(value: object) -> list[str]:
    """How config/README.md may write ``value``: YAML's spelling, an integral float as an integer,
    thousands with spaces."""
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, (int, float)):
        out = [repr(value), f"{value:g}"]
        if float(value).is_integer():
            out += [str(int(value)), f"{int(value):,}".replace(",", " ")]
        return out
    if isinstance(value, list):
        return ["[" + ", ".join(str(v) for v in value) + "]"]
    return [str(value)]


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _readme_scopes() -> tuple[dict[str, str], dict[str, str]]:
    """config/README.md's table rows by key (a row naming several keys counts for each) and its
    sections by anchor, with backticks and thin spaces dropped, minus signs as hyphens."""
    text = (REPO / "config" / "README.md").read_text(encoding="utf-8")
    sections = {_slug(h): body for h, body in re.findall(r"^#+ (.+?)\n(.*?)(?=^#+ |\Z)", text, flags=re.S | re.M)}
    rows: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            for key in line.split("|")[1].split(","):
                rows[key.strip().strip("`")] = line

    def clean(s: str) -> str:
        return s.replace("`", "").replace("\u2009", " ").replace("\u202f", " ").replace("−", "-")

    return {k: clean(v) for k, v in rows.items()}, {k: clean(v) for k, v in sections.items()}


def test_config_readme_states_the_schema_defaults():
    """Each default is named next to its key: in the key's table row, or in the section the row
    of its block links to ("key (value)", "key (..., default value)")."""
    rows, sections = _readme_scopes()
    wrong = []
    for path, value in schema_defaults(_schema()).items():
        parts = path.split(".")
        if path in rows:
            scope = rows[path]
        else:
            if parts[0] == "$defs":
                if parts[1] not in ("bdt", "cuts", "mlp", "cnn"):
                    continue  # a process's keys: in the processes section
                row, section = "", sections.get(f"method-{parts[1]}", "")
            else:
                prefixes = [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
                row = next((rows[p] for p in prefixes if p in rows), "")
                linked = re.search(r"\(#([\w-]+)\)", row)
                section = sections.get(linked.group(1), "") if linked else ""
            near = [m.end() for m in re.finditer(rf"(?<![\w.]){re.escape(parts[-1])}\b", section)]
            scope = row + " ".join(section[i : i + NEAR] for i in near)
        if not any(re.search(rf"(?<![\w.]){re.escape(r)}(?![\w])", scope) for r in _renderings(value)):
            wrong.append(f"{path}: default {value!r} not stated next to the key")
    assert not wrong, "config/README.md and the schema disagree:\n  " + "\n  ".join(wrong)


def test_the_mixtures_dimension_dependent_defaults_are_stated_as_the_library_has_them():
    """restarts and fine_bins have no single default (1-D and simplex differ): the library holds
    them, and the schema's description and config/README.md state the same numbers."""
    from phenoflow.binning.gmm.settings import FINE_CELLS_1D, FINE_DIVISIONS_SIMPLEX, RESTARTS_1D, RESTARTS_SIMPLEX

    description = " ".join(_schema()["properties"]["binning"]["properties"]["gmm"]["description"].split())
    assert f"1-D: {RESTARTS_1D} and {FINE_CELLS_1D}" in description
    assert f"simplex: {RESTARTS_SIMPLEX} and {FINE_DIVISIONS_SIMPLEX} divisions" in description
    section = " ".join(_readme_scopes()[1]["the-gaussian-mixture-binninggmm"].split())
    assert f"restarts (default {RESTARTS_1D} in 1-D, {RESTARTS_SIMPLEX} on the simplex" in section
    assert f"fine_bins (default {FINE_CELLS_1D} on the 1-D score, {FINE_DIVISIONS_SIMPLEX} divisions" in section
