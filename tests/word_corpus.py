"""A small corpus of a few repeated words: a tokenizer and a few training steps in seconds."""

import random
from pathlib import Path

WORDS = "the king queen lord lady love death night day sword crown heart blood fair sweet".split()


def write_word_corpus(root: Path) -> Path:
    root.mkdir()
    rng = random.Random(1)
    for i in range(10):
        (root / f"d{i}.txt").write_text("\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(80)))
    return root
