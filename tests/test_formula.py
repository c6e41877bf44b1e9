from pathlib import Path

import numpy as np
import pytest
import yaml

from phenoflow.detector.card import CardError, load_card, parse_card
from phenoflow.detector.formula import FormulaError, compile_formula

CARD = Path(__file__).resolve().parents[1] / "config" / "cards" / "cms.yaml"


def test_delphes_syntax_piecewise_efficiency():
    f = compile_formula("(abs(eta) <= 1.5) * (pt > 0.1 && pt <= 1.0) * 0.70 + (abs(eta) <= 1.5) * (pt > 1.0) * 0.95")
    pt = np.array([0.05, 0.5, 1.0, 5.0, 5.0])
    eta = np.array([0.0, -1.0, 1.5, 0.3, 2.0])
    np.testing.assert_allclose(f(pt=pt, eta=eta), [0.0, 0.70, 0.70, 0.95, 0.0])


def test_power_and_functions_hand_values():
    # ECAL barrel term at E = 100 GeV, eta = 0: sqrt(100^2 0.008^2 + 100 0.11^2 + 0.4^2)
    f = compile_formula("(1 + 0.64*eta^2) * sqrt(energy^2*0.008^2 + energy*0.11^2 + 0.40^2)")
    assert f(energy=100.0, eta=0.0) == pytest.approx(np.sqrt(0.64 + 1.21 + 0.16))
    assert f(energy=100.0, eta=1.0) == pytest.approx(1.64 * np.sqrt(0.64 + 1.21 + 0.16))
    g = compile_formula("0.85*tanh(0.0025*pt)*(25.0/(1+0.063*pt)) || 0")  # || binds loosest
    assert g(pt=100.0) == pytest.approx(1.0)  # logical or of a positive number is true
    assert compile_formula("-pt^2")(pt=3.0) == pytest.approx(-9.0)  # as in Python: -(pt^2)
    assert compile_formula("max(pt, 2) + min(eta, 0)")(pt=1.0, eta=3.0) == pytest.approx(2.0)
    assert compile_formula(0.5)(pt=np.ones(3)).shape == (3,)


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os').system('x')", "not allowed"),
        ("pt.real", "not allowed"),
        ("mass > 3", "unknown variable 'mass'"),
        ("sqrt(pt, eta)", "takes 1"),
        ("pt >", "cannot parse"),
        ("'a' * 3", "not a number"),
    ],
)
def test_bad_formulas_are_rejected_with_the_key(text, message):
    with pytest.raises(FormulaError, match=rf"tracking\.x: .*{message}"):
        compile_formula(text, "tracking.x")


def test_the_default_card_loads():
    card = load_card(CARD)
    assert card.propagator.bz_tesla == 3.8
    assert card.ecal.towers.n_towers == 340 * 360 + 22 * 36
    assert card.hcal.towers.eta_edges[0] == -5.0 and card.hcal.towers.eta_edges[-1] == 5.0
    np.testing.assert_allclose(card.hcal.fraction(np.array([211, 22, 13, 310, 2112])), [1.0, 0.0, 0.0, 0.7, 1.0])
    assert card.btagging.efficiency[5](pt=50.0) == pytest.approx(0.85 * np.tanh(0.125) * 25 / (1 + 3.15))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["calorimeters"]["ecal"].pop("resolution"), r"calorimeters\.ecal\.resolution: missing"),
        (lambda c: c["tracking"]["efficiency"].update(muon="pt >> 2"), r"tracking\.efficiency\.muon"),
        (lambda c: c["propagator"].update(bz_tesla="strong"), r"propagator\.bz_tesla: expected a number"),
        (
            lambda c: c["calorimeters"]["hcal"]["towers"][1].update(eta_edges=[-4.0, -1.653]),
            r"calorimeters\.hcal\.towers\[1\]\.eta_edges: starts at -4",
        ),
        (
            lambda c: c["calorimeters"]["ecal"]["energy_fraction"].update({22: 1.5}),
            r"calorimeters\.ecal\.energy_fraction\.22: expected a fraction",
        ),
        (lambda c: c["jets"]["jet"].update(radius=-0.4), r"jets\.jet\.radius: must be positive"),
    ],
)
def test_bad_cards_name_file_and_key(tmp_path, edit, message):
    raw = yaml.safe_load(CARD.read_text())
    edit(raw)
    path = tmp_path / "my card.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(CardError, match=rf"my card\.yaml: {message}"):
        load_card(path)


def test_card_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(CardError, match="list.yaml: the card: expected a mapping"):
        load_card(path)
    with pytest.raises(CardError, match="cannot read"):
        load_card(tmp_path / "missing.yaml")
    with pytest.raises(CardError):
        parse_card({"name": "x"})
