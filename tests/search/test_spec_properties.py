"""Property tests of the spec validator and the rule language: any input is accepted or refused with a
UserError, never another exception, never a hang (each example runs under a wall-clock alarm)."""

import copy
import math
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_support import make_spec, spec_paths

from sonar.errors import UserError
from sonar.search import expr
from sonar.search.spec import SearchSpec, parse_spec
from time_limit import alarm

DEFAULT_SPEC = yaml.safe_load((Path(__file__).parents[2] / "src/sonar/search/default_search.yaml").read_text())
SECONDS_PER_EXAMPLE = 10
PROPERTY_SETTINGS = settings(max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.too_slow])




# Values a YAML file can hold: scalars of every kind (huge, negative, non-finite, empty) and small containers.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2, -1, 10**12, 2**64, 257, 4096]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["builtin", "byte", "bpe", "cpu", "cuda", "tpu", "fp32", "int8", "grouped", "sdpa", "eager",
                     "pareto", "constraint", "scalarized", "real", "synthetic", "1e9", ".inf", "nan",
                     "hidden_size ** 10 ** 9 > 0", "'ab' * 10 ** 9", "hidden_size % 2 == 0"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), SCALARS), inner, max_size=4)),
    max_leaves=12)


@st.composite
def mutated_specs(draw):
    """A valid spec (synthetic or the shipped real one) with one to three random edits: a value replaced,
    a key or item removed, or a key added."""
    raw = copy.deepcopy(draw(st.sampled_from([make_spec(), DEFAULT_SPEC])))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p, _ in spec_paths(raw)]
        path = draw(st.sampled_from(paths))
        parent = raw
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if not path or action == "add":
            target = raw if not path else parent[path[-1]]
            if isinstance(target, dict):
                target[draw(st.one_of(st.text(max_size=10), st.sampled_from(list(DEFAULT_SPEC))))] = draw(VALUES)
            elif isinstance(target, list):
                target.append(draw(VALUES))
        elif action == "remove":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(VALUES)
    return raw


@PROPERTY_SETTINGS
@given(mutated_specs())
def test_any_mutation_of_a_valid_spec_parses_or_is_a_user_error(raw):
    with alarm(SECONDS_PER_EXAMPLE):
        try:
            spec = parse_spec(raw)
        except UserError as err:
            assert str(err) and "\n" not in str(err)
            return
    assert isinstance(spec, SearchSpec)
    # what was accepted is sane: finite numbers, bounded sizes
    assert spec.budget.candidates <= 10_000 and spec.eta <= 1000
    assert spec.objective.latency_s is None or math.isfinite(spec.objective.latency_s)
    assert all(isinstance(v, int) or v is None for v in spec.system.get("threads", []))
    assert all(t.device in ("cpu", "cuda") for t in spec.targets)


@PROPERTY_SETTINGS
@given(st.one_of(VALUES, st.dictionaries(st.sampled_from(list(DEFAULT_SPEC)), VALUES, max_size=6)))
def test_any_value_as_a_whole_spec_parses_or_is_a_user_error(raw):
    with alarm(SECONDS_PER_EXAMPLE):
        try:
            parse_spec(raw)
        except UserError:
            pass


# Random rules built from the language's own pieces, including the dangerous ones.
_LEAVES = st.one_of(
    st.sampled_from(["hidden_size", "num_attention_heads", "attention_chunk_size", "moe_layers", "None", "True"]),
    st.integers(min_value=-(2**80), max_value=2**80).map(str), st.floats(allow_nan=False).map(repr),
    st.text(alphabet="ab%d", max_size=6).map(repr),
)
_BINARY = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or", "is", "is not"]
RULES = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from(_BINARY), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    st.tuples(st.sampled_from(["-", "+", "not "]), inner).map(lambda t: f"({t[0]}{t[1]})"),
), max_leaves=25)
FIELDS = {"hidden_size": 64, "num_attention_heads": 4, "attention_chunk_size": None, "moe_layers": (0, 1, 2)}


@PROPERTY_SETTINGS
@given(RULES)
def test_random_rules_evaluate_within_limits_or_raise(rule):
    with alarm(SECONDS_PER_EXAMPLE):
        try:
            value = expr.evaluate(rule, FIELDS)
        except (UserError, ArithmeticError, TypeError):
            return  # refused, or no answer (a draw reads it as "the rule does not hold")
    if isinstance(value, int | float) and not isinstance(value, bool):
        assert abs(value) <= expr.MAX_RESULT
    assert not isinstance(value, str) or len(value) <= expr.MAX_STRING_CHARS


@PROPERTY_SETTINGS
@given(st.text(max_size=300))
def test_random_text_as_a_rule_is_parsed_or_refused(text):
    with alarm(SECONDS_PER_EXAMPLE):
        try:
            expr.evaluate(text, FIELDS)
        except (UserError, ArithmeticError, TypeError):
            pass


@PROPERTY_SETTINGS
@given(RULES)
def test_a_random_rule_in_a_spec_is_accepted_or_named(rule):
    raw = make_spec(arch={"rules": [rule]})
    with alarm(SECONDS_PER_EXAMPLE):
        try:
            parse_spec(raw)
        except UserError as err:
            assert str(err).startswith(("arch.rules[0]: ", "arch: no valid architecture"))
