"""Corpora, train/val split, tokenizers and token caches, and batches as a function of the step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sonar.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sonar.data.batches import WindowBatches, fixed_windows
    from sonar.data.cache import CACHE_ENV, cache_root
    from sonar.data.corpus import BUILTIN, Corpus, Document, load_corpus
    from sonar.data.dataset import DataConfig, TokenizedCorpus, prepare, unigram_entropy
    from sonar.data.split import Split, split_corpus
    from sonar.data.tokenizer import END_OF_TEXT, BpeTokenizer, ByteTokenizer, train_bpe

# Imported on first use (sonar/lazy_exports.py): importing the package loads none of these modules.
EXPORTS = {
    "WindowBatches": "sonar.data.batches",
    "fixed_windows": "sonar.data.batches",
    "CACHE_ENV": "sonar.data.cache",
    "cache_root": "sonar.data.cache",
    "BUILTIN": "sonar.data.corpus",
    "Corpus": "sonar.data.corpus",
    "Document": "sonar.data.corpus",
    "load_corpus": "sonar.data.corpus",
    "DataConfig": "sonar.data.dataset",
    "TokenizedCorpus": "sonar.data.dataset",
    "prepare": "sonar.data.dataset",
    "unigram_entropy": "sonar.data.dataset",
    "Split": "sonar.data.split",
    "split_corpus": "sonar.data.split",
    "BpeTokenizer": "sonar.data.tokenizer",
    "ByteTokenizer": "sonar.data.tokenizer",
    "END_OF_TEXT": "sonar.data.tokenizer",
    "train_bpe": "sonar.data.tokenizer",
}
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

__all__ = [
    "BUILTIN", "BpeTokenizer", "ByteTokenizer", "CACHE_ENV", "Corpus", "DataConfig", "Document", "END_OF_TEXT",
    "Split", "TokenizedCorpus", "WindowBatches", "cache_root", "fixed_windows", "load_corpus", "prepare",
    "split_corpus", "train_bpe", "unigram_entropy",
]
