"""CorpusTrainer: the search's Trainer, training candidates on a tokenized corpus with exact resume.

Each candidate's checkpoint (train_state.pt) and run record (run.json) live in its workdir;
run(candidate, n) continues from the checkpoint, so a run may stop and resume at any step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sonar.data.batches import WindowBatches, fixed_windows
from sonar.data.cache import write_atomic
from sonar.data.dataset import TokenizedCorpus, prepare
from sonar.errors import UserError
from sonar.interfaces import Candidate, CurvePoint
from sonar.longctx.ratio import long_context_loss
from sonar.model import ModelConfig, build_model
from sonar.model.config import require_model_config
from sonar.strict_json import dumps_strict
from sonar.train.config import TrainConfig
from sonar.train.device import (
    autocast,
    compute_dtype,
    deterministic_kernels,
    enable_fast_fp32,
    resolve_device,
    to_device,
)
from sonar.train.experts import ExpertLoad
from sonar.train.flops import device_peak, train_flops_per_token
from sonar.train.optimizer import build_optimizer, restore_optimizer
from sonar.train.rng import restore_rng
from sonar.train.runtime import keep_freed_memory
from sonar.train.stages import phase_at, seen_by, tokens_before
from sonar.train.state import (
    STATE_FILE,
    TrainState,
    check_compatible,
    load_checkpoint,
    restoring,
    save_checkpoint,
)
from sonar.train.step import apply_kernels, evaluate, has_moe, train_step

RUN_RECORD = "run.json"
StepHook = Callable[[TrainState, int], None]  # (state after the step, until_step)


def fit_vocab(config: ModelConfig, data: TokenizedCorpus) -> ModelConfig:
    """The model config with its vocabulary sized to the tokenizer's."""
    require_model_config(config)
    _require_corpus(data)
    return config.replace(vocab_size=data.vocab_size)


def _require_corpus(data: object) -> None:
    if not isinstance(data, TokenizedCorpus):
        raise UserError(f"data: expected a TokenizedCorpus (sonar.data.dataset.prepare), got {type(data).__name__}")


class CorpusTrainer:
    def __init__(self, config: TrainConfig | None = None, *, data: TokenizedCorpus | None = None,
                 cache_dir: str | Path | None = None, peak_flops: float | None = None,
                 on_step: StepHook | None = None) -> None:
        # Checked here, not where each is first used: a dict for config was an AttributeError mid-run.
        if config is not None and not isinstance(config, TrainConfig):
            raise UserError(f"config: expected a TrainConfig or None, got {type(config).__name__}")
        if data is not None:
            _require_corpus(data)
        if cache_dir is not None and not isinstance(cache_dir, str | Path):
            raise UserError(f"cache_dir={cache_dir!r}: must be a directory path (str or pathlib.Path) or None")
        if peak_flops is not None and (isinstance(peak_flops, bool) or not isinstance(peak_flops, int | float)
                                       or not 0 < peak_flops < math.inf):
            raise UserError(f"peak_flops={peak_flops!r}: must be a finite number of FLOP/s > 0, or None to measure it")
        if on_step is not None and not callable(on_step):
            raise UserError(f"on_step={on_step!r}: must be a function (state, until_step) or None")
        self.config = config if config is not None else TrainConfig()
        self.cache_dir = cache_dir
        self._data = data
        self._peak_flops = peak_flops
        self.on_step = on_step
        self._teacher: torch.nn.Module | None = None  # loaded once, on the first run that trains
        self._peak_refreshed = peak_flops is not None  # a peak given by the caller is theirs to keep

    @property
    def data(self) -> TokenizedCorpus:
        if self._data is None:
            self._data = prepare(self.config.data, cache_dir=self.cache_dir)
        return self._data

    def fit_vocab(self, config: ModelConfig) -> ModelConfig:
        return fit_vocab(config, self.data)

    def run(self, candidate: Candidate, until_step: int, *, long_factor: int | None = None) -> list[CurvePoint]:
        """Train to `until_step`; with `long_factor`, the point at until_step also carries the val loss at
        long_factor x the training length and its ratio to the in-length loss (search/long_context.py)."""
        if not isinstance(until_step, int) or until_step < 0:
            raise UserError(f"until_step={until_step!r}: must be an integer >= 0")
        model, optimizer, state = self._restore(candidate)
        if state.step < until_step:
            self._train(candidate, model, optimizer, state, until_step)
        if long_factor is not None and self._measure_long(model, state, until_step, long_factor):
            self._save(candidate, model, optimizer, state)
        return [CurvePoint(**p) for p in state.curve if p["step"] <= until_step]

    def _measure_long(self, model, state: TrainState, step: int, factor: int) -> bool:
        """Add the long-context loss to the curve point at `step` (measured once: a rerun finds it there);
        whether it was added. Windows of the validation tokens, as many as the in-length evaluation's rows."""
        point = next((p for p in state.curve if p["step"] == step), None)
        if point is None or point.get("long_loss") is not None:
            return False
        config = phase_at(self.config, step - 1).config
        device = next(model.parameters()).device
        with torch.no_grad(), autocast(config.precision, device):
            loss, ratio = long_context_loss(model, [np.asarray(self.data.val_ids)], train_len=config.seq_len,
                                            factor=factor, windows=config.eval_batches,
                                            eot_id=self.data.tokenizer.eot_id)
        point.update(long_loss=loss, long_ratio=ratio)
        return True

    def load_model(self, candidate: Candidate) -> torch.nn.Module:
        """The candidate's model with its latest trained weights."""
        return self._restore(candidate)[0]

    def _restore(self, candidate: Candidate):
        data = self.data
        if candidate.model.vocab_size != data.vocab_size:
            raise UserError(
                f"candidate {candidate.id!r} has vocab_size={candidate.model.vocab_size} but the tokenizer has"
                f" {data.vocab_size}: size it with CorpusTrainer.fit_vocab(config)"
            )
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        if self.config.teacher is not None:
            self._check_teacher(candidate)
        keep_freed_memory()
        device = resolve_device(self.config.device)
        enable_fast_fp32(device)
        # Initialised on the CPU from the seed, so the starting weights are the same on every device.
        model = build_model(candidate.model, seed=candidate.seed).to(device)
        apply_kernels(model, self.config)
        optimizer = build_optimizer(model, self.config)
        state = TrainState()
        path = Path(candidate.workdir) / STATE_FILE
        if path.is_file():
            payload = load_checkpoint(path)
            # Stages added after the checkpoint was written start a new stage of the same trajectory.
            done = payload["state"].step
            payload["train_config"] = seen_by(payload["train_config"], done)
            check_compatible(payload, path, model_config=candidate.model.to_dict(),
                             train_config=seen_by(self.config.trajectory_dict(), done), data_record=data.record)
            # The payload is on the CPU; loading copies the weights and moves the optimizer's state
            # to the parameters' device, whichever device saved them.
            # loading them checks the tensors' names and shapes and the RNG states' form
            with restoring(path, "training checkpoint", "delete it to retrain from step 0"):
                model.load_state_dict(payload["model"])
                restore_optimizer(optimizer, payload["optimizer"])
                restore_rng(payload["rng"])
            state = payload["state"]
        return model, optimizer, state

    def teacher(self) -> torch.nn.Module | None:
        """config.teacher's model in eval mode on the run's device, loaded on first use; None without one."""
        if self.config.teacher is None:
            return None
        if self._teacher is None:
            from sonar.checkpoint import load_pretrained

            path = Path(self.config.teacher)
            if not path.is_dir():
                raise UserError(f"teacher={self.config.teacher!r}: no such checkpoint directory")
            teacher = load_pretrained(path).to(resolve_device(self.config.device)).eval()
            self._teacher = teacher.requires_grad_(False)
        return self._teacher

    def _check_teacher(self, candidate: Candidate) -> None:
        teacher_vocab = self.teacher().config.vocab_size
        if teacher_vocab != candidate.model.vocab_size:
            raise UserError(f"teacher={self.config.teacher!r} has vocab_size={teacher_vocab} but candidate "
                            f"{candidate.id!r} has {candidate.model.vocab_size}: distillation compares their "
                            "logits token by token, so the teacher must use the candidates' tokenizer")

    def _train(self, candidate, model, optimizer, state: TrainState, until_step: int) -> None:
        cfg, data = self.config, self.data
        teacher = self.teacher()
        stage_data = {}  # stage index -> (batches, validation rows), in that stage's shape and data order
        load = ExpertLoad(state.expert_counts)
        moe = has_moe(model)
        device = next(model.parameters()).device
        start, seconds_before = time.perf_counter(), state.seconds
        with deterministic_kernels(device, cfg.deterministic):
            for step in range(state.step, until_step):
                phase = phase_at(cfg, step)
                if phase.index not in stage_data:
                    stage_data[phase.index] = _stage_data(data, phase.config)
                batches, val_rows = stage_data[phase.index]
                # A stage's batches and learning rate count from its own first step.
                inputs_BT, targets_BT = (to_device(t, device) for t in batches.batch(step - phase.start_step))
                loss, router_logits = train_step(model, optimizer, inputs_BT, targets_BT,
                                                 step=step - phase.start_step, config=phase.config,
                                                 teacher=teacher)
                if moe:
                    load.add(router_logits, model.config.num_experts_per_tok)
                state.step, state.tokens = step + 1, state.tokens + phase.config.tokens_per_step
                state.losses.append(loss)
                if state.step % cfg.eval_every == 0 or state.step == until_step:
                    val_loss = evaluate(model, val_rows, phase.config.batch_size, cfg.precision)
                    state.seconds = seconds_before + time.perf_counter() - start
                    self._add_point(state, val_loss)
                state.seconds = seconds_before + time.perf_counter() - start
                state.expert_counts = load.to_list()
                if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0 and state.step != until_step:
                    self._save(candidate, model, optimizer, state)
                if self.on_step is not None:
                    self.on_step(state, until_step)
        state.expert_counts = load.to_list()
        self._save(candidate, model, optimizer, state)

    def _add_point(self, state: TrainState, val_loss: float) -> None:
        # The train loss of a point is the mean over the last eval_every steps: a function of the
        # per-step losses only, so it does not depend on where earlier runs stopped.
        recent = state.losses[-self.config.eval_every:]
        point = {"step": state.step, "tokens": state.tokens, "train_loss": sum(recent) / len(recent),
                 "val_loss": val_loss, "seconds": state.seconds}
        state.curve = [p for p in state.curve if p["step"] != state.step] + [point]

    def _save(self, candidate: Candidate, model, optimizer, state: TrainState) -> None:
        workdir = Path(candidate.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(workdir / STATE_FILE, state=state, model=model, optimizer=optimizer,
                        model_config=candidate.model.to_dict(), train_config=self.config.trajectory_dict(),
                        data_record=self.data.record)
        write_atomic(workdir / RUN_RECORD, dumps_strict(self.run_record(candidate, state), indent=1).encode())

    def peak_flops(self, *, refresh: bool = False) -> float:
        """The measured matmul peak of the run's device, in the dtype its matmuls run in."""
        if self._peak_flops is None or refresh:
            device = resolve_device(self.config.device)
            self._peak_flops = device_peak(device, compute_dtype(self.config.precision, device),
                                           cache_dir=self.cache_dir, refresh=refresh)
        return self._peak_flops

    def run_record(self, candidate: Candidate, state: TrainState) -> dict:
        flops_per_token = train_flops_per_token(candidate.model, self.config.seq_len)
        achieved = state.tokens * flops_per_token / state.seconds if state.seconds > 0 else 0.0
        peak = self.peak_flops()
        if achieved > peak and not self._peak_refreshed:
            # The run itself beat the cached peak, so that peak was measured on a busier day (the cache keeps
            # the first measurement): measure once more, the cache keeping the higher value.
            self._peak_refreshed = True
            peak = self.peak_flops(refresh=True)
        return {
            "candidate": candidate.id, "seed": candidate.seed, "model": candidate.model.to_dict(),
            "train": self.config.to_dict(), "data": self.data.record,
            "cost": {"seconds": state.seconds, "tokens": state.tokens, "steps": state.step},
            "flops_per_token": flops_per_token, "achieved_flops_per_s": achieved,
            "matmul_peak_flops_per_s": peak, "mfu": achieved / peak if peak > 0 else 0.0,
            "expert_load": ExpertLoad(state.expert_counts).summary(),
            "curve": state.curve,
            "stage_boundaries": stage_boundaries(self.config),
        }


def stage_boundaries(config: TrainConfig) -> list[dict]:
    """Where each later stage starts, in steps and tokens, with its shape: the curve's stage marks."""
    return [{"step": s.start_step, "tokens": tokens_before(config, s.start_step), "seq_len": s.seq_len,
             "batch_size": s.batch_size} for s in config.stages]


def _stage_data(data: TokenizedCorpus, config: TrainConfig):
    batches = WindowBatches(data.train_ids, batch_size=config.batch_size, seq_len=config.seq_len,
                            seed=config.data_seed)
    val_rows = fixed_windows(data.val_ids, n_rows=config.eval_batches * config.batch_size, seq_len=config.seq_len)
    return batches, val_rows
