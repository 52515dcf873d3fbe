"""What `sonar eval length` measures on: the model, its tokenizer, the held-out documents, the training length.

CHECKPOINT is a `sonar train` run directory (holding model/ and train_config.json) or a transformers
checkpoint directory; the run's settings supply the corpus, its split and the training length unless
flags say otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonar.data.corpus import load_corpus
from sonar.data.dataset import DataConfig
from sonar.data.split import split_corpus
from sonar.data.tokenizer import BpeTokenizer, ByteTokenizer
from sonar.errors import UserError
from sonar.train.resume import read_run_file

_RUN_SETTINGS = "train_config.json"
_DATA_FIELDS = ("corpus", "val_fraction", "text_field")  # what the held-out split depends on


@dataclass(frozen=True)
class EvalSource:
    model_dir: Path
    train_len: int
    documents: list[np.ndarray]  # held-out documents, tokenized
    eot_id: int
    vocab_size: int
    corpus: str


def resolve(checkpoint: str, *, corpus: str | None, train_len: int | None) -> EvalSource:
    path = Path(checkpoint)
    if (path / "model" / "config.json").is_file():
        model_dir, run_dir = path / "model", path
    elif (path / "config.json").is_file():
        model_dir, run_dir = path, path.parent
    else:
        raise UserError(f"{checkpoint}: neither a `sonar train` run directory nor a checkpoint (no config.json)")
    settings = read_run_file(run_dir / _RUN_SETTINGS, "run settings file")
    data = settings.get("data", {})
    if not isinstance(data, dict):
        raise UserError(f"{run_dir / _RUN_SETTINGS}: not a readable run settings file ('data' is {data!r}, "
                        "an object is expected)")
    if train_len is None:
        train_len = settings.get("seq_len")
        if train_len is None:
            raise UserError(f"{checkpoint}: no {_RUN_SETTINGS} beside it says the training length: pass --train-len")
        if isinstance(train_len, bool) or not isinstance(train_len, int) or train_len < 1:
            # a 0 read from the file was reported as "--train-len 0", a flag the user never gave
            raise UserError(f"{run_dir / _RUN_SETTINGS}: not a readable run settings file ('seq_len' is "
                            f"{train_len!r}, an integer >= 1 is expected); pass --train-len")
    if train_len < 1:
        raise UserError(f"--train-len {train_len}: must be >= 1")
    try:  # the run's own corpus settings, as DataConfig checks them
        data = DataConfig(**{k: v for k, v in data.items() if k in _DATA_FIELDS})
    except UserError as err:
        raise UserError(f"{run_dir / _RUN_SETTINGS}: not a readable run settings file (data: {err})") from None
    source = corpus if corpus is not None else data.corpus
    tokenizer = _tokenizer(model_dir)
    split = split_corpus(load_corpus(source, text_field=data.text_field), val_fraction=data.val_fraction)
    documents = [np.asarray(ids, dtype=np.int64) for ids in tokenizer.encode_batch([d.text for d in split.val])]
    return EvalSource(model_dir=model_dir, train_len=int(train_len), documents=documents, eot_id=tokenizer.eot_id,
                      vocab_size=tokenizer.vocab_size, corpus=source or "built-in")


def _tokenizer(model_dir: Path):
    if (model_dir / "tokenizer.json").is_file():
        return BpeTokenizer.load(model_dir / "tokenizer.json")
    config = read_run_file(model_dir / "config.json", "checkpoint config")
    text_config = config.get("text_config")
    vocab = config.get("vocab_size", text_config.get("vocab_size") if isinstance(text_config, dict) else None)
    if vocab == ByteTokenizer.vocab_size:
        return ByteTokenizer()
    raise UserError(f"{model_dir}: no tokenizer.json, and vocab_size={vocab} is not the byte tokenizer's "
                    f"{ByteTokenizer.vocab_size}: copy the run's tokenizer.json beside config.json")
