"""Deterministic document-level train/val split: a pure function of the documents' contents.

Each document is ranked by a salted hash of its content; the lowest-ranked ceil(val_fraction * n)
documents (at least one, at most n - 1) form the validation split. Adding a document moves at
most the documents near the boundary, and the same corpus always splits the same way.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from sonar.data.corpus import Corpus, Document
from sonar.errors import UserError


@dataclass(frozen=True)
class Split:
    train: tuple[Document, ...]
    val: tuple[Document, ...]
    val_fraction: float
    salt: str

    def record(self) -> dict:
        """What a run stores to say exactly which documents it validated on."""
        return {
            "val_fraction": self.val_fraction, "salt": self.salt,
            "train_documents": len(self.train), "val_documents": len(self.val),
            "val": [{"name": d.name, "sha256": d.digest} for d in self.val],
        }


def _rank_key(doc: Document, salt: str) -> str:
    return hashlib.sha256(f"{salt}\0{doc.digest}".encode()).hexdigest()


def check_val_fraction(val_fraction: object) -> None:
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float) or not 0.0 < val_fraction < 1.0:
        raise UserError(f"val_fraction={val_fraction!r}: must be strictly between 0 and 1")


def split_corpus(corpus: Corpus, *, val_fraction: float = 0.1, salt: str = "sonar-split-v1") -> Split:
    check_val_fraction(val_fraction)
    n = len(corpus.documents)
    if n < 2:
        raise UserError(f"corpus {corpus.source!r} has {n} document: a train/val split needs at least 2")
    n_val = min(n - 1, max(1, math.ceil(val_fraction * n)))
    ranked = sorted(range(n), key=lambda i: (_rank_key(corpus.documents[i], salt), i))
    val_ids = set(ranked[:n_val])
    # Original order is kept inside each split, so documents stream in the order they were read.
    train = tuple(d for i, d in enumerate(corpus.documents) if i not in val_ids)
    val = tuple(d for i, d in enumerate(corpus.documents) if i in val_ids)
    return Split(train=train, val=val, val_fraction=val_fraction, salt=salt)
