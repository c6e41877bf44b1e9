"""Selections written as readable expressions over named observables, e.g.
``fatjet0.pt > 250 and abs(fatjet0.eta) < 2``.

Expressions are parsed with :mod:`ast` and evaluated by a small interpreter that knows only
comparisons, ``and``/``or``/``not``, arithmetic (+ - * /), numbers, ``abs()`` and observables
(:mod:`phenoflow.events.observables`); nothing is passed to ``eval``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import awkward as ak
import numpy as np

from phenoflow.events.observables import Substructure, check, observable
from phenoflow.expression import COMPARISONS, evaluate

#: An object of a pair: a name, optionally with leading objects in brackets (``jet[:4]``).
_PAIR_OBJECT = r"[A-Za-z_]\w*(?:\[[^\[\]]*\])?"
_PAIR = re.compile(rf"\b({_PAIR_OBJECT}(?:\s*,\s*{_PAIR_OBJECT})+)\.([A-Za-z_]\w*)")
_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.Div)


class SelectionError(ValueError):
    """A selection expression that cannot be parsed or names an unknown observable."""


@dataclass(frozen=True)
class Cut:
    """One parsed selection expression; call :meth:`mask` on events."""

    expression: str
    tree: ast.Expression
    observables: dict[str, str]

    def mask(self, events: ak.Array, settings: Substructure = Substructure()) -> np.ndarray:
        """Boolean mask of shape (n_events,); events with a missing object fail comparisons."""
        values = {alias: observable(events, name, settings=settings) for alias, name in self.observables.items()}
        with np.errstate(invalid="ignore", divide="ignore"):
            result = evaluate(self.tree.body, values)
        return np.broadcast_to(np.asarray(result, dtype=bool), (len(events),)).copy()


def parse(expression: str, where: str = "selection") -> Cut:
    """Parse ``expression``; ``where`` (the config key) is named in any error."""
    aliases: dict[str, str] = {}

    def alias(name: str) -> str:
        key = f"_obs{len(aliases)}"
        aliases[key] = name
        return key

    text = _PAIR.sub(lambda m: alias(re.sub(r"\s+", "", m.group(0))), expression)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise SelectionError(f"{where}: cannot parse '{expression}': {err.msg}") from None
    observables: dict[str, str] = {}
    try:
        body = _rewrite(tree.body, aliases, observables)
        for name in observables.values():
            check(name)
    except (KeyError, SelectionError) as err:
        raise SelectionError(f"{where}: in '{expression}': {err.args[0]}") from None
    return Cut(expression, ast.Expression(body), observables)


def _rewrite(node: ast.AST, aliases: dict[str, str], observables: dict[str, str]) -> ast.AST:
    """Validate the tree and replace observable references by ``Name`` nodes of their aliases."""
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = aliases.get(ast.unparse(node), ast.unparse(node))
        key = f"_v{len(observables)}"
        observables[key] = name
        return ast.Name(id=key, ctx=ast.Load())
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node
    if isinstance(node, ast.BoolOp):
        return ast.BoolOp(op=node.op, values=[_rewrite(v, aliases, observables) for v in node.values])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
        return ast.UnaryOp(op=node.op, operand=_rewrite(node.operand, aliases, observables))
    if isinstance(node, ast.Compare) and all(type(op) in COMPARISONS for op in node.ops):
        return ast.Compare(
            left=_rewrite(node.left, aliases, observables),
            ops=node.ops,
            comparators=[_rewrite(c, aliases, observables) for c in node.comparators],
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, _ARITH):
        return ast.BinOp(
            left=_rewrite(node.left, aliases, observables), op=node.op, right=_rewrite(node.right, aliases, observables)
        )
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "abs"
        and len(node.args) == 1
        and not node.keywords
    ):
        return ast.Call(func=node.func, args=[_rewrite(node.args[0], aliases, observables)], keywords=[])
    raise SelectionError(
        f"'{ast.unparse(node)}' is not allowed (only comparisons, and/or/not, + - * /, abs() and observables)"
    )
