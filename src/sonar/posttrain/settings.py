"""Checks the stage configs share (counts that must be positive, rates above zero) and overrides from text."""

from __future__ import annotations

import dataclasses
import math

from sonar.errors import UserError
from sonar.model.transformer import check_seed

# The stages derive per-sample seeds from theirs (RL: (seed * 1_000_003 + step) * 1_009 + i), which must stay
# within torch's generator range: the seed itself is held to numpy's.
MAX_STAGE_SEED = 2**32 - 1


# A count past these is a typo (1e23 for 32), not a request: refused at once rather than run until memory
# runs out (rows per step) or for ever (steps).
MAX_COUNT = 1_000_000
MAX_ROWS = 4_096
# Past these a rate, temperature or weight is a typo (1e30 for 3e-3) that only overflows into NaN weights:
# the same ceilings as pre-training's (sonar.train.config.TRAINING_LIMITS: lr 10, coefficients 1e3).
MAX_LR = 10.0
MAX_TEMPERATURE = 100.0
MAX_BETA = 100.0
MAX_WEIGHT = 1_000.0


def require_at_least_one(config: object, *names: str, most: int = MAX_COUNT) -> None:
    for name in names:
        value = getattr(config, name)
        if not 1 <= value <= most:
            raise UserError(f"{name}={value}: must be between 1 and {most:,}")


def require_seed(config: object) -> None:
    check_seed(config.seed, "seed=", most=MAX_STAGE_SEED)


def require_positive(config: object, *names: str, most: float = math.inf) -> None:
    for name in names:
        value = getattr(config, name)
        if not (0 < value < math.inf and value <= most):  # NaN fails every comparison
            raise UserError(f"{name}={value}: must be a finite number > 0{_at_most(most)}")


def require_finite_non_negative(config: object, *names: str, most: float = math.inf) -> None:
    for name in names:
        value = getattr(config, name)
        if not (0 <= value < math.inf and value <= most):
            raise UserError(f"{name}={value}: must be a finite number >= 0{_at_most(most)}")


def require_lr(config: object) -> None:
    require_positive(config, "lr", most=MAX_LR)


def require_temperature(config: object) -> None:
    require_positive(config, "temperature", most=MAX_TEMPERATURE)


def require_warmup(config: object) -> None:
    if isinstance(config.warmup, bool) or not isinstance(config.warmup, int) or not 0 <= config.warmup <= MAX_COUNT:
        raise UserError(f"warmup={config.warmup}: must be an integer between 0 and {MAX_COUNT:,}")


def _at_most(most: float) -> str:
    return "" if most == math.inf else f" and at most {most:g}"


def with_overrides(config, text: str):
    """`config` with fields replaced from "name=value,name=value" ("" changes nothing); each value is read as
    its field's type (a bool as true/false), and the config's own checks then run on the result."""
    kinds = {f.name: f.type for f in dataclasses.fields(config)}
    changes: dict = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = (s.strip() for s in item.partition("="))
        if not sep or name not in kinds:
            raise UserError(f"{item!r}: expected name=value with name one of {', '.join(kinds)}")
        if name in changes:
            raise UserError(f"{item!r}: {name} is set twice; set each setting once")
        changes[name] = _parse(value, kinds[name], item)
    return dataclasses.replace(config, **changes)


def _parse(value: str, kind: str, item: str):
    try:
        if kind == "bool":
            if value.lower() not in ("true", "false"):
                raise ValueError
            return value.lower() == "true"
        if kind in ("int", "float") and not value.isascii():  # int() and float() also read '٣' and '５'
            raise ValueError
        return {"int": int, "float": float, "str": str}[kind](value)
    except (ValueError, KeyError):
        raise UserError(f"{item!r}: the value must be of type {kind}") from None
