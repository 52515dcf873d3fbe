"""Drawing architectures from the search space: seeded, deduplicated, valid by construction.

A draw is valid when every rule holds and ModelConfig accepts it (so `hidden_size % heads == 0`
and friends are enforced by the model's own validation, not restated here).
"""

from __future__ import annotations

import functools
import math
from collections import Counter

import numpy as np

from sonar.errors import UserError
from sonar.model.config import ModelConfig
from sonar.search import expr
from sonar.search.arch_space import ArchSpace, Param
from sonar.search.spec_fields import SpecError

_DRAWS_PER_CANDIDATE = 200
# Draws in all past 200 per candidate (all a search that found its candidates ever made): where rules reject
# nearly every draw, the repeats that mark an exhausted space come rarely, so the draws end here (about 2 s).
_EXTRA_DRAWS = 20_000


def draw_value(param: Param, rng: np.random.Generator) -> object:
    if param.choices:
        return param.choices[int(rng.integers(len(param.choices)))]
    low, high = param.low, param.high
    u = rng.random()
    value = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if param.log else low + u * (high - low)
    if not param.integer:
        return float(value)
    # on the grid low, low + step, ...: the nearest point, but never past the last one below high
    steps = min(round((value - low) / param.step), int((high - low) // param.step))
    return int(low + steps * param.step)


def draw_config(space: ArchSpace, rng: np.random.Generator, rejections: Counter | None = None) -> ModelConfig | None:
    """One draw; None when a rule or ModelConfig rejects it (counted in `rejections` by reason). Conditions
    see the values drawn so far layered on the base, so a `when` may refer to any field drawn earlier."""
    base = space.base_config()
    values = base.to_dict()
    changes = {}
    reason = None
    try:
        for param in space.params:
            reason = f"{param.name}.when {param.when!r} has no answer"
            if param.when is not None and not expr.evaluate(param.when, values):
                continue
            changes[param.name] = values[param.name] = draw_value(param, rng)
        for rule in space.rules:
            reason = f"rule {rule!r} has no answer"
            if not expr.evaluate(rule, values):
                return _rejected(rejections, f"rule {rule!r} does not hold")
    except (ArithmeticError, TypeError):  # no answer (x / 0, None + 1): the draw is not valid
        return _rejected(rejections, reason)
    try:
        return base.replace(**changes)
    except UserError as err:
        return _rejected(rejections, f"ModelConfig: {err}")


def _rejected(rejections: Counter | None, reason: str) -> None:
    if rejections is not None:
        rejections[reason] += 1
    return None


def _why_none(rejections: Counter) -> str:
    """The commonest reasons the draws were rejected, with their counts."""
    top = "; ".join(f"{count}x {reason}" for reason, count in rejections.most_common(3))
    more = len(rejections) - 3
    return top + (f"; and {more} other reasons" if more > 0 else "")


@functools.lru_cache(maxsize=64)
def _unique_configs(space: ArchSpace, seed: int, count: int) -> tuple[ModelConfig, ...]:
    rng = np.random.default_rng([seed, 0x50AA])
    found: list[ModelConfig] = []
    seen: set[ModelConfig] = set()  # membership in a list would make drawing quadratic in `count`
    misses = draws = 0  # misses: valid draws in a row that repeat a found architecture
    rejections: Counter = Counter()
    max_draws = _EXTRA_DRAWS + _DRAWS_PER_CANDIDATE * count
    while len(found) < count and misses < _DRAWS_PER_CANDIDATE and draws < max_draws:
        draws += 1
        config = draw_config(space, rng, rejections)
        if config is None and not found and draws >= _DRAWS_PER_CANDIDATE:
            break
        # A rejected draw says nothing about how many architectures remain: counted as a miss, rules that pass
        # one draw in a hundred ended the search after two or three architectures of a space holding hundreds.
        if config is None:
            continue
        if config in seen:
            misses += 1
            continue
        misses = 0
        found.append(config)
        seen.add(config)
    if not found:
        raise SpecError(f"arch: no valid architecture in {_DRAWS_PER_CANDIDATE} draws: {_why_none(rejections)}")
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
