"""Drawing architectures from the search space: seeded, deduplicated, valid by construction.

A draw is valid when every rule holds and ModelConfig accepts it (so `hidden_size % heads == 0`
and friends are enforced by the model's own validation, not restated here).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from sonar.errors import UserError
from sonar.model.config import ModelConfig
from sonar.search import expr
from sonar.search.arch_space import ArchSpace, Param
from sonar.search.spec_fields import SpecError

_DRAWS_PER_CANDIDATE = 200


def draw_value(param: Param, rng: np.random.Generator) -> object:
    if param.choices:
        return param.choices[int(rng.integers(len(param.choices)))]
    low, high = param.low, param.high
    u = rng.random()
    value = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if param.log else low + u * (high - low)
    if not param.integer:
        return float(value)
    steps = round((value - low) / param.step)
    return int(min(high, low + steps * param.step))


def draw_config(space: ArchSpace, rng: np.random.Generator) -> ModelConfig | None:
    """One draw; None when a rule or ModelConfig rejects it. Conditions see the values drawn so far
    layered on the base, so a `when` may refer to any field drawn earlier in the spec."""
    base = space.base_config()
    values = base.to_dict()
    changes = {}
    try:
        for param in space.params:
            if param.when is not None and not expr.evaluate(param.when, values):
                continue
            changes[param.name] = values[param.name] = draw_value(param, rng)
        if not all(expr.evaluate(rule, values) for rule in space.rules):
            return None
    except (ArithmeticError, TypeError):  # no answer (x / 0, None + 1): the draw is not valid
        return None
    try:
        return base.replace(**changes)
    except UserError:
        return None


@functools.lru_cache(maxsize=64)
def _unique_configs(space: ArchSpace, seed: int, count: int) -> tuple[ModelConfig, ...]:
    rng = np.random.default_rng([seed, 0x50AA])
    found: list[ModelConfig] = []
    seen: set[ModelConfig] = set()  # membership in a list would make drawing quadratic in `count`
    misses = 0
    while len(found) < count and misses < _DRAWS_PER_CANDIDATE:
        config = draw_config(space, rng)
        if config is None or config in seen:
            misses += 1
            continue
        misses = 0
        found.append(config)
        seen.add(config)
    if not found:
        raise SpecError(f"arch: no valid architecture in {_DRAWS_PER_CANDIDATE} draws "
                        "(check the rules and that sizes divide: hidden_size by heads, heads by kv heads)")
    return tuple(found)


def sample_architectures(space: ArchSpace, *, seed: int, count: int) -> list[ModelConfig]:
    """The first `count` distinct valid architectures for this seed (fewer when the space is smaller).
    Candidate i is always element i, so a resumed search sees the same candidates. A fixed pool is
    drawn without replacement in a seeded order."""
    if space.pool:
        return list(_pool_order(space.pool, seed)[:count])
    return list(_unique_configs(space, seed, count))


@functools.lru_cache(maxsize=64)
def _pool_order(pool: tuple[ModelConfig, ...], seed: int) -> tuple[ModelConfig, ...]:
    order = np.random.default_rng([seed, 0x50AA]).permutation(len(pool))
    return tuple(pool[int(i)] for i in order)
