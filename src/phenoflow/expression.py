"""The one small interpreter behind selections and detector-card formulas.

Both parse user text with :mod:`ast`, check the tree against their own whitelist, and then
evaluate it here, elementwise over numpy arrays: numbers, names looked up in ``values``, + - * /
**, comparisons (chained too), and/or/not, unary minus, and calls to :data:`FUNCTIONS`. Nothing
is passed to ``eval``.
"""

from __future__ import annotations

import ast
import operator

import numpy as np

FUNCTIONS = {"abs": np.abs, "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "tanh": np.tanh,
             "cosh": np.cosh, "sinh": np.sinh, "min": np.minimum, "max": np.maximum}  # fmt: skip
ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.Pow: operator.pow}  # fmt: skip
COMPARISONS = {ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le,
               ast.Eq: operator.eq, ast.NotEq: operator.ne}  # fmt: skip


def evaluate(node: ast.AST, values: dict):
    """Value of a checked expression tree; ``values`` maps every name in it to an array or number."""
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BoolOp):
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        result = evaluate(node.values[0], values)
        for value in node.values[1:]:
            result = combine(result, evaluate(value, values))
        return result
    if isinstance(node, ast.UnaryOp):
        operand = evaluate(node.operand, values)
        if isinstance(node.op, ast.Not):
            return np.logical_not(operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Compare):
        left, result = evaluate(node.left, values), True
        for op, comparator in zip(node.ops, node.comparators):
            right = evaluate(comparator, values)
            result = np.logical_and(result, COMPARISONS[type(op)](left, right))
            left = right
        return result
    if isinstance(node, ast.BinOp):
        left, right = evaluate(node.left, values), evaluate(node.right, values)
        return ARITHMETIC[type(node.op)](np.asarray(left, dtype=np.float64), np.asarray(right, dtype=np.float64))
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*(np.asarray(evaluate(a, values), dtype=np.float64) for a in node.args))
    raise ValueError(f"cannot evaluate '{ast.unparse(node)}'")
