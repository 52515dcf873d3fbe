"""A tiny, safe expression language for conditions and validity rules in the search spec.

`hidden_size % num_attention_heads == 0` or `num_local_experts > 1 and num_experts_per_tok <= 2`:
names are architecture fields, values are numbers, booleans or None. Nothing else is evaluated,
so a spec file can never run code, and hard limits keep every rule cheap: a bounded text and node
count, small literals, `**` only with small exponents, every result bounded in magnitude, and no
arithmetic on anything but numbers (so no string or list repetition, no %-formatting).
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import warnings

from sonar.errors import UserError
from sonar.search.spec_fields import shown

MAX_TEXT_CHARS = 1000
MAX_NODES = 200
MAX_LITERAL = 2**64  # largest |int| or |float| written in a rule
MAX_STRING_CHARS = 64
MAX_EXPONENT = 64
MAX_RESULT = 2.0**256  # largest |value| any step of an evaluation may produce

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
}
_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.BinOp,
            ast.Compare, ast.Name, ast.Load, ast.Constant, *_BINARY, *_COMPARE)


class ExpressionError(UserError):
    """A rule or condition is malformed or broke a limit; the message starts with the rule's text."""

    def __init__(self, text: object, problem: str) -> None:
        super().__init__(f"{shown(text)}: {problem}")  # shown: repr() itself fails on some values
        self.text = text


def parse(text: str) -> ast.Expression:
    """Parse and check that only arithmetic, comparisons, and/or/not, names and small literals appear."""
    if not isinstance(text, str):
        raise ExpressionError(text, "a rule must be a string")
    return _parse(text)


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> ast.Expression:
    if len(text) > MAX_TEXT_CHARS:
        raise ExpressionError(text, f"a rule may have at most {MAX_TEXT_CHARS} characters")
    try:
        with warnings.catch_warnings():  # `x is 1` warns at parse time; the rule's meaning is ours to define
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError) as err:  # ValueError: a null byte
        raise ExpressionError(text, f"not a valid expression ({getattr(err, 'msg', err)})") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(text, "nested too deeply") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(text, f"{len(nodes)} syntax nodes; a rule may have at most {MAX_NODES}")
    for node in nodes:
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(text, f"{type(node).__name__} is not allowed (arithmetic, comparisons, "
                                  "and/or/not, field names and numbers only)")
        if isinstance(node, ast.Constant):
            _check_literal(node.value, text)
        if any(isinstance(o, ast.Constant) and isinstance(o.value, str) for o in _arithmetic_operands(node)):
            raise ExpressionError(text, "arithmetic on strings is not allowed (numbers only)")
        if isinstance(node, ast.Compare):
            _check_identity(node, text)
    return tree


def _check_identity(node: ast.Compare, text: str) -> None:
    """`is` / `is not` only beside None, True or False. Between numbers it compares objects, not values:
    `hidden_size is 32` holds (CPython shares small ints) but `hidden_size is 512` never does, so a rule
    written that way would silently reject, or a condition silently skip, every draw."""
    operands = [node.left, *node.comparators]
    for i, op in enumerate(node.ops):
        if isinstance(op, ast.Is | ast.IsNot) and not any(
                isinstance(o, ast.Constant) and (o.value is None or isinstance(o.value, bool))
                for o in operands[i:i + 2]):
            word = "is" if isinstance(op, ast.Is) else "is not"
            raise ExpressionError(text, f"`{word}` compares identity, not value: use it with None, True or "
                                  f"False only, and {'==' if word == 'is' else '!='} for numbers")


def _arithmetic_operands(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not):
        return [node.operand]
    return []


def _check_literal(value: object, text: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise ExpressionError(text, f"a string literal may have at most {MAX_STRING_CHARS} characters")
        return
    if not isinstance(value, int | float):
        raise ExpressionError(text, f"the literal {value!r} is not a number, string, true/false or None")
    if not (math.isfinite(value) and abs(value) <= MAX_LITERAL):
        raise ExpressionError(text, f"the literal {value!r} is outside +-2**64")


def names(text: str) -> set[str]:
    return {node.id for node in ast.walk(parse(text)) if isinstance(node, ast.Name)}


def evaluate(text: str, values: dict) -> object:
    """The rule's value. A limit broken here raises ExpressionError; arithmetic that has no answer
    (a division by zero, None in a sum) raises ArithmeticError or TypeError, which a caller may read
    as "the rule does not hold"."""
    return _eval(parse(text).body, values, text)


def _eval(node: ast.AST, values: dict, text: str) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise ExpressionError(text, f"unknown name {node.id!r}")
        return values[node.id]
    if isinstance(node, ast.BoolOp):
        results = (_eval(v, values, text) for v in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, values, text)
        if isinstance(node.op, ast.Not):
            return not value
        _number(value, text)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BinOp):
        left = _number(_eval(node.left, values, text), text)
        right = _number(_eval(node.right, values, text), text)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right, text)
        return _bounded(_BINARY[type(node.op)](left, right), text)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values, text)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, values, text)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise ExpressionError(text, f"cannot evaluate {type(node).__name__}")


def _number(value: object, text: str) -> object:
    """Arithmetic takes numbers only: str * int or list * int would repeat a sequence without bound,
    and str % x formats. None stays a TypeError (the rule simply does not hold for that draw)."""
    if value is None:
        raise TypeError("arithmetic on None")
    if not isinstance(value, int | float):
        raise ExpressionError(text, f"arithmetic on {type(value).__name__} values is not allowed (numbers only)")
    return value


def _check_power(base: float, exponent: float, text: str) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise ExpressionError(text, f"exponent {exponent!r} is too large (|exponent| <= {MAX_EXPONENT})")
    if abs(base) > 1 and exponent > 0 and exponent * math.log2(abs(base)) > math.log2(MAX_RESULT):
        raise ExpressionError(text, f"{base!r} ** {exponent!r} exceeds 2**256")


def _bounded(value: object, text: str) -> object:
    if isinstance(value, complex):
        raise TypeError("complex result")  # a negative base to a fractional power: no real answer
    if isinstance(value, float) and math.isnan(value):
        raise ArithmeticError("not a number")
    if abs(value) > MAX_RESULT:
        raise ExpressionError(text, "an intermediate value exceeds 2**256")
    return value
