"""Choosing the RL learning rate and the DPO cross-entropy weight on the validation split only.

Per seed, SFT runs once; RL runs from that SFT model at every candidate rate, and the rate with the best
mean validation accuracy over seeds wins (the first listed on a tie, so list the most cautious first). DPO
then runs from each seed's RL model at that rate, once per candidate weight, chosen the same way. The test
split is never read, so the pipeline's test numbers stay an honest measure of settings chosen this way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from sonar.errors import UserError
from sonar.posttrain.evaluate import evaluate_tasks
from sonar.posttrain.pipeline import PipelineConfig, dpo_stage, sft_stage
from sonar.posttrain.rl import run_rl


@dataclass(kw_only=True, frozen=True)
class TuningConfig:
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    rl_lrs: tuple[float, ...] = (5e-5, 2e-4, 1e-3)
    dpo_nll_weights: tuple[float, ...] = (0.0, 0.2, 1.0)

    def __post_init__(self) -> None:
        if not self.rl_lrs or any(not lr > 0 for lr in self.rl_lrs):
            raise UserError(f"rl_lrs={list(self.rl_lrs)}: name one or more rates, each > 0")
        if not self.dpo_nll_weights or any(w < 0 for w in self.dpo_nll_weights):
            raise UserError(f"dpo_nll_weights={list(self.dpo_nll_weights)}: name one or more weights, each >= 0")


def _best(scores: dict[float, list[float]]) -> float:
    # Rounded, so equal counts of right answers tie whatever the float sums' order; max keeps the first of a tie.
    means = {value: round(sum(s) / len(s), 9) for value, s in scores.items()}
    return max(means, key=means.__getitem__)


def tune(make_model: Callable[[int], torch.nn.Module], config: TuningConfig, seeds: list[int], out: Path, *,
         log: Callable[[str], None] = print) -> dict:
    """Returns {"rl_lr", "dpo_nll_weight", "validation": {"rl": {lr: [acc per seed]}, "dpo": {...}}}."""
    validation = replace(config.pipeline.evaluation, split="validation")
    rl_scores: dict[float, list[float]] = {lr: [] for lr in config.rl_lrs}
    rl_models: dict[tuple[int, float], tuple[dict, int]] = {}  # (seed, lr) -> (weights, final level)
    for seed in seeds:
        pipeline = replace(config.pipeline, seed=seed).seeded()
        model = make_model(seed)
        sft_stage(model, pipeline)
        sft_weights = copy.deepcopy(model.state_dict())
        for lr in config.rl_lrs:
            model.load_state_dict(sft_weights)
            model, curve = run_rl(model, replace(pipeline.rl, lr=lr), out / f"seed-{seed}" / f"rl-lr-{lr:g}",
                                  resume=False)
            accuracy = evaluate_tasks(model, validation)["overall"]
            rl_scores[lr].append(accuracy)
            rl_models[seed, lr] = copy.deepcopy(model.state_dict()), curve[-1]["level"]
            log(f"seed {seed}: RL lr {lr:g}: validation accuracy {accuracy:.3f}")
    rl_lr = _best(rl_scores)
    dpo_scores: dict[float, list[float]] = {w: [] for w in config.dpo_nll_weights}
    for seed in seeds:
        pipeline = replace(config.pipeline, seed=seed).seeded()
        model = make_model(seed)
        weights, final_level = rl_models[seed, rl_lr]
        for weight in config.dpo_nll_weights:
            model.load_state_dict(weights)
            dpo_stage(model, replace(pipeline, dpo=replace(pipeline.dpo, nll_weight=weight)), final_level)
            accuracy = evaluate_tasks(model, validation)["overall"]
            dpo_scores[weight].append(accuracy)
            log(f"seed {seed}: DPO nll weight {weight:g} (RL lr {rl_lr:g}): validation accuracy {accuracy:.3f}")
    return {"rl_lr": rl_lr, "dpo_nll_weight": _best(dpo_scores), "seeds": seeds,
            "validation": {"rl": {f"{k:g}": v for k, v in rl_scores.items()},
                           "dpo": {f"{k:g}": v for k, v in dpo_scores.items()}}}
