"""The rule language: what it evaluates, and the hard limits that keep every rule cheap."""

import pytest

from sonar.errors import UserError
from sonar.search import expr

VALUES = {"hidden_size": 64, "num_attention_heads": 4, "attention_chunk_size": None, "moe_layers": (0, 1)}


@pytest.mark.parametrize(("text", "value"), [
    ("hidden_size % num_attention_heads == 0", True),
    ("hidden_size // num_attention_heads >= 16 and not hidden_size > 100", True),
    ("hidden_size ** 2 == 4096", True),
    ("2 ** -3 == 0.125", True),
    ("-hidden_size < +hidden_size", True),
    ("attention_chunk_size is None", True),
    ("hidden_size ** 0.5 == 8", True),
    ("1 < 2 < 3 > 0", True),
    ("'a' == 'a'", True),
])
def test_rules_evaluate(text, value):
    assert expr.evaluate(text, VALUES) == value


@pytest.mark.parametrize(("text", "problem"), [
    ("hidden_size ** 10 ** 9 > 0", "exponent 1000000000 is too large (|exponent| <= 64)"),
    ("2 ** 65", "exponent 65 is too large"),
    ("hidden_size ** 64", "64 ** 64 exceeds 2**256"),
    ("(2 ** 64) * (2 ** 64) * (2 ** 64) * (2 ** 64) * 2 > 0", "an intermediate value exceeds 2**256"),
    ("'ab' * 1000000000", "arithmetic on strings is not allowed"),
    ("'%099999999d' % 1", "arithmetic on strings is not allowed"),
    ("moe_layers * 1000000000", "arithmetic on tuple values is not allowed"),
    ("-moe_layers", "arithmetic on tuple values is not allowed"),
    ("10 ** 30 == 1", None),  # fine: 2**100 is within the limits
    ("100000000000000000000000 > 1", "outside +-2**64"),
    ("1e999 > 1", "outside +-2**64"),
    ("'" + "x" * 100 + "' == 'x'", "a string literal may have at most 64 characters"),
    ("b'x' == 1", "is not a number, string, true/false or None"),
    ("1j == 1", "is not a number, string, true/false or None"),
    ("x" * 1001, "at most 1000 characters"),
    ("+".join(["h"] * 120), "syntax nodes; a rule may have at most 200"),
    ("(" * 300 + "1" + ")" * 300, "not a valid expression"),
    ("__import__('os').system('true')", "Call is not allowed"),
    ("hidden_size.real", "Attribute is not allowed"),
    ("[1] * 10", "List is not allowed"),
    ("(lambda: 1)()", "is not allowed"),
    ("hidden_size if 1 else 2", "IfExp is not allowed"),
    ("a\x00b", "not a valid expression"),
    ("hidden_size = 1", "not a valid expression"),
    ("depth > 1", "unknown name 'depth'"),
])
def test_limits_raise_user_errors_naming_the_rule(text, problem):
    if problem is None:
        assert expr.evaluate(text, VALUES) is False
        return
    with pytest.raises(expr.ExpressionError) as info:
        expr.evaluate(text, VALUES)
    assert isinstance(info.value, UserError) and info.value.text == text
    assert str(info.value).startswith(repr(text)[:40]) and problem in str(info.value)


@pytest.mark.parametrize(("text", "error"), [
    ("hidden_size / 0 > 1", ZeroDivisionError),
    ("attention_chunk_size + 1 > 0", TypeError),
    ("(-8) ** 0.5 > 0", TypeError),
    ("'a' < 1", TypeError),
])
def test_rules_without_an_answer_raise_what_a_draw_reads_as_false(text, error):
    with pytest.raises(error):
        expr.evaluate(text, VALUES)


def test_names_are_the_fields_a_rule_reads():
    assert expr.names("hidden_size % num_attention_heads == 0 and x") == {"hidden_size", "num_attention_heads", "x"}
    with pytest.raises(expr.ExpressionError):
        expr.names(42)
