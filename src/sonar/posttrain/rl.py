"""Online RL, GRPO-style: per step, a group of sampled replies for each prompt, the verifier as reward,
group-relative advantages, only the prompts the policy sometimes solves kept, a KL penalty to the
frozen SFT reference, and a curriculum over difficulty. Resume is exact: sampling seeds and prompts are
pure functions of (seed, step), and the state holds everything else."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.posttrain.batching import IGNORE, collate, token_logprobs
from sonar.posttrain.chat import ChatExample, decode_response, prompt_ids
from sonar.posttrain.curriculum import Curriculum
from sonar.posttrain.grpo import group_advantages, grpo_loss, keep_prompt
from sonar.posttrain.model_source import frozen_copy
from sonar.posttrain.optim import build_adamw, warmup_step
from sonar.posttrain.replies import max_reply_tokens, sample_group
from sonar.posttrain.rl_state import RL_STATE_FILE, load_rl_state, save_rl_state
from sonar.posttrain.settings import (
    MAX_ROWS,
    MAX_WEIGHT,
    require_at_least_one,
    require_finite_non_negative,
    require_lr,
    require_seed,
    require_temperature,
    require_warmup,
)
from sonar.posttrain.tasks import Example, check_tasks, generate_examples, verify
from sonar.train.optimizer import weights_finite
from sonar.train.rng import restore_rng
from sonar.train.state import restoring

_POOL_PER_TASK = 400  # training prompts drawn per (task, level), sampled from at every step


@dataclass(kw_only=True, frozen=True)
class RLConfig:
    tasks: tuple[str, ...] = ("addition", "sort", "reverse", "count", "brackets")
    steps: int = 60
    prompts_per_step: int = 8
    group_size: int = 8
    temperature: float = 1.0
    # Chosen by `sonar posttrain tune` on the validation split (docs/posttrain.md): 5e-5 and 2e-4 scored alike,
    # 1e-3 lower (Adam turns a noisy policy gradient into full-size steps).
    lr: float = 5e-5
    warmup: int = 5
    kl_coef: float = 0.05
    start_level: int = 2
    max_level: int = 4
    curriculum_threshold: float = 0.5
    curriculum_window: int = 5
    save_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        check_types(self, finite=False)  # the require_* rules below name a non-finite value
        check_tasks(self.tasks)
        require_at_least_one(self, "steps", "save_every", "curriculum_window")
        require_at_least_one(self, "prompts_per_step", most=MAX_ROWS)
        require_seed(self)
        require_lr(self)
        require_warmup(self)
        if not 2 <= self.group_size <= MAX_ROWS:
            raise UserError(f"group_size={self.group_size}: must be between 2 and {MAX_ROWS:,}"
                            " (advantages are relative to the group)")
        require_temperature(self)  # > 0: RL samples its replies
        require_finite_non_negative(self, "kl_coef", most=MAX_WEIGHT)
        Curriculum(level=self.start_level, max_level=self.max_level, threshold=self.curriculum_threshold,
                   window=self.curriculum_window)  # validates those settings

    def trajectory(self) -> dict:
        """The settings a resumed run must share (steps may grow)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k != "steps"}


def _prompts(config: RLConfig, level: int, step: int, pools: dict) -> list[Example]:
    if level not in pools:
        pools[level] = [e for t in config.tasks
                        for e in generate_examples(t, level, _POOL_PER_TASK, split="train", seed=config.seed)]
    return random.Random(f"{config.seed}/rl/{step}").sample(pools[level], config.prompts_per_step)


def _step_seed(config: RLConfig, step: int, i: int) -> int:
    return (config.seed * 1_000_003 + step) * 1_009 + i


def rl_step(policy, reference, optimizer, config: RLConfig, *, step: int, level: int, pools: dict) -> dict:
    """One update; returns its curve point."""
    rows: list[ChatExample] = []
    advantages: list[torch.Tensor] = []
    rewards_all, kept = [], 0
    examples = _prompts(config, level, step, pools)
    for i, example in enumerate(examples):
        replies = sample_group(policy, example.prompt, size=config.group_size, temperature=config.temperature,
                               max_new_tokens=max_reply_tokens([example.answer]), seed=_step_seed(config, step, i))
        rewards_G = torch.tensor([float(verify(example, decode_response(r))) for r in replies])
        rewards_all.append(rewards_G)
        if not keep_prompt(rewards_G):
            continue
        kept += 1
        head = prompt_ids(example.prompt)
        rows.extend(ChatExample(ids=head + r, response_start=len(head)) for r in replies)
        advantages.append(group_advantages(rewards_G))
    rewards = torch.cat(rewards_all)
    point = {"step": step + 1, "level": level, "reward": float(rewards.mean()),
             "accuracy": float(rewards.mean()), "filtered_share": 1 - kept / len(examples), "kl": None,
             "loss": None}
    if rows:
        inputs_BT, targets_BT = collate(rows)
        mask_BT = targets_BT != IGNORE
        with torch.no_grad():
            ref_logp_BT = token_logprobs(reference, inputs_BT, targets_BT)
        logp_BT = token_logprobs(policy, inputs_BT, targets_BT)
        loss, kl = grpo_loss(logp_BT, logp_BT.detach(), ref_logp_BT, torch.cat(advantages), mask_BT,
                             kl_coef=config.kl_coef)
        warmup_step(optimizer, loss, policy, step=step, lr=config.lr, warmup=config.warmup)
        point.update(kl=float(kl), loss=float(loss.detach()))
    return point


def run_rl(policy, config: RLConfig, state_dir: Path, *, resume: bool = False,
           on_step=None) -> tuple[torch.nn.Module, list[dict]]:
    """Train `policy` (the SFT model; its copy is the reference) to config.steps; returns (policy, curve).
    With `resume`, continues from state_dir's state, whose settings must match."""
    state_path = Path(state_dir) / RL_STATE_FILE
    policy.train()
    curriculum = Curriculum(level=config.start_level, max_level=config.max_level,
                            threshold=config.curriculum_threshold, window=config.curriculum_window)
    if resume:
        if not state_path.is_file():
            raise UserError(f"{state_path}: no RL state to resume; run without --resume to start")
        saved = load_rl_state(state_path)
        if saved["settings"] != config.trajectory():
            changed = sorted(k for k, v in config.trajectory().items() if saved["settings"].get(k) != v)
            raise UserError(f"{state_path} was run with different settings (changed: {changed})")
        # loading them checks the tensors' names and shapes and the RNG states' form
        with restoring(state_path, "RL state", "delete it to start the run afresh"):
            policy.load_state_dict(saved["policy"])
            reference = frozen_copy(policy)
            reference.load_state_dict(saved["reference"])
            optimizer = build_adamw(policy, config.lr)
            optimizer.load_state_dict(saved["optimizer"])
            restore_rng(saved["rng"])
        if not (weights_finite(policy) and weights_finite(reference)):  # sampling failed on NaN probabilities
            raise UserError(f"{state_path}: its policy or reference weights hold NaN or infinite values; delete it to "
                            "start the run afresh")
        curriculum.level, curriculum.recent = saved["curriculum"]["level"], list(saved["curriculum"]["recent"])
        curve, step = list(saved["curve"]), saved["step"]
        if step > config.steps:  # as `sonar train --resume`: else the run's model was written again, unsaid
            raise UserError(f"--steps {config.steps}: this RL run has already trained {step:,} steps; pass --steps >= "
                            f"{step:,}")
    else:
        if state_path.exists():
            raise UserError(f"{state_path} exists: pass --resume to continue that run, or choose another --out")
        reference = frozen_copy(policy)
        optimizer = build_adamw(policy, config.lr)
        curve, step = [], 0
        torch.manual_seed(config.seed)
    pools: dict = {}

    def save() -> None:
        save_rl_state(state_path, step=step, policy=policy, optimizer=optimizer, reference=reference,
                      curriculum=curriculum.to_dict(), curve=curve, settings=config.trajectory())

    while step < config.steps:
        start = time.perf_counter()
        point = rl_step(policy, reference, optimizer, config, step=step, level=curriculum.level, pools=pools)
        curriculum.observe(point["accuracy"])
        point["seconds"] = time.perf_counter() - start
        curve.append(point)
        step += 1
        if on_step is not None:
            on_step(point)
        if step % config.save_every == 0 or step == config.steps:
            save()
    return policy, curve
