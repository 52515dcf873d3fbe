"""Type checks of the settings dataclasses, read from each field's annotation, run first in their
__post_init__: a str, bool, list or tensor where an int or a number belongs is named in one line before any
range rule compares it (`'3' < 1` is a TypeError, `True` passes `>= 1` as 1). A numpy scalar is stored as
the Python number it equals (json, which run directories are written with, refuses numpy's).

The rules are the ones ModelConfig states for its own fields: an int field takes a Python int (not a
bool), a float field a finite int or float, a bool field True or False, a str field a str, `tuple[X, ...]`
a tuple or list of X, and a field whose default is a settings dataclass an instance of that class.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re

from sonar.errors import UserError


def is_whole(value: object, low: float = -math.inf, high: float = math.inf) -> bool:
    """An integer (a Python or numpy one, not a bool: True would pass as 1) within [low, high]: the test every
    count, step or length argument of the public API makes before its own message."""
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and low <= value <= high


def type_problem(kind: str, value: object, *, finite: bool = True) -> str | None:
    """Why `value` cannot take annotation `kind` ('int', 'float | None', 'tuple[int, ...]', ...), or None.
    Annotations other than these (a class, a dict) are left to the class's own checks."""
    optional = kind.endswith(" | None")
    base = kind.removesuffix(" | None")
    container = _CONTAINERS.fullmatch(base)
    if value is None:
        if optional or base not in _WORDS and not container:
            return None
        return f"must be {_WORDS.get(base, 'a ' + base.split('[')[0])}, not None"
    if base == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        return None if not finite or math.isfinite(value) else "must be finite"
    if base == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if base == "str":
        return None if isinstance(value, str) else "must be a string"
    if container:
        if not isinstance(value, tuple | list):
            return f"must be a {container.group(1)}"
        item = container.group(2)
        for element in value:
            problem = type_problem(item, element)
            if problem:
                return f"holds {_short(element)}, which {problem}"
    return None


def check_types(obj: object, *, limits: dict[str, float] | None = None, skip: tuple[str, ...] = (),
                finite: bool = True) -> None:
    """Every init field of dataclass `obj` against its annotation (type_problem), then against its upper
    bound in `limits`; the first problem is one UserError `name=value: rule`. `finite=False` leaves NaN and
    infinity to the class's own range rules (whose message says what a finite value must be)."""
    for f in dataclasses.fields(obj):
        if not f.init or f.name in skip:
            continue
        value = getattr(obj, f.name)
        kind = f.type if isinstance(f.type, str) else str(f.type)
        value = _plain_number(kind, value)
        if value is not getattr(obj, f.name):
            object.__setattr__(obj, f.name, value)  # a numpy scalar is stored as the Python number it equals
        problem = type_problem(kind, value, finite=finite)
        if problem is None and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            if dataclasses.is_dataclass(default) and not isinstance(value, type(default)) \
                    and not (value is None and "None" in kind):
                problem = f"must be a {type(default).__name__}"
        if problem:
            raise UserError(f"{f.name}={_short(value)}: {problem}")
        limit = (limits or {}).get(f.name)
        if limit is not None and isinstance(value, int | float) and value > limit:
            shown = f"{int(limit):,}" if limit == int(limit) else f"{limit:g}"
            raise UserError(f"{f.name}={value}: must be at most {shown}")


def _plain_number(kind: str, value: object) -> object:
    """A numpy integer for an int field as an int, a numpy float for a float field as a float (both
    behave as the number everywhere but json); anything else as it is."""
    base = kind.removesuffix(" | None")
    if isinstance(value, bool | int) or not isinstance(value, numbers.Real):
        return value
    if base == "int" and isinstance(value, numbers.Integral):
        return int(value)
    if base == "float" and not isinstance(value, float):
        return float(value)
    return value


_CONTAINERS = re.compile(r"(tuple|list)\[(.+?)(?:, \.\.\.)?\]")
_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
