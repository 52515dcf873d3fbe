"""Corpora, train/val split, tokenizers and token caches, and batches as a function of the step."""

from sonar.data.batches import WindowBatches, fixed_windows
from sonar.data.cache import CACHE_ENV, cache_root
from sonar.data.corpus import BUILTIN, Corpus, Document, load_corpus
from sonar.data.dataset import DataConfig, TokenizedCorpus, prepare, unigram_entropy
from sonar.data.split import Split, split_corpus
from sonar.data.tokenizer import END_OF_TEXT, BpeTokenizer, ByteTokenizer, train_bpe

__all__ = [
    "BUILTIN", "BpeTokenizer", "ByteTokenizer", "CACHE_ENV", "Corpus", "DataConfig", "Document", "END_OF_TEXT",
    "Split", "TokenizedCorpus", "WindowBatches", "cache_root", "fixed_windows", "load_corpus", "prepare",
    "split_corpus", "train_bpe", "unigram_entropy",
]
