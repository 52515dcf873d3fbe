"""The spec's sections for the trainers: `training:` and `data:` (the real backend), `synthetic:`.

Each is checked against the constructor that will consume it (TrainConfig, DataConfig, the synthetic
backend's settings below), so a typo or a bad value fails when the spec is loaded, not in every job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sonar.errors import UserError
from sonar.model.config import ModelConfig
from sonar.search.spec_fields import (
    SpecError,
    as_str,
    dataclass_section,
    key_path,
    no_unknown_keys,
    one_of,
    shown,
)
from sonar.train.config import TRAINING_LIMITS

BUILTIN_NAMES = ("builtin", "shakespeare")
FAILURE_MODES = ("oom", "nan", "crash", "exit")


@dataclass(kw_only=True, frozen=True)
class SyntheticSettings:
    """What the synthetic backend (synthetic.py) reads from `synthetic:`, with its defaults."""

    noise: float = 0.01  # std of the loss noise
    eval_every: int = 10
    step_cost_s: float = 0.01  # seconds per step per 1e5 active parameters
    trial_cost_s: float = 0.5
    sleep_s: float = 0.0  # real seconds per job (tests that kill a search mid-job)
    fail: dict = field(default_factory=dict)  # candidate id -> oom | nan | crash | exit

    def __post_init__(self) -> None:
        for name in ("noise", "step_cost_s", "trial_cost_s", "sleep_s"):
            if getattr(self, name) < 0:
                raise UserError(f"{name}={getattr(self, name)}: must be >= 0")
        if self.eval_every < 1:
            raise UserError(f"eval_every={self.eval_every}: must be >= 1")


# noise: the synthetic loss is at least 1 (synthetic.py: its asymptote), and a std of 0.1 keeps it 10 sigma above 0;
# at 1.0 losses come out negative, which no cross-entropy is, and the curve fits stop the search with an error.
SYNTHETIC_LIMITS = {"noise": 0.1, "eval_every": 10**9, "step_cost_s": 1e6, "trial_cost_s": 1e6, "sleep_s": 3600.0}


def parse_training(data: dict, max_steps: int) -> dict:
    """`training:` -> the TrainConfig keywords, checked by building one (schedule_steps defaults to max_steps)."""
    from sonar.train.config import TrainConfig

    extra = {} if "schedule_steps" in data else {"schedule_steps": max_steps}
    # the checked values, not the raw ones: every job builds TrainConfig(**training) from them
    data = dataclass_section(data, TrainConfig, "training", skip=frozenset({"data"}), limits=TRAINING_LIMITS,
                             extra=extra)
    if data.get("teacher") is not None:
        data = {**data, "teacher": _teacher_dir(data["teacher"])}
    return data


def _teacher_dir(teacher: str) -> str:
    """The teacher checkpoint as an absolute path (jobs may run elsewhere), there when the spec loads."""
    from pathlib import Path

    path = Path(teacher).expanduser().resolve()
    if not (path / "config.json").is_file():
        raise SpecError(f"training.teacher: {teacher!r} is not a checkpoint directory (no config.json); "
                        "name one that sonar train or sonar posttrain wrote")
    return str(path)


def default_training_device(targets, *, gpu_present: bool | None = None) -> str:
    """Where candidates train when `training.device` is not given: on a GPU when a target deploys to
    one and this machine has one, else on the CPU."""
    if gpu_present is None:
        import torch

        gpu_present = torch.cuda.is_available()
    return "cuda" if gpu_present and any(t.device == "cuda" for t in targets) else "cpu"


def parse_data(data: object, vocab_size: int) -> dict:
    """`data:` -> {corpus, tokenizer, val_fraction, text_field}, checked by building a DataConfig whose
    BPE vocabulary is the architectures' (`vocab_size`). `path: FILE` is read as `corpus: FILE`."""
    from sonar.data.dataset import DataConfig

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"data: expected a mapping such as {{corpus: builtin}} or {{corpus: FILE}}, got {shown(data)}")
    data = dict(data)
    if "path" in data:
        if "corpus" in data:
            raise SpecError("data.path: give corpus or path (the same thing), not both")
        data["corpus"] = data.pop("path")
    corpus = data.get("corpus")
    corpus = "builtin" if corpus is None else as_str(corpus, "data.corpus")
    data["corpus"] = corpus
    values = {k: v for k, v in data.items() if k != "corpus"}
    values = dataclass_section(values, DataConfig, "data", skip=frozenset({"vocab_size", "corpus"}),
                               extra={"corpus": None if corpus in BUILTIN_NAMES else corpus, "vocab_size": vocab_size})
    return {"corpus": corpus, **values}  # checked values: the trainer builds DataConfig(**data) from them


def parse_synthetic(data: dict) -> dict:
    """`synthetic:` -> the synthetic backend's options, checked by building SyntheticSettings."""
    no_unknown_keys(data, {f.name for f in dataclasses.fields(SyntheticSettings)}, "synthetic")
    fail = data.get("fail")
    fail = {} if fail is None else fail
    if not isinstance(fail, dict):
        raise SpecError(f"synthetic.fail: expected a mapping of candidate id -> {'|'.join(FAILURE_MODES)}")
    for candidate, mode in fail.items():
        as_str(candidate, "synthetic.fail (a candidate id)")
        one_of(mode, FAILURE_MODES, key_path("synthetic.fail", candidate))
    values = dataclass_section({k: v for k, v in data.items() if k != "fail"}, SyntheticSettings, "synthetic",
                               skip=frozenset({"fail"}), limits=SYNTHETIC_LIMITS)
    return {**values, "fail": data["fail"]} if "fail" in data else values


def check_corpus_readable(data: dict, where: str) -> None:
    """That the corpus exists and can be read, before the first job (the data layer's cheap check)."""
    from sonar.data.corpus_check import check_corpus

    corpus = data["corpus"]
    try:
        check_corpus(None if corpus in BUILTIN_NAMES else corpus)
    except UserError as err:
        raise SpecError(f"{where}: {err}") from None


def check_vocab_fit(data: dict, candidates: list[ModelConfig], base_vocab: int) -> None:
    """That every candidate embeds exactly the tokenizer's vocabulary, as the real trainer requires."""
    from sonar.data.tokenizer import ByteTokenizer, min_bpe_vocab

    if data.get("tokenizer", "bpe") == "byte":
        tokens, rule = ByteTokenizer.vocab_size, f"byte gives {ByteTokenizer.vocab_size} tokens"
    else:
        tokens = base_vocab
        rule = f"bpe is trained to the base preset's vocab_size ({tokens})"
        if tokens < min_bpe_vocab():
            raise SpecError(f"data.tokenizer: bpe needs vocab_size >= {min_bpe_vocab()} (the 256 bytes and "
                            f"end-of-text), but the base preset has {tokens}; use tokenizer: byte")
    for config in candidates:
        if config.vocab_size != tokens:
            raise SpecError(f"data.tokenizer: {rule}, but a candidate has vocab_size={config.vocab_size}; "
                            f"the trainer embeds exactly the tokenizer's ids (set arch vocab_size: [{tokens}])")
