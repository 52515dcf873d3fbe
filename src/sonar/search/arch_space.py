"""The architecture half of the search space: which ModelConfig fields vary, and how.

A searched field is checked against ModelConfig's own field types, and every rule or condition against
its field names, so that a typo fails when the spec is loaded rather than partway through a search.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass

from sonar.errors import UserError
from sonar.model.config import ModelConfig, field_problem
from sonar.model.presets import PRESETS
from sonar.search import expr
from sonar.search.spec_fields import SpecError, as_int, as_number, key_path, no_unknown_keys, one_of, shown

_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(ModelConfig)}
_SEARCHABLE = {name for name, kind in _FIELD_TYPES.items()
               if kind in ("int", "float", "bool", "int | None", "float | None")}
_SCALAR_TYPES = ("int", "float", "bool", "int | None", "float | None", "bool | None")
MAX_CHOICES = 256
MAX_RULES = 64
MAX_POOL = 10_000


@dataclass(kw_only=True, frozen=True)
class Param:
    """One searched ModelConfig field: a list of choices, or an int/float range (log-scaled or not)."""

    name: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    integer: bool = False
    log: bool = False
    step: int = 1
    when: str | None = None  # the field is searched only where this holds; else it keeps the base value


@dataclass(kw_only=True, frozen=True)
class ArchSpace:
    """Where candidates come from: the base preset edited by `params` under `rules`, or a fixed `pool`."""

    base: str = "debug"
    params: tuple[Param, ...] = ()
    rules: tuple[str, ...] = ()
    pool: tuple[ModelConfig, ...] = ()  # a fixed list of architectures (e.g. a benchmark table's), drawn in order

    def base_config(self) -> ModelConfig:
        return PRESETS[self.base]()


def parse_arch_space(data: dict, where: str) -> ArchSpace:
    """The `arch:` section: a preset edited by searched fields and rules, or a fixed pool of configs."""
    if "pool" in data:
        return _pool(data, where)
    base = one_of(data.pop("base", "debug"), tuple(PRESETS), f"{where}.base")
    rules = data.pop("rules", None)
    rules = [] if rules is None else rules
    if not isinstance(rules, list):
        raise SpecError(f"{where}.rules: expected a list of expressions")
    if len(rules) > MAX_RULES:
        raise SpecError(f"{where}.rules: {len(rules)} rules; at most {MAX_RULES}")
    params = tuple(_param(name, body, key_path(where, name)) for name, body in data.items())
    fields = set(_FIELD_TYPES)
    for i, rule in enumerate(rules):
        _expression(rule, fields, f"{where}.rules[{i}]")
    for p in params:
        if p.when is not None:
            _expression(p.when, fields, f"{where}.{p.name}.when")
            if p.name in expr.names(p.when):
                raise SpecError(f"{where}.{p.name}.when: a condition cannot depend on its own field")
    return ArchSpace(base=base, params=_draw_order(params, where), rules=tuple(rules))


def _draw_order(params: tuple[Param, ...], where: str) -> tuple[Param, ...]:
    """The order fields are drawn in: by name, except that a field whose `when` reads another searched
    field comes after it, so the condition sees that field's drawn value and not the base preset's.
    Not the order written: a run stores its spec as JSON with sorted keys and draws from that copy, so
    the written order is lost, and the candidates checked when the spec loads must be the ones it draws."""
    searched = {p.name for p in params}
    needs = {p.name: (expr.names(p.when) & searched) if p.when is not None else set() for p in params}
    by_name = {p.name: p for p in params}
    order: list[Param] = []
    while len(order) < len(params):
        placed = {p.name for p in order}
        ready = sorted(name for name in by_name if name not in placed and needs[name] <= placed)
        if not ready:
            cycle = sorted(name for name in by_name if name not in placed)
            raise SpecError(f"{where}: the conditions (when) of {', '.join(cycle)} read each other in a cycle, so "
                            "none can be drawn first; drop one of those conditions")
        order.append(by_name[ready[0]])
    return tuple(order)


def _pool(data: dict, where: str) -> ArchSpace:
    """`arch: {pool: [ModelConfig dict, ...]}`: search over exactly these architectures."""
    no_unknown_keys(data, {"pool"}, where)
    items = data["pool"]
    if not isinstance(items, list) or not items:
        raise SpecError(f"{where}.pool: expected a non-empty list of ModelConfig mappings")
    if len(items) > MAX_POOL:
        raise SpecError(f"{where}.pool: {len(items)} architectures; at most {MAX_POOL}")
    pool = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise SpecError(f"{where}.pool[{i}]: expected a ModelConfig mapping, got {type(item).__name__}")
        try:
            config = ModelConfig.from_dict(item)
        except (UserError, TypeError, ValueError) as err:
            raise SpecError(f"{where}.pool[{i}]: {err}") from None
        if config in pool:
            raise SpecError(f"{where}.pool[{i}]: the same architecture as pool[{pool.index(config)}]")
        pool.append(config)
    return ArchSpace(pool=tuple(pool))


def _expression(text: object, fields: set[str], where: str) -> None:
    if not isinstance(text, str):
        raise SpecError(f"{where}: expected an expression string, got {shown(text)}")
    try:
        unknown = expr.names(text) - fields
    except expr.ExpressionError as err:
        raise SpecError(f"{where}: {err}") from None
    if unknown:
        raise SpecError(f"{where}: {sorted(unknown)} are not ModelConfig fields")
    _check_comparisons(expr.parse(text), where)
    if not _is_condition(expr.parse(text).body):
        # A number's truth is Python's, not the writer's: `hidden_size` or `hidden_size - 512` would hold
        # for every candidate (or every one but 512) without a word.
        raise SpecError(f"{where}: {text!r} is not a condition; write a comparison (`hidden_size % 64 == 0`), "
                        "and/or/not of comparisons, or a true/false field")


def _check_comparisons(tree: ast.Expression, where: str) -> None:
    """Comparisons that cannot mean what they say, refused rather than always false: ModelConfig holds no
    text, so a string literal never equals a field; and a list, mapping or RopeScaling field (moe_layers,
    rope_scaling, ...) equals no number, so it is compared only with None."""
    with_none: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            raise SpecError(f"{where}: the text {shown(node.value)} matches no ModelConfig field (they hold numbers, "
                            "true/false or None); compare with a number")
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                pair = operands[i:i + 2]
                if (isinstance(op, ast.Eq | ast.NotEq | ast.Is | ast.IsNot)
                        and any(isinstance(o, ast.Constant) and o.value is None for o in pair)):
                    with_none.update(id(o) for o in pair)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Name) and _FIELD_TYPES.get(node.id, "int") not in _SCALAR_TYPES
                and id(node) not in with_none):
            raise SpecError(f"{where}: {node.id} is {_FIELD_TYPES[node.id]}, not a number; a rule may only test "
                            f"whether it is set (`{node.id} is None`, `{node.id} is not None`)")


def _is_condition(node: ast.AST) -> bool:
    if isinstance(node, ast.Compare):
        return True
    if isinstance(node, ast.BoolOp):
        return all(_is_condition(value) for value in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _is_condition(node.operand)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    return isinstance(node, ast.Name) and _FIELD_TYPES.get(node.id) in ("bool", "bool | None")


def rule_key(space: ArchSpace, text: str, where: str = "arch") -> str:
    """The spec key of a rule or condition, from its text: `arch.rules[1]`, `arch.hidden_size.when`."""
    if text in space.rules:
        return f"{where}.rules[{space.rules.index(text)}]"
    return next((f"{where}.{p.name}.when" for p in space.params if p.when == text), where)


def _param(name: object, body: object, where: str) -> Param:
    if name not in _FIELD_TYPES or name == "extra":
        raise SpecError(f"{where}: not a ModelConfig field")
    if name not in _SEARCHABLE:
        raise SpecError(f"{where}: only int, float and bool fields can be searched")
    if isinstance(body, list):
        body = {"choices": body}
    if not isinstance(body, dict):
        raise SpecError(f"{where}: expected choices (a list) or a mapping with choices/int/float")
    no_unknown_keys(body, {"choices", "int", "float", "log", "step", "when"}, where)
    kind = _FIELD_TYPES[name]
    when = body.get("when")
    modes = [k for k in ("choices", "int", "float") if k in body]
    if len(modes) != 1:
        raise SpecError(f"{where}: give exactly one of choices, int, float (got {modes or 'none'})")
    mode = modes[0]
    if mode == "choices":
        choices = body["choices"]
        if not isinstance(choices, list) or not choices:
            raise SpecError(f"{where}.choices: expected a non-empty list")
        if len(choices) > MAX_CHOICES:
            raise SpecError(f"{where}.choices: {len(choices)} choices; at most {MAX_CHOICES}")
        checked = tuple(_typed(v, name, kind, f"{where}.choices[{i}]") for i, v in enumerate(choices))
        for i, value in enumerate(checked):  # a repeat would silently weigh the draw towards it
            if value in checked[:i]:
                raise SpecError(f"{where}.choices[{i}]: {value!r} repeats")
        for key in ("log", "step"):  # else ignored without a word
            if key in body:
                raise SpecError(f"{where}.{key}: applies to an int or float range only, not to choices; "
                                "remove it, or give int: [low, high]")
        return Param(name=name, choices=checked, when=when)
    bounds = body[mode]
    if not (isinstance(bounds, list) and len(bounds) == 2):
        raise SpecError(f"{where}.{mode}: expected [low, high]")
    integer = mode == "int"
    if integer and not kind.startswith("int"):
        raise SpecError(f"{where}.int: {name} is {kind}, not an integer field")
    if not integer and not kind.startswith("float"):
        raise SpecError(f"{where}.float: {name} is {kind}, not a float (use int: [low, high])")
    low, high = (_typed(v, name, "int" if integer else "float", f"{where}.{mode}[{i}]") for i, v in enumerate(bounds))
    if low > high:
        raise SpecError(f"{where}.{mode}: low {low} > high {high}")
    log = body.get("log", False)
    if not isinstance(log, bool):
        raise SpecError(f"{where}.log: {shown(log)} is not true/false")
    if log and low <= 0:
        raise SpecError(f"{where}.{mode}[0]: a log scale needs low > 0, got {low}")
    step = as_int(body.get("step", 1), f"{where}.step", low=1)
    if not integer and "step" in body:
        raise SpecError(f"{where}.step: a float range is drawn continuously; step applies to int ranges only")
    if step > 1 and high - low < step:
        raise SpecError(f"{where}.step: {step} is wider than the range [{low}, {high}], which then holds one value;"
                        " use a smaller step, or choices: [...]")
    return Param(name=name, low=low, high=high, integer=integer, log=log, step=step, when=when)


def _typed(value: object, name: str, kind: str, where: str) -> object:
    """A value for field `name`: its type, then ModelConfig's own limits for that field."""
    if value is None and "None" in kind:
        return None
    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise SpecError(f"{where}: {shown(value)} is not true/false")
        return value
    value = as_int(value, where) if kind.startswith("int") else as_number(value, where)
    problem = field_problem(name, value)
    if problem:
        raise SpecError(f"{where}: {name}={value!r}: {problem}")
    return value
