"""What `sonar train --resume` keeps from its run directory: the saved settings (corpus, tokenizer,
vocabulary, schedule), the preset, the seed and the steps already trained. A flag given on the
command line that contradicts them is one UserError, never silently ignored; a flag left out takes
the saved value."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from sonar import strict_json
from sonar.data.corpus import BUILTIN, absolute_corpus
from sonar.data.dataset import DataConfig
from sonar.errors import UserError
from sonar.model import preset as model_preset
from sonar.model.transformer import check_seed
from sonar.train.config import TRAINING_LIMITS, TrainConfig
from sonar.train.presets import check_seq_len_fits
from sonar.train.stages import next_stage, phase_at
from sonar.train.state import STATE_FILE, load_checkpoint
from sonar.train.trainer import RUN_RECORD


@dataclass(kw_only=True, frozen=True)
class ResumeFlags:
    """The command line's choices; None where a flag was not given."""

    preset: str | None = None
    steps: int | None = None
    corpus: str | None = None
    tokenizer: str | None = None
    vocab: int | None = None
    seed: int | None = None
    seq_len: int | None = None  # another length than the run's current one starts a new stage


@dataclass(kw_only=True, frozen=True)
class Resumed:
    config: TrainConfig
    preset: str | None  # None when the run stopped before its first checkpoint
    seed: int | None
    steps_done: int
    until_step: int  # --steps, or the saved horizon (or the steps done, when past it)
    corpus: str | None  # where the corpus is read from now: config.data.corpus, unless that is an old relative path


def resume_run(out: Path, settings_file: str, flags: ResumeFlags, *, threads: int | None) -> Resumed:
    saved_path = out / settings_file
    if not saved_path.is_file():
        raise UserError(f"--resume: {out} holds no run to resume")
    config = _read_settings(saved_path, threads)
    state_dir = out / "state"
    if not (state_dir / STATE_FILE).is_file() and any((out / name).exists() for name in ("model", "curve.json")):
        # Trained once, its state since removed: resuming would start again from step 0 over its model and curve.
        raise UserError(f"--resume: {out} holds no training state to resume ({state_dir / STATE_FILE} is missing);"
                        " start a new run with another --out")
    steps_done = load_checkpoint(state_dir / STATE_FILE)["state"].step if (state_dir / STATE_FILE).is_file() else 0
    record = _read_record(state_dir / RUN_RECORD)
    preset, seed = _preset_and_seed(record, state_dir / RUN_RECORD)
    data = config.data
    corpus = _corpus_to_read(data.corpus, flags.corpus, saved_path)
    _same("--tokenizer", flags.tokenizer, data.tokenizer)
    _same("--vocab", flags.vocab, data.vocab_size)
    _same("--preset", flags.preset, preset)
    _same("--seed", flags.seed, seed)
    if flags.steps is not None and flags.steps < 1:
        raise UserError(f"--steps {flags.steps}: must be >= 1")
    if flags.steps is not None and flags.steps > TRAINING_LIMITS["schedule_steps"]:  # a fresh run refuses it too
        raise UserError(f"--steps {flags.steps}: must be at most {TRAINING_LIMITS['schedule_steps']:,}")
    if flags.steps is not None and flags.steps < steps_done:
        raise UserError(f"--steps {flags.steps}: this run has already trained {steps_done} steps; pass --steps >= "
                        f"{steps_done} (a run's model and curve always stand for all the steps it trained)")
    horizon = config.stages[-1].start_step + config.stages[-1].schedule_steps if config.stages else \
        config.schedule_steps
    until = flags.steps if flags.steps is not None else max(horizon, steps_done)
    config = _with_new_stage(config, flags, steps_done)
    if flags.seq_len is not None and preset is not None:
        check_seq_len_fits(preset, flags.seq_len)
    return Resumed(config=config, preset=preset, seed=seed, steps_done=steps_done, until_step=until, corpus=corpus)


def _corpus_to_read(recorded: str | None, given: str | None, settings: Path) -> str | None:
    """Where the resumed run reads its corpus. A run records it absolute; a path recorded relative (by a sonar
    before that) meant the folder the run was started in, which the settings do not name. Read from another
    folder it was "corpus path ... does not exist" or another corpus, and --corpus with the right path was
    refused as contradicting it. The recorded path stays as it is: it is among the settings the training state
    was saved under; what the state checks is the corpus's contents."""
    if not _relative(recorded):
        _same("--corpus", given, recorded, same=_same_corpus)
        return recorded
    if given is not None:
        return absolute_corpus(given)
    if _found_here(recorded):
        return recorded  # as the run read it before: from the working directory
    raise UserError(f"{settings}: the corpus {recorded!r} is recorded relative to the folder the run was started in,"
                    " and this folder has none; pass --corpus with its path (or resume from that folder)")


def _relative(corpus: str | None) -> bool:
    return corpus is not None and corpus != BUILTIN and not os.path.isabs(os.path.expanduser(corpus))


def _found_here(corpus: str) -> bool:
    if glob.has_magic(corpus):
        return next(glob.iglob(corpus, recursive=True), None) is not None
    return os.path.lexists(corpus)


def _with_new_stage(config: TrainConfig, flags: ResumeFlags, steps_done: int) -> TrainConfig:
    """--seq-len equal to the length in force keeps the run as it is; another one is not a contradiction
    but an explicit new stage from the steps done to --steps (mid-training at a longer context)."""
    if flags.seq_len is None:
        return config
    if flags.seq_len < 1:
        raise UserError(f"--seq-len {flags.seq_len}: must be >= 1")
    if flags.seq_len == phase_at(config, steps_done).config.seq_len:
        return config
    if flags.steps is None:
        raise UserError(f"--seq-len {flags.seq_len} starts a new stage at step {steps_done}: pass --steps to say "
                        "where it ends (its schedule runs to there)")
    stage = next_stage(config, steps_done=steps_done, until_step=flags.steps, seq_len=flags.seq_len)
    return config.replace(stages=(*config.stages, stage))


def _same(flag: str, given, saved, *, same=lambda a, b: a == b) -> None:
    if given is not None and saved is not None and not same(given, saved):
        raise UserError(f"{flag} {given!r} contradicts the run being resumed, which has {saved!r}: a resumed run "
                        f"keeps its settings; leave {flag} out, or start a new run with another --out")


def _same_corpus(given: str, saved: str) -> bool:
    return given == saved or Path(given).resolve() == Path(saved).resolve()


def _read_settings(path: Path, threads: int | None) -> TrainConfig:
    try:
        settings = strict_json.loads(path.read_text())
        if not isinstance(settings, dict) or not isinstance(settings.get("data"), dict):
            raise TypeError("not a mapping with a 'data' mapping")
        settings["data"] = DataConfig(**settings["data"])
        settings["threads"] = threads
        return TrainConfig(**settings)
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
    except (ValueError, TypeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable run settings file ({err})".splitlines()[0]) from None


def _read_record(path: Path) -> dict:
    return read_run_file(path, "run record")


def _preset_and_seed(record: dict, path: Path) -> tuple[str | None, int | None]:
    """The preset and seed the run record holds, each checked here: the preset was read as if given by --preset
    ("unknown preset"), the seed once the corpus had been read ("seed='x'"), neither naming the file."""
    preset, seed = record.get("candidate"), record.get("seed")
    try:
        if preset is not None:
            try:
                model_preset(preset)
            except UserError as err:
                raise UserError(f"candidate={preset!r}: {err}") from None
        if seed is not None:
            check_seed(seed)
    except UserError as err:
        raise UserError(f"{path}: not a readable run record ({err})") from None
    return preset, seed


def read_run_file(path: Path, what: str) -> dict:
    """A JSON object a run wrote beside its checkpoint ({} when absent); anything else is one UserError
    naming the file as `what`."""
    if not path.is_file():
        return {}
    try:
        record = strict_json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable {what} ({err})".splitlines()[0]) from None
    if not isinstance(record, dict):
        raise UserError(f"{path}: not a readable {what} (a JSON object is expected)")
    return record
