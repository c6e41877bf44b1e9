import pytest

from phenoflow.variations import Variation, from_records, groups, to_records


def test_a_variation_names_its_weight_column_and_round_trips_through_records():
    isr = [Variation("isr:murfac=2", "isr", "envelope", "isrLo"), Variation("isr:murfac=0.5", "isr", "envelope")]
    assert isr[0].column == "weight:isr:murfac=2"
    assert from_records(to_records(isr)) == isr


def test_groups_keep_order_and_refuse_mixed_combination():
    vs = [Variation("a1", "a", "envelope"), Variation("p1", "pdf", "replicas"), Variation("a2", "a", "envelope")]
    assert {g: [v.name for v in m] for g, m in groups(vs).items()} == {"a": ["a1", "a2"], "pdf": ["p1"]}
    with pytest.raises(ValueError, match="mixes combine"):
        groups([*vs, Variation("p2", "pdf", "hessian")])


@pytest.mark.parametrize("name, combine", [("ok", "sum"), ("bad name", "envelope"), ("", "envelope")])
def test_bad_variations_are_refused(name, combine):
    with pytest.raises(ValueError):
        Variation(name, "g", combine)
