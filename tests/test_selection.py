import pytest

from phenoflow.events.selection import SelectionError, parse


def test_cuts_evaluate(events):
    assert parse("fatjet0.pt > 250").mask(events).tolist() == [True, False, False]
    assert parse("met > 5 and n_jets >= 1").mask(events).tolist() == [True, True, False]
    assert parse("not (met > 5) or abs(jet0.eta) > 0.9").mask(events).tolist() == [False, True, True]
    assert parse("100 < jet0.pt + 0 <= 100").mask(events).tolist() == [False, False, False]
    assert parse("jet0,jet1.delta_r < 0.2").mask(events).tolist() == [True, False, False]


def test_missing_object_fails_the_cut(events):
    assert parse("jet1.pt > 0").mask(events).tolist() == [True, False, False]


@pytest.mark.parametrize(
    "expr",
    [
        "__import__('os').system('true')",
        "met.__class__",
        "(lambda: 1)() > 0",
        "met > 'a'",
        "met if met else 1",
        "[met][0] > 1",
        "open('x')",
    ],
)
def test_anything_but_the_restricted_grammar_is_rejected(expr):
    with pytest.raises(SelectionError, match=r"selection\.cuts\[3\]"):
        parse(expr, where="selection.cuts[3]")


def test_syntax_error_names_key():
    with pytest.raises(SelectionError, match=r"features\.names\[0\].*cannot parse"):
        parse("met >", where="features.names[0]")


def test_unknown_observable_names_key():
    with pytest.raises(SelectionError, match=r"selection\.cuts\[0\].*tau0"):
        parse("tau0.pt > 20", where="selection.cuts[0]")


def test_min_delta_phi_cut(events):
    # the fixture's events: MET at -2.0 with jets at +-3.1 (nearest 1.1 away); MET at 0.0 with one jet
    # at 0.5; no jet, which fails the cut unless it is kept explicitly
    assert parse("jet[:4],met.min_delta_phi > 0.6").mask(events).tolist() == [True, False, False]
    assert parse("jet[ : 4 ] , met.min_delta_phi > 1.2").mask(events).tolist() == [False, False, False]
    kept = parse("n_jets == 0 or jet[:4],met.min_delta_phi > 0.6", where="selection.cuts[4]")
    assert kept.mask(events).tolist() == [True, False, True]
    assert list(kept.observables.values()) == ["n_jets", "jet[:4],met.min_delta_phi"]


def test_min_delta_phi_cut_badly_written_names_key():
    with pytest.raises(SelectionError, match=r"selection\.cuts\[4\]: .*'jet\[1:4\]': .*<collection>\[:N\]"):
        parse("jet[1:4],met.min_delta_phi > 0.5", where="selection.cuts[4]")
