"""Checks for single values of a search spec, shared by every section's parser.

They live apart from the sections so that each section (the architecture space, the budget, ...) can be
parsed in its own module with the same error wording: every message starts with the key it is about.
"""

from __future__ import annotations

from sonar.errors import UserError


class SpecError(UserError):
    """A search spec broke a rule; the message starts with the key it is about."""


def no_unknown_keys(data: dict, known: set[str], where: str) -> None:
    for key in data:
        if key not in known:
            raise SpecError(f"{where + '.' if where else ''}{key}: unknown key (known: {', '.join(sorted(known))})")


def mapping_under(data: dict, key: str, *, required: bool = False) -> dict:
    """A copy of the mapping at data[key]; {} when it is absent or null (unless required)."""
    if key not in data or data[key] is None:
        if required:
            raise SpecError(f"{key}: required")
        return {}
    if not isinstance(data[key], dict):
        raise SpecError(f"{key}: expected a mapping, got {data[key]!r}")
    return dict(data[key])


def as_int(value: object, where: str, *, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}: {value!r} is not an integer")
    if low is not None and value < low:
        raise SpecError(f"{where}: {value} must be >= {low}")
    return value


def as_number(value: object, where: str, *, positive: bool = False) -> float:
    if isinstance(value, str):
        try:
            value = float(value)  # YAML reads 1e9 without a dot as a string
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where}: {value!r} is not a number")
    if positive and not value > 0:
        raise SpecError(f"{where}: {value} must be > 0")
    return float(value)


def one_of(value: object, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise SpecError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return value
