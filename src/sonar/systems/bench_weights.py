"""The weights `sonar bench tune` tunes: each architecture trained briefly on the built-in corpus.

A quality limit is only as meaningful as the logits it compares. At random init the logits are small
noise around zero, and weight rounding that a trained model shrugs off moves them by several percent.
On tiny, decode:ctx=256, relative logits error over the decode window:

| weights | random init | 50 steps | 100 steps | 200 steps |
|---|---:|---:|---:|---:|
| bf16 | 2.8% | 0.19% | 0.18% | 0.19% |
| int8 | 5.2% | 0.91% | 0.30% | 0.31% |
| int8_fbgemm | 6.3% | 0.54% | 0.66% | 0.66% |

(measured with random init against the same seed trained with tiny's settings). So tuning random
weights rejects every scheme that reads fewer bytes, which no user's model would. `sonar bench tune`
trains 100 steps by default: past 50 the errors level off, and 100 steps cost about a minute for tiny
and several for each small architecture on 2 cores.
Training is resumable (the trainer's state under `workdir/train`), and the checkpoint is written once,
atomically, to `workdir/checkpoint`, where the tuner looks for a candidate's weights.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sonar import strict_json
from sonar.errors import UserError
from sonar.interfaces import Candidate
from sonar.model import ModelConfig


def check_train_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise UserError(f"train_steps={steps!r}: must be an integer >= 0 (0 tunes the random init)")
    return steps


def bench_workdir(workdir: Path, name: str, train_steps: int) -> Path:
    """Random-init and trained tunings keep apart: a tuning state judged on one set of weights says
    nothing about another."""
    return workdir / name if train_steps == 0 else workdir / f"{name}-trained-{train_steps}"


def train_for_bench(model_config: ModelConfig, workdir: Path, steps: int, *, shape: str, data=None,
                    log: Callable[[str], None] = lambda line: None) -> dict | None:
    """Train `model_config` for `steps` with the training settings of preset `shape` on `data` (a
    DataConfig; None: the built-in corpus), and write `workdir/checkpoint`; returns {"steps",
    "val_loss"} (None when steps is 0)."""
    import torch

    from sonar.checkpoint import save_pretrained
    from sonar.train.presets import train_config_for
    from sonar.train.runtime import idle_cores
    from sonar.train.trainer import RUN_RECORD, CorpusTrainer

    if check_train_steps(steps) == 0:
        return None
    checkpoint = workdir / "checkpoint"
    record = workdir / "train" / RUN_RECORD
    if (checkpoint / "config.json").is_file() and record.is_file():
        # Written once training ended: a rerun of the bench needs neither the corpus nor the trainer.
        return {"steps": steps, "val_loss": strict_json.loads(record.read_text())["curve"][-1]["val_loss"]}
    # As `sonar train` does: threads beyond the idle cores wait on each other, many times slower.
    threads = idle_cores(torch.get_num_threads())
    trainer = CorpusTrainer(train_config_for(shape, steps=steps, data=data, threads=threads,
                                             checkpoint_every=max(1, steps // 10)))
    sized = trainer.fit_vocab(model_config)
    if sized.vocab_size != model_config.vocab_size:
        raise UserError(f"the corpus's tokenizer has {sized.vocab_size} tokens, the architecture "
                        f"{model_config.vocab_size}: they must agree")
    candidate = Candidate(id=workdir.name, model=model_config, workdir=workdir / "train")

    def on_step(state, until_step) -> None:
        if state.curve and state.curve[-1]["step"] == state.step:
            log(f"  step {state.step}/{until_step}: val loss {state.curve[-1]['val_loss']:.3f}")

    trainer.on_step = on_step
    before = torch.get_num_threads()
    try:
        curve = trainer.run(candidate, steps)
        save_pretrained(trainer.load_model(candidate).cpu(), checkpoint, overwrite=True)  # sonar's own folder
    finally:  # the trainer sets the process's thread count; the tuning after it must find its own
        torch.set_num_threads(before)
    return {"steps": steps, "val_loss": curve[-1].val_loss}
