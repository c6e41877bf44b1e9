"""Public names of the package (read by lazy_loader.attach_stub and by type checkers)."""

from . import card as card, formula as formula, ntuple as ntuple, simulation as simulation
from .card import CardError as CardError, DetectorCard as DetectorCard, load_card as load_card, parse_card as parse_card
from .formula import Formula as Formula, FormulaError as FormulaError, compile_formula as compile_formula
from .ntuple import (
    delphes_branches as delphes_branches,
    iterate_events as iterate_events,
    read_events as read_events,
    read_variation_weights as read_variation_weights,
    write_ntuple as write_ntuple,
)
from .simulation import simulate as simulate
