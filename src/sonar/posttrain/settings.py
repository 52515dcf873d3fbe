"""Checks the stage configs share: counts that must be positive, rates that must be above zero."""

from __future__ import annotations

from sonar.errors import UserError


def require_at_least_one(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value < 1:
            raise UserError(f"{name}={value}: must be >= 1")


def require_positive(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not value > 0:
            raise UserError(f"{name}={value}: must be > 0")
