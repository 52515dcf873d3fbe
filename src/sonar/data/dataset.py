"""A tokenized corpus: split, tokenizer and token arrays, cached on disk and memory-mapped.

The cache entry is keyed by the corpus content hash and every setting that changes the tokens,
and is built in a staging directory renamed into place at the end (see cache.staged_dir).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonar.data.cache import cache_root, staged_dir
from sonar.data.corpus import Corpus, load_corpus
from sonar.data.split import check_val_fraction, split_corpus
from sonar.data.tokenizer import TOKENIZER_KINDS, BpeTokenizer, ByteTokenizer, TextTokenizer, train_bpe
from sonar.errors import UserError
from sonar.field_types import check_types

FORMAT_VERSION = 1
MAX_VOCAB_SIZE = 2**32  # token ids are stored as uint32 (at most np.uint32's range)


@dataclass(kw_only=True, frozen=True)
class DataConfig:
    corpus: str | None = None  # None: the built-in corpus
    tokenizer: str = "bpe"
    vocab_size: int = 4096  # BPE only; the byte tokenizer has 257
    val_fraction: float = 0.1
    text_field: str = "text"

    def __post_init__(self) -> None:
        check_types(self)
        if self.tokenizer not in TOKENIZER_KINDS:
            raise UserError(f"tokenizer={self.tokenizer!r}: choose one of {list(TOKENIZER_KINDS)}")
        check_val_fraction(self.val_fraction)
        if not isinstance(self.text_field, str) or not self.text_field:
            raise UserError(f"text_field={self.text_field!r}: must be a non-empty string (the records' text field)")
        if not isinstance(self.vocab_size, int) or not 1 <= self.vocab_size <= MAX_VOCAB_SIZE:
            raise UserError(f"vocab_size={self.vocab_size!r}: must be an integer from 1 to {MAX_VOCAB_SIZE:,}"
                            " (token ids are stored as uint32)")


@dataclass(frozen=True)
class TokenizedCorpus:
    tokenizer: TextTokenizer
    train_ids: np.ndarray  # memory-mapped, read-only, documents joined by END_OF_TEXT
    val_ids: np.ndarray
    record: dict  # corpus hash, split, tokenizer settings, entropy: stored with every run
    path: Path  # the cache entry

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size


def prepare(config: DataConfig | None = None, *, cache_dir: str | Path | None = None) -> TokenizedCorpus:
    """Load, split, tokenize (or find all of it in the cache) and memory-map the corpus."""
    config = config if config is not None else DataConfig()
    corpus = load_corpus(config.corpus, text_field=config.text_field)
    key = _cache_key(corpus, config)
    entry = cache_root(cache_dir) / "datasets" / key
    if not (entry / "record.json").is_file():
        with staged_dir(entry) as staging:
            _build(corpus, config, staging)
    return _open(entry, config)


def _cache_key(corpus: Corpus, config: DataConfig) -> str:
    settings = {
        "format": FORMAT_VERSION, "corpus": corpus.digest, "tokenizer": config.tokenizer,
        "vocab_size": config.vocab_size if config.tokenizer == "bpe" else None,
        "val_fraction": config.val_fraction,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]


def _build(corpus: Corpus, config: DataConfig, staging: Path) -> None:
    split = split_corpus(corpus, val_fraction=config.val_fraction)
    train_texts = [d.text for d in split.train]
    if config.tokenizer == "bpe":
        tokenizer = train_bpe(train_texts, config.vocab_size)
        tokenizer.save(staging / "tokenizer.json")
    else:
        tokenizer = ByteTokenizer()
    dtype = np.uint16 if tokenizer.vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32
    train_ids = _encode(tokenizer, train_texts, dtype)
    val_ids = _encode(tokenizer, [d.text for d in split.val], dtype)
    np.save(staging / "train.npy", train_ids)
    np.save(staging / "val.npy", val_ids)
    record = {
        "format": FORMAT_VERSION, "source": corpus.source, "corpus_sha256": corpus.digest,
        "documents": len(corpus.documents), "chars": corpus.n_chars,
        "tokenizer": config.tokenizer, "vocab_size": tokenizer.vocab_size, "eot_id": tokenizer.eot_id,
        "train_tokens": int(train_ids.size), "val_tokens": int(val_ids.size),
        "unigram_entropy_nats": unigram_entropy(train_ids, tokenizer.vocab_size),
        "split": split.record(),
    }
    (staging / "record.json").write_text(json.dumps(record, indent=1))  # written last: marks completion


def _encode(tokenizer: TextTokenizer, texts: list[str], dtype) -> np.ndarray:
    pieces = []
    for ids in tokenizer.encode_batch(texts):
        pieces.append(np.asarray(ids, dtype=dtype))
        pieces.append(np.asarray([tokenizer.eot_id], dtype=dtype))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)


def _open(entry: Path, config: DataConfig) -> TokenizedCorpus:
    record = json.loads((entry / "record.json").read_text())
    tokenizer = BpeTokenizer.load(entry / "tokenizer.json") if record["tokenizer"] == "bpe" else ByteTokenizer()
    return TokenizedCorpus(
        tokenizer=tokenizer,
        train_ids=np.load(entry / "train.npy", mmap_mode="r"),
        val_ids=np.load(entry / "val.npy", mmap_mode="r"),
        record=record, path=entry,
    )


def unigram_entropy(ids: np.ndarray, vocab_size: int) -> float:
    """Entropy in nats of the token frequency distribution: the loss of the best context-free model."""
    counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())
