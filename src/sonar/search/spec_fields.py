"""Checks for single values of a search spec, shared by every section's parser.

They live apart from the sections so that each section (the architecture space, the budget, ...) can be
parsed in its own module with the same error wording: every message starts with the key it is about.
Every number must be finite and every integer bounded: a spec never reaches compute with a value
that would hang a loop or an allocation.
"""

from __future__ import annotations

import dataclasses
import math

from sonar.errors import UserError

MAX_INT = 2**53  # the default bound on any integer of a spec: larger ones are typos, not settings
MAX_TEXT_CHARS = 4096  # the longest string value (a name, a path)


class SpecError(UserError):
    """A search spec broke a rule; the message starts with the key it is about."""


def key_path(where: str, key: object) -> str:
    """`where.key`; a key that is not plain printable text (a number, a newline) is shown as its repr."""
    text = key if isinstance(key, str) and key and key.isprintable() else repr(key)
    return f"{where}.{text}" if where else text


def no_unknown_keys(data: dict, known: set[str], where: str) -> None:
    for key in data:
        if key not in known:
            raise SpecError(f"{key_path(where, key)}: unknown key (known: {', '.join(sorted(known))})")


def mapping_under(data: dict, key: str, *, required: bool = False) -> dict:
    """A copy of the mapping at data[key]; {} when it is absent or null (unless required)."""
    if key not in data or data[key] is None:
        if required:
            raise SpecError(f"{key}: required")
        return {}
    if not isinstance(data[key], dict):
        raise SpecError(f"{key}: expected a mapping, got {shown(data[key])}")
    return dict(data[key])


def as_int(value: object, where: str, *, low: int | None = None, high: int = MAX_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}: {shown(value)} is not an integer")
    # no lower bound given: still none below -MAX_INT, since the classes a value goes on to check it
    # (ModelConfig, TrainConfig) call float() and str() on it, which fail on -10**5000
    low = -MAX_INT if low is None else low
    if value < low:
        raise SpecError(f"{where}: {shown(value)} must be >= {low:,}")
    if value > high:
        raise SpecError(f"{where}: {shown(value)} must be <= {high:,}")
    return value


def as_number(value: object, where: str, *, positive: bool = False, low: float | None = None,
              high: float = float(MAX_INT)) -> float:
    if isinstance(value, str):
        try:
            value = float(value)  # YAML reads 1e9 without a dot as a string
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where}: {shown(value)} is not a number")
    if isinstance(value, int) and value.bit_length() > 1000:  # float(value), in math.isfinite, overflows past 1e308
        bound = (f"<= {high:g}" if value > 0 else "> 0" if positive else
                 f">= {low:g}" if low is not None else "a finite number")
        raise SpecError(f"{where}: {shown(value)} must be {bound}")
    if not math.isfinite(value):
        raise SpecError(f"{where}: {shown(value)} must be a finite number")
    if positive and not value > 0:
        raise SpecError(f"{where}: {shown(value)} must be > 0")
    if low is not None and value < low:
        raise SpecError(f"{where}: {shown(value)} must be >= {low:g}")
    if value > high:
        raise SpecError(f"{where}: {shown(value)} must be <= {high:g}")
    return float(value)


def as_str(value: object, where: str, *, max_chars: int = MAX_TEXT_CHARS) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where}: {shown(value)} is not a non-empty string")
    if len(value) > max_chars:
        raise SpecError(f"{where}: {len(value)} characters; at most {max_chars}")
    if any(not ch.isprintable() for ch in value):
        raise SpecError(f"{where}: {shown(value)} holds control characters")
    return value


def as_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{where}: {shown(value)} is not true/false")
    return value


def one_of(value: object, allowed: tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise SpecError(f"{where}: {shown(value)} is not one of {', '.join(allowed)}")
    return value


def typed(value: object, kind: str, where: str, *, high: float = MAX_INT) -> object:
    """A value checked against a dataclass field's annotation ('int', 'float | None', 'str', ...)."""
    if value is None and "None" in kind.split(" | "):
        return None
    base = kind.split(" | ")[0]
    if base == "bool":
        return as_bool(value, where)
    if base == "int":
        return as_int(value, where, high=int(high))
    if base == "float":
        return as_number(value, where, high=high)
    if base == "str":
        return as_str(value, where)
    raise SpecError(f"{where}: cannot be set from a spec")


def dataclass_section(data: dict, cls: type, where: str, *, skip: frozenset[str] = frozenset(),
                      limits: dict[str, float] | None = None, extra: dict | None = None) -> dict:
    """Check a spec section by building `cls(**data, **extra)`: unknown keys, types and `limits` first (so the
    error names the key), then the class's own rules, whose `name=value: rule` message is put under
    the section's key. Returns the section's values as checked: a number YAML read as text (`lr: 3e-4`
    is the string '3e-4' to PyYAML) comes back a float, which the class the section feeds accepts."""
    fields = {f.name: f.type for f in dataclasses.fields(cls) if f.init and f.name not in skip}
    no_unknown_keys(data, set(fields), where)
    values = {key: typed(value, fields[key], key_path(where, key), high=(limits or {}).get(key, MAX_INT))
              for key, value in data.items()}
    try:
        cls(**values, **(extra or {}))
    except UserError as err:
        raise SpecError(_under(where, str(err), fields)) from None
    return values


def _under(where: str, message: str, fields: dict) -> str:
    """'batch_size=0: must be ...' -> 'training.batch_size: batch_size=0: must be ...'."""
    name = message.split("=", 1)[0].strip()
    return f"{key_path(where, name)}: {message}" if name in fields else f"{where}: {message}"


def shown(value: object) -> str:
    """A value in an error message, at most 80 characters. repr() alone fails on some values a spec can
    hold: an integer past 4,300 digits (YAML reads `0x` + 4,000 hex digits as one) raises ValueError, a
    structure nested a few thousand deep RecursionError; either would turn the message into a traceback."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = int(value.bit_length() * 0.30103) + 1  # log10(2): no str(value), which is what fails
        return f"{'a negative' if value < 0 else 'an'} integer of about {digits:,} digits"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__}"
    return text if len(text) <= 80 else f"{text[:77]}..."
