"""Exact-match accuracy on a built-in tasks' split (test, or validation while choosing settings), per task and
difficulty level."""

from __future__ import annotations

from dataclasses import dataclass

from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.posttrain.replies import greedy_replies, max_reply_tokens
from sonar.posttrain.settings import require_at_least_one, require_seed
from sonar.posttrain.tasks import SPLITS, check_level, check_tasks, generate_examples, verify


@dataclass(kw_only=True, frozen=True)
class EvalConfig:
    tasks: tuple[str, ...] = ("addition", "sort", "reverse", "count", "brackets")
    levels: tuple[int, ...] = (1, 2, 3)
    per_cell: int = 50  # prompts per (task, level)
    seed: int = 0
    split: str = "test"

    def __post_init__(self) -> None:
        check_types(self)
        check_tasks(self.tasks)
        if not self.levels:
            raise UserError("levels: name at least one level")
        for level in self.levels:
            check_level(level, "levels")
        require_at_least_one(self, "per_cell")
        require_seed(self)
        if self.split not in SPLITS[1:]:
            raise UserError(f"split={self.split!r}: evaluate on one of {SPLITS[1:]}, never on training prompts")


def evaluate_tasks(model, config: EvalConfig) -> dict:
    """{"overall": accuracy, "by_level": {level: acc}, "cells": [{task, level, accuracy, n}]} with greedy replies."""
    cells, correct_total, n_total = [], 0, 0
    by_level: dict[int, list[int]] = {}
    for task in config.tasks:
        for level in config.levels:
            examples = generate_examples(task, level, config.per_cell, split=config.split, seed=config.seed)
            replies = greedy_replies(model, [e.prompt for e in examples],
                                     max_new_tokens=max_reply_tokens([e.answer for e in examples]))
            correct = sum(verify(e, r) for e, r in zip(examples, replies, strict=True))
            cells.append({"task": task, "level": level, "accuracy": correct / len(examples), "n": len(examples)})
            correct_total += correct
            n_total += len(examples)
            tally = by_level.setdefault(level, [0, 0])
            tally[0] += correct
            tally[1] += len(examples)
    return {"overall": correct_total / n_total,
            "by_level": {str(lv): c / n for lv, (c, n) in sorted(by_level.items())}, "cells": cells}
