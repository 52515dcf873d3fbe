"""Training stages: a run continued at another sequence length (Llama 4's mid-training context extension).

A stage starts at a step and replaces the sequence length and batch shape, with its own warmup and
schedule counted from its first step and its own data order. Within a stage, batch and learning rate
are pure functions of the step, as in the first stage, so a stage resumes exactly anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sonar.errors import UserError


@dataclass(kw_only=True, frozen=True)
class Stage:
    start_step: int  # the first update trained under this stage
    seq_len: int
    batch_size: int
    warmup_steps: int
    schedule_steps: int  # this stage's own horizon, counted from start_step

    def __post_init__(self) -> None:
        for name in ("seq_len", "batch_size", "schedule_steps", "start_step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "start_step" else 1):
                raise UserError(f"stage {name}={value!r}: must be an integer >= {0 if name == 'start_step' else 1}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise UserError(f"stage warmup_steps={self.warmup_steps!r}: must be an integer >= 0")


@dataclass(frozen=True)
class Phase:
    """The settings in force at a step: index 0 is the run's first stage, which starts at step 0."""

    index: int
    start_step: int
    config: object  # TrainConfig with this stage's shape and schedule; its data_seed gives the stage's order


def as_stages(stages) -> tuple[Stage, ...]:
    """Stages from a config file's list of mappings (or Stage objects), checked to start in increasing order."""
    try:
        parsed = tuple(s if isinstance(s, Stage) else Stage(**s) for s in stages)
    except TypeError as err:
        fields = list(Stage.__dataclass_fields__)
        raise UserError(f"stages={stages!r}: each stage is a mapping of {fields} ({err})") from None
    starts = [s.start_step for s in parsed]
    if any(b <= a for a, b in zip(starts, starts[1:], strict=False)) or (starts and starts[0] < 1):
        raise UserError(f"stages start at steps {starts}: each must start after the one before, and after step 0")
    return parsed


def phase_at(config, step: int) -> Phase:
    """The stage that trains update `step` of a run with TrainConfig `config`."""
    index = sum(1 for s in config.stages if s.start_step <= step)
    if index == 0:
        return Phase(0, 0, config)
    s = config.stages[index - 1]
    return Phase(index, s.start_step, config.replace(
        seq_len=s.seq_len, batch_size=s.batch_size, warmup_steps=s.warmup_steps, schedule_steps=s.schedule_steps,
        data_seed=config.data_seed + index, stages=()))


def tokens_before(config, step: int) -> int:
    """Tokens trained by the updates before `step`."""
    starts = [0, *(s.start_step for s in config.stages), step]
    total = 0
    for a, b in zip(starts, starts[1:], strict=False):
        if a >= step:
            break
        total += (min(b, step) - a) * phase_at(config, a).config.tokens_per_step
    return total


def seen_by(trajectory: dict, step: int) -> dict:
    """A trajectory dict with only the stages that trained before `step`: a checkpoint at `step` is
    continued by any run that agrees with it so far, whatever stages it adds from there on."""
    return {**trajectory, "stages": [s for s in trajectory.get("stages", []) if s["start_step"] < step]}


def next_stage(config, *, steps_done: int, until_step: int, seq_len: int) -> Stage:
    """The stage `sonar train --resume --seq-len N --steps M` appends: the same tokens per step (rows
    shrink as rows grow longer), a warmup of a tenth of its steps, a horizon of its own steps."""
    if until_step <= steps_done:
        raise UserError(f"--seq-len {seq_len}: a new stage needs --steps beyond the {steps_done} already trained")
    current = phase_at(config, steps_done).config
    batch = max(1, current.tokens_per_step // seq_len)
    steps = until_step - steps_done
    return Stage(start_step=steps_done, seq_len=seq_len, batch_size=batch, warmup_steps=max(1, steps // 10),
                 schedule_steps=steps)
