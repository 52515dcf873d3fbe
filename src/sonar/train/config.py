"""TrainConfig: every training setting, validated once. Defaults suit the debug and tiny presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sonar.data.dataset import DataConfig
from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.model.attention_kernels import ATTENTION_KERNELS
from sonar.model.moe_dispatch import MOE_DISPATCHES
from sonar.train.device import PRECISIONS, check_device_name
from sonar.train.runtime import MAX_THREADS, check_threads
from sonar.train.stages import Stage, as_stages

SCHEDULES = ("cosine", "wsd", "constant")


# Sane upper bounds of the training settings: the spec's training: section reports them by key, and TrainConfig
# refuses its counts past them (a batch of 10**22 rows overflows inside torch).
TRAINING_LIMITS = {
    "batch_size": 2**16, "seq_len": 2**20, "eval_batches": 10_000, "warmup_steps": 10**9, "schedule_steps": 10**9,
    "eval_every": 10**9, "checkpoint_every": 10**9, "threads": MAX_THREADS, "data_seed": 2**32 - 1,
    "lr": 10.0, "weight_decay": 10.0, "eps": 1.0, "grad_clip": 1e6, "load_balance_coef": 1e3,
    "distill_temperature": 1e3,
}

@dataclass(kw_only=True, frozen=True)
class TrainConfig:
    batch_size: int = 8
    seq_len: int = 128
    lr: float = 2e-3  # peak learning rate
    min_lr_ratio: float = 0.1  # the schedule ends at lr * min_lr_ratio
    warmup_steps: int = 20
    schedule: str = "cosine"
    # The schedule's horizon, fixed up front so that training to k then to n equals training to n:
    # it never depends on how far one call trains. Past it the rate stays at its minimum.
    schedule_steps: int = 1000
    decay_fraction: float = 0.2  # wsd: the final share of schedule_steps spent decaying
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float | None = 1.0  # max global grad norm; None: no clipping
    load_balance_coef: float = 0.001  # MoE auxiliary loss weight; 0 turns it off
    eval_every: int = 50
    eval_batches: int = 4  # validation rows = eval_batches * batch_size, the same windows every time
    checkpoint_every: int | None = None  # also save every N steps (a run always saves when it returns)
    data_seed: int = 0  # data order; the model's initial weights come from the candidate's seed
    threads: int | None = None  # torch intra-op threads; None leaves torch's setting alone
    moe_dispatch: str = "grouped"
    attention_kernel: str = "chunk_blocked"
    device: str = "cpu"  # cpu, cuda or cuda:N; present when the run starts, or a UserError (train/device.py)
    precision: str | None = None  # fp32, or bf16 autocast over fp32 master weights; None: bf16 on CUDA, else fp32
    deterministic: bool = True  # CUDA: deterministic kernels, so a resumed run is bit for bit the unbroken one
    # Later stages of the run (train/stages.py): another sequence length and schedule from a step on.
    stages: tuple[Stage, ...] = ()
    # Distillation: with a teacher checkpoint (same vocabulary), the loss is
    # (1 - distill_weight) * CE + distill_weight * T^2 * KL(teacher_T || student_T) at T = distill_temperature.
    teacher: str | None = None
    distill_temperature: float = 2.0
    distill_weight: float = 0.5
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        check_types(self, limits=TRAINING_LIMITS, skip=("device",))  # check_device_name says what a device is
        for name in ("batch_size", "seq_len", "schedule_steps", "eval_every", "eval_batches"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{name}={value!r}: must be an integer >= 1")
            if value > TRAINING_LIMITS[name]:
                raise UserError(f"{name}={value}: must be at most {TRAINING_LIMITS[name]:,}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise UserError(f"warmup_steps={self.warmup_steps!r}: must be an integer >= 0")
        if not self.lr > 0:
            raise UserError(f"lr={self.lr}: must be > 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise UserError(f"min_lr_ratio={self.min_lr_ratio}: must be in [0, 1]")
        if self.schedule not in SCHEDULES:
            raise UserError(f"schedule={self.schedule!r}: choose one of {list(SCHEDULES)}")
        if not 0.0 < self.decay_fraction <= 1.0:
            raise UserError(f"decay_fraction={self.decay_fraction}: must be in (0, 1]")
        if self.weight_decay < 0:
            raise UserError(f"weight_decay={self.weight_decay}: must be >= 0")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UserError(f"{name}={getattr(self, name)}: must be in [0, 1)")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise UserError(f"grad_clip={self.grad_clip}: must be > 0, or None for no clipping")
        if self.load_balance_coef < 0:
            raise UserError(f"load_balance_coef={self.load_balance_coef}: must be >= 0")
        if self.data_seed < 0:
            raise UserError(f"data_seed={self.data_seed}: must be >= 0")
        if not self.eps > 0:
            raise UserError(f"eps={self.eps}: must be > 0")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise UserError(f"checkpoint_every={self.checkpoint_every}: must be >= 1 or None")
        check_threads(self.threads, "threads=")
        if self.moe_dispatch not in MOE_DISPATCHES:
            raise UserError(f"moe_dispatch={self.moe_dispatch!r}: choose one of {sorted(MOE_DISPATCHES)}")
        if self.attention_kernel not in ATTENTION_KERNELS:
            raise UserError(f"attention_kernel={self.attention_kernel!r}: choose one of {sorted(ATTENTION_KERNELS)}")
        check_device_name(self.device)
        object.__setattr__(self, "stages", as_stages(self.stages))
        if self.precision is not None and self.precision not in PRECISIONS:
            raise UserError(f"precision={self.precision!r}: choose one of {list(PRECISIONS)}, or None for the device's")
        if not isinstance(self.deterministic, bool):
            raise UserError(f"deterministic={self.deterministic!r}: must be true or false")
        if self.teacher is not None and (not isinstance(self.teacher, str) or not self.teacher.strip()):
            raise UserError(f"teacher={self.teacher!r}: must be a checkpoint directory, or None for no teacher")
        if not self.distill_temperature > 0:
            raise UserError(f"distill_temperature={self.distill_temperature}: must be > 0")
        if not 0.0 < self.distill_weight <= 1.0:
            raise UserError(f"distill_weight={self.distill_weight}: must be in (0, 1] (the KL's share of the loss)")

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        if not data["stages"]:  # a one-stage run records its settings as before stages existed
            data.pop("stages")
        if data["teacher"] is None:  # likewise a run without a teacher, so its checkpoints still resume
            for name in ("teacher", "distill_temperature", "distill_weight"):
                data.pop(name)
        return data

    def trajectory_dict(self) -> dict:
        """The settings that shape the weights: a checkpoint resumes only under the same ones."""
        data = self.to_dict()
        # The device is not among them: a checkpoint restores onto another device (in value, not in bits).
        for name in ("eval_every", "eval_batches", "checkpoint_every", "threads", "device", "deterministic"):
            data.pop(name)
        return data
