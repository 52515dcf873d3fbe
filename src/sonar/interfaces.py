"""The contracts between the two searches and the engine that drives them (see ARCHITECTURE.md).

A Trainer extends one candidate's training; a Tuner extends one candidate's system tuning. Both
are resumable: calling run(c, n) after run(c, k) continues from k, and the returned curve is the
whole curve so far, so the engine can be killed and restarted between any two calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from sonar.model.config import ModelConfig


@dataclass(kw_only=True, frozen=True)
class Candidate:
    """One architecture under search; its checkpoints and tuning records live under `workdir`."""

    id: str
    model: ModelConfig
    workdir: Path
    seed: int = 0


@dataclass(kw_only=True, frozen=True)
class CurvePoint:
    step: int
    tokens: int
    train_loss: float
    val_loss: float
    seconds: float  # cumulative training-device seconds spent on this candidate
    # Measured only where a job asks (search/long_context.py): val loss at a multiple of the training
    # length, and its ratio to the in-length loss on the same held-out text. None elsewhere, and
    # left out of recorded curves, so runs recorded without them fold as before.
    long_loss: float | None = None
    long_ratio: float | None = None


@dataclass(kw_only=True, frozen=True)
class TuningPoint:
    trial: int
    seconds: float  # cumulative target-device seconds spent tuning this candidate
    config: dict  # the system configuration measured (SystemConfig as a dict)
    latency_s: float  # median; inf when the trial failed
    spread_s: float  # interquartile range of the repeated measurements
    quality_delta: float  # val-loss increase (or logits error) against the fp32 reference
    best_latency_s: float  # best acceptable latency so far, this trial included
    failure: str | None = None  # why the trial failed, None when it ran
    extra: dict = field(default_factory=dict)


@runtime_checkable
class Trainer(Protocol):
    def run(self, candidate: Candidate, until_step: int) -> list[CurvePoint]:
        """Train `candidate` to `until_step` (resuming from its last checkpoint); the curve so far."""
        ...


@runtime_checkable
class Tuner(Protocol):
    def run(self, candidate: Candidate, until_trial: int) -> list[TuningPoint]:
        """Tune `candidate` through `until_trial` trials (resuming); the tuning curve so far."""
        ...
