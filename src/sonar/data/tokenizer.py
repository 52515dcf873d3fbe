"""Tokenizers: a plain byte tokenizer, and byte-level BPE trained with the `tokenizers` library.

Both reserve one special token, END_OF_TEXT, written between documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from sonar.errors import UserError

END_OF_TEXT = "<|endoftext|>"
TOKENIZER_KINDS = ("bpe", "byte")
_BYTES = 256


class TextTokenizer(Protocol):
    kind: str
    vocab_size: int
    eot_id: int

    def encode_batch(self, texts: list[str]) -> list[list[int]]: ...

    def decode(self, ids: list[int]) -> str: ...


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255, END_OF_TEXT as 256."""

    kind = "byte"
    vocab_size = _BYTES + 1
    eot_id = _BYTES

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [list(t.encode("utf-8")) for t in texts]

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if i < _BYTES).decode("utf-8", errors="replace")


class BpeTokenizer:
    """A trained byte-level BPE; every string is encodable (the 256 bytes are in the vocabulary)."""

    kind = "bpe"

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size()
        self.eot_id = tokenizer.token_to_id(END_OF_TEXT)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    def save(self, path: Path) -> None:
        self._tokenizer.save(str(path))

    @classmethod
    def load(cls, path: Path) -> BpeTokenizer:
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # the tokenizers library raises a bare Exception for a malformed file
            raise UserError(f"{path}: not a readable tokenizer.json ({err})".splitlines()[0]) from None
        if tokenizer.token_to_id(END_OF_TEXT) is None:  # a tokenizer file, but not one sonar trained
            raise UserError(f"{path}: this tokenizer has no {END_OF_TEXT} token; use the tokenizer.json a "
                            "sonar run wrote beside its model")
        return cls(tokenizer)


def min_bpe_vocab() -> int:
    return _BYTES + 1


def train_bpe(texts: list[str], vocab_size: int, *, min_frequency: int = 2) -> BpeTokenizer:
    """Train on `texts`; raise UserError when they cannot fill `vocab_size` tokens."""
    if vocab_size < min_bpe_vocab():
        raise UserError(
            f"vocab_size={vocab_size}: byte-level BPE needs at least {min_bpe_vocab()} tokens"
            f" (256 bytes + {END_OF_TEXT})"
        )
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    trained = tokenizer.get_vocab_size()
    if trained < vocab_size:
        raise UserError(
            f"vocab_size={vocab_size}: the training split supports only {trained} tokens"
            f" (pairs seen at least {min_frequency} times); use a smaller vocab or a larger corpus"
        )
    return BpeTokenizer(tokenizer)
