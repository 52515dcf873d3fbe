"""What the engine records: jobs, their outcomes, and the scheduler's decisions (all JSON-able)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

JOB_KINDS = ("train", "tune")
ACTIONS = ("start", "promote", "release", "stop", "finish")


@dataclass(kw_only=True, frozen=True)
class Job:
    """Extend one candidate's training to `until` steps, or its tuning to `until` trials."""

    candidate: str
    kind: str
    rung: int
    until: int
    start: int = 0  # steps/trials already done before this job (for cost accounting)
    target: str | None = None  # the hardware a tuning job must run on
    # A search over several targets tunes each candidate once per target per rung, so its tune job ids
    # name the target (`c001/r2/tune@laptop`); a single-target search's ids do not, as they never have.
    names_target: bool = False
    # A train job of the last rungs of a search with a long-context bound measures the loss at this
    # multiple of the training length (search/long_context.py); None, and left out of the record, otherwise.
    long_factor: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ValueError(f"job kind {self.kind!r}: must be one of {JOB_KINDS}")
        if self.names_target and (self.target is None or self.kind != "tune"):
            raise ValueError(f"job {self.candidate}/r{self.rung}/{self.kind}: only a tune job with a target "
                             "names its target")
        if self.until < 1 or self.start < 0 or self.start > self.until:
            raise ValueError(f"job {self.id}: need 0 <= start={self.start} <= until={self.until}, until >= 1")
        if self.long_factor is not None and self.kind != "train":
            raise ValueError(f"job {self.id}: only a train job measures long context")

    @property
    def id(self) -> str:
        tail = f"@{self.target}" if self.names_target else ""
        return f"{self.candidate}/r{self.rung}/{self.kind}{tail}"

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        if not data["names_target"]:  # a single-target search records its jobs as it always has
            del data["names_target"]
        if data["long_factor"] is None:
            del data["long_factor"]
        return data


@dataclass(kw_only=True, frozen=True)
class Decision:
    """start: sample candidate and run rung 0; promote: run `rung`; release: run the training its
    rung held back (fastest_first's probed candidates, at rung 0); stop / finish: no more jobs.

    A recorded start carries the candidate's full ModelConfig (`model`, its to_dict), so a run folds
    to the same architectures whatever the sampler's code becomes. It is what was decided about, not
    part of the decision: schedulers leave it empty (the engine records the sampler's draw), unless they
    choose the architecture themselves (the policy's learned_starts), and equality ignores it."""

    candidate: str
    action: str
    rung: int
    reason: str = ""
    model: dict | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"decision action {self.action!r}: must be one of {ACTIONS}")

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        if data["model"] is None:
            del data["model"]
        return data


# A train job whose loss is not finite fails with a message starting so; the benchmark tells such a divergence,
# whose points the method paid for and saw, from a crash that showed it nothing.
DIVERGED = "NaN"


def diverged_failure(val_loss: float, step: int) -> str:
    return f"{DIVERGED}: val loss {val_loss} at step {step}"


def is_diverged(failure: str | None) -> bool:
    return (failure or "").startswith(f"{DIVERGED}:")


@dataclass(kw_only=True)
class Outcome:
    """What a finished job sends back: the whole curve so far (dicts of CurvePoint/TuningPoint), or a failure,
    and where it ran (placement.py; None where no worker said, as a worker that died)."""

    job_id: str
    points: list[dict] = field(default_factory=list)
    cost_s: float = 0.0
    failure: str | None = None
    placement: dict | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None
