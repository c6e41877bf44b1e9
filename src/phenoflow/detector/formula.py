"""Detector-card formulas: efficiencies, resolutions and scale factors as expressions.

A formula is a string over the variables ``pt``, ``eta``, ``phi`` and ``energy`` (GeV, rad), in
Python syntax or in the syntax of Delphes cards, so that a Delphes ``EfficiencyFormula`` or
``ResolutionFormula`` can be pasted as is::

    (abs(eta) <= 1.5) * (pt > 1.0) * 0.95 + (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 1.0) * 0.85
    sqrt(energy^2*0.008^2 + energy*0.11^2 + 0.40^2)

Delphes' ``&&``, ``||`` and ``^`` are read as ``and``, ``or`` and ``**``. The expression is parsed
with :mod:`ast` and evaluated by a small interpreter (numbers, the variables, + - * / **,
comparisons, and/or/not, and the functions abs sqrt exp log tanh cosh sinh min max), vectorised
over numpy arrays; nothing is passed to ``eval``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import numpy as np

from phenoflow.expression import ARITHMETIC, COMPARISONS, FUNCTIONS, evaluate

VARIABLES = ("pt", "eta", "phi", "energy")
_DELPHES = ((re.compile(r"&&"), " and "), (re.compile(r"\|\|"), " or "), (re.compile(r"\^"), "**"))


class FormulaError(ValueError):
    """A card formula that cannot be parsed or uses something not allowed."""


@dataclass(frozen=True)
class Formula:
    """A parsed card formula; call it with arrays ``pt``, ``eta``, ``phi``, ``energy``."""

    text: str
    tree: ast.Expression

    def __call__(self, **values: np.ndarray | float) -> np.ndarray:
        """Evaluate elementwise; the result broadcasts the given arrays (float64)."""
        missing = [name for name in _names(self.tree) if name not in values]
        if missing:
            raise FormulaError(f"formula '{self.text}' needs {', '.join(missing)}")
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            result = np.asarray(evaluate(self.tree.body, arrays), dtype=np.float64)
        shape = np.broadcast_shapes(*(np.shape(v) for v in values.values())) if values else ()
        return np.broadcast_to(result, shape).copy()


def compile_formula(text: str | float, where: str = "formula") -> Formula:
    """Parse a card formula (a number is a constant formula); ``where`` is named in any error."""
    source = str(text)
    python = source
    for pattern, replacement in _DELPHES:
        python = pattern.sub(replacement, python)
    python = " ".join(python.split())
    try:
        tree = ast.parse(python, mode="eval")
    except SyntaxError as err:
        raise FormulaError(f"{where}: cannot parse '{source}': {err.msg}") from None
    try:
        _check(tree.body)
    except FormulaError as err:
        raise FormulaError(f"{where}: in '{source}': {err}") from None
    return Formula(source, tree)


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.Name):
        if node.id not in VARIABLES:
            raise FormulaError(f"unknown variable '{node.id}' (expected one of {', '.join(VARIABLES)})")
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
            raise FormulaError(f"'{ast.unparse(node)}' is not a number")
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
        _check(node.operand)
    elif isinstance(node, ast.Compare) and all(type(op) in COMPARISONS for op in node.ops):
        for child in (node.left, *node.comparators):
            _check(child)
    elif isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
        _check(node.left)
        _check(node.right)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS
        and not node.keywords
    ):
        expected = 2 if node.func.id in ("min", "max") else 1
        if len(node.args) != expected:
            raise FormulaError(f"{node.func.id}() takes {expected} argument(s)")
        for arg in node.args:
            _check(arg)
    else:
        raise FormulaError(
            f"'{ast.unparse(node)}' is not allowed (numbers, {', '.join(VARIABLES)}, + - * / ^, "
            f"comparisons, && || !, and {', '.join(FUNCTIONS)}())"
        )


def _names(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id not in FUNCTIONS}
