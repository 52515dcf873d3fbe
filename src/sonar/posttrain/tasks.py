"""Built-in instruction tasks with exact answers and adjustable difficulty (levels 1..MAX_LEVEL).

Every example is a pure function of (seed, split, task, level, index). Train, validation and test never
share a prompt: a salted hash of the prompt names its split, and generation draws until it has enough
prompts of the asked split. Validation is for every choice made while developing (settings, stopping),
so the test split stays unseen until the final measurement.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from sonar.errors import UserError
from sonar.field_types import is_whole
from sonar.model.transformer import check_seed

MAX_LEVEL = 5
SPLITS = ("train", "validation", "test")
_TEST_BUCKETS = range(0, 20)  # a fifth of prompts, unchanged since the split had no validation part
# 15 %; starts at 30, not 20, because brackets level 1 has only 16 distinct prompts and none of the
# ten outside the test split hashes into 20..29: this range leaves every (task, level) some of each.
_VALIDATION_BUCKETS = range(30, 45)
_SPLIT_SALT = b"sonar-posttrain-split-v1"


@dataclass(frozen=True)
class Example:
    task: str
    level: int
    prompt: str
    answer: str


def _addition(rng: random.Random, level: int) -> tuple[str, str]:
    digits = level
    a, b = (rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits) for _ in range(2))
    return f"{a}+{b}=", str(a + b)


def _sort(rng: random.Random, level: int) -> tuple[str, str]:
    items = [rng.randrange(10) for _ in range(level + 1)]
    return f"sort {' '.join(map(str, items))}", " ".join(map(str, sorted(items)))


def _reverse(rng: random.Random, level: int) -> tuple[str, str]:
    word = "".join(rng.choice(string.ascii_lowercase) for _ in range(level + 2))
    return f"reverse {word}", word[::-1]


def _count(rng: random.Random, level: int) -> tuple[str, str]:
    letters = "abc"[: 2 + (level > 2)]
    word = "".join(rng.choice(letters) for _ in range(2 * level + 2))
    target = rng.choice(letters)
    return f"count {target} in {word}", str(word.count(target))


def _brackets(rng: random.Random, level: int) -> tuple[str, str]:
    length = 2 * (level + 1)
    if rng.random() < 0.5:  # balanced: a random Dyck word, so both answers are common
        text, depth = "", 0
        for i in range(length):
            left = length - i
            opening = depth == 0 or (depth < left and rng.random() < 0.5)
            text, depth = (text + "(", depth + 1) if opening else (text + ")", depth - 1)
    else:
        text = "".join(rng.choice("()") for _ in range(length))
    return f"balanced {text}", "yes" if _balanced(text) else "no"


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += 1 if ch == "(" else -1
        if depth < 0:
            return False
    return depth == 0


TASKS: dict[str, Callable[[random.Random, int], tuple[str, str]]] = {
    "addition": _addition, "sort": _sort, "reverse": _reverse, "count": _count, "brackets": _brackets,
}


def split_of(prompt: str) -> str:
    digest = hashlib.sha256(_SPLIT_SALT + prompt.encode()).digest()
    bucket = int.from_bytes(digest[:4], "big") % 100
    return "test" if bucket in _TEST_BUCKETS else "validation" if bucket in _VALIDATION_BUCKETS else "train"


def check_tasks(tasks: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise UserError(f"tasks={list(tasks)}: choose one or more of {sorted(TASKS)}")
    if len(set(tasks)) < len(tasks):  # a repeat would be trained on or reported twice
        raise UserError(f"tasks={list(tasks)}: a task is repeated; name each once")
    return tuple(tasks)


def check_level(level: int, name: str = "level") -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= MAX_LEVEL:
        raise UserError(f"{name}={level!r}: must be an integer in 1..{MAX_LEVEL}")
    return level


MAX_EXAMPLES = 1_000_000  # per (task, level): far more than any split holds distinct prompts


def generate_examples(task: str, level: int, count: int, *, split: str, seed: int) -> list[Example]:
    """`count` examples of one task and level from one split (repeats allowed where the level has few
    distinct prompts)."""
    if not isinstance(task, str) or task not in TASKS:
        raise UserError(f"task={task!r}: choose one of {sorted(TASKS)}")
    check_level(level)
    # A typo such as 1e12 would generate until memory runs out; 2.5 failed inside range().
    if not is_whole(count, 0, MAX_EXAMPLES):
        raise UserError(f"count={count!r} examples per (task, level): must be an integer between 0 and "
                        f"{MAX_EXAMPLES:,}")
    if split not in SPLITS:
        raise UserError(f"split={split!r}: must be one of {SPLITS}")
    # The seed is only text in the generator's key, so '0' and 0 drew the same prompts and 0.5 or NaN others.
    check_seed(seed)
    rng = random.Random(f"{seed}/{split}/{task}/{level}")
    out: list[Example] = []
    for _ in range(count * 200):  # the smallest split is 15 % of the prompts: this bound is never the limit
        if len(out) == count:
            break
        prompt, answer = TASKS[task](rng, level)
        if split_of(prompt) == split:
            out.append(Example(task=task, level=level, prompt=prompt, answer=answer))
    if len(out) < count:
        raise UserError(f"{task} level {level}: could not draw {count} {split} prompts")
    return out


def mixed_examples(tasks: tuple[str, ...], levels: tuple[int, ...], count_each: int, *, split: str,
                   seed: int) -> list[Example]:
    """`count_each` examples of every (task, level), interleaved in a seeded order."""
    check_tasks(tasks)  # named as the list given (--tasks), not as generate_examples' one task
    out = [e for t in tasks for lv in levels for e in generate_examples(t, lv, count_each, split=split, seed=seed)]
    random.Random(f"{seed}/{split}/order").shuffle(out)
    return out


def verify(example: Example, response: str) -> bool:
    """The verifier: the reply, stripped of surrounding whitespace, is exactly the answer."""
    return response.strip() == example.answer
