"""Choosing the RL learning rate and the DPO settings on the validation split only.

Per seed, SFT runs once; RL runs from that SFT model at every candidate rate, and the rate with the best
mean validation accuracy over seeds wins (the first listed on a tie, so list the most cautious first). DPO
then runs from each seed's RL model at that rate, once per candidate (overrides of the DPO config, as
"steps=10,lr=5e-5"; "" is the config as it stands), chosen the same way. The pairs are sampled once per
seed and pair source and shared by the candidates that differ only in training. The test split is never
read, so the pipeline's test numbers stay an honest measure of settings chosen this way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.posttrain.evaluate import evaluate_tasks
from sonar.posttrain.pipeline import PipelineConfig, dpo_pairs, dpo_stage, sft_stage
from sonar.posttrain.rl import run_rl
from sonar.posttrain.settings import with_overrides

# Overrides of the DPO config, lightest first, so a tie goes to the smallest change to the RL model.
DPO_CANDIDATES = ("steps=5,lr=5e-5", "steps=10,lr=5e-5", "steps=10", "steps=10,beta=0.5",
                  "steps=10,pair_prompts=greedy_wrong", "steps=10,length_normalize=true,beta=1",
                  "steps=40,beta=0.5", "steps=40,pair_prompts=greedy_wrong", "steps=40,length_normalize=true,beta=1",
                  "steps=40")


@dataclass(kw_only=True, frozen=True)
class TuningConfig:
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    rl_lrs: tuple[float, ...] = (5e-5, 2e-4, 1e-3)
    dpo_candidates: tuple[str, ...] = DPO_CANDIDATES

    def __post_init__(self) -> None:
        check_types(self, skip=("rl_lrs",))  # each rate is checked by RL's own rule below, finiteness included
        if not isinstance(self.rl_lrs, tuple | list) or any(
                isinstance(lr, bool) or not isinstance(lr, int | float) for lr in self.rl_lrs):
            raise UserError(f"rl_lrs={self.rl_lrs!r}: must be a list of numbers")
        if not self.rl_lrs or any(not lr > 0 for lr in self.rl_lrs):
            raise UserError(f"rl_lrs={list(self.rl_lrs)}: name one or more rates, each > 0")
        for lr in self.rl_lrs:  # RL's own rule (finite, at most MAX_LR), before hours of SFT
            try:
                replace(self.pipeline.rl, lr=lr)
            except UserError as err:
                raise UserError(f"rl_lrs={list(self.rl_lrs)}: {err}") from None
        if not self.dpo_candidates:
            raise UserError("dpo_candidates=[]: name one or more DPO settings ('' is the config as it stands)")
        for candidate in self.dpo_candidates:
            with_overrides(self.pipeline.dpo, candidate)  # a bad candidate fails before hours of training
        # Scores are kept per value: a value named twice would be trained twice into one score list.
        for name, values in (("rl_lrs", self.rl_lrs), ("dpo_candidates", self.dpo_candidates)):
            repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
            if repeated:
                raise UserError(f"{name}={list(values)}: {repeated} named more than once")


def _best(scores: dict) -> object:
    # Rounded, so equal counts of right answers tie whatever the float sums' order; max keeps the first of a tie.
    means = {value: round(sum(s) / len(s), 9) for value, s in scores.items()}
    return max(means, key=means.__getitem__)


def tune(make_model: Callable[[int], torch.nn.Module], config: TuningConfig, seeds: list[int], out: Path, *,
         log: Callable[[str], None] = print) -> dict:
    """Returns {"rl_lr", "dpo" (the chosen candidate), "validation": {"rl": {lr: [acc per seed]},
    "dpo": {candidate: [acc per seed]}}}."""
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
    dpo_scores: dict[str, list[float]] = {c: [] for c in config.dpo_candidates}
    for seed in seeds:
        pipeline = replace(config.pipeline, seed=seed).seeded()
        model = make_model(seed)
        weights, final_level = rl_models[seed, rl_lr]
        pairs: dict[tuple, list] = {}
        for candidate in config.dpo_candidates:
            model.load_state_dict(weights)
            settings = replace(pipeline, dpo=with_overrides(pipeline.dpo, candidate))
            source = (settings.dpo.pair_prompts, settings.dpo.group_size, settings.dpo.temperature)
            if source not in pairs:  # sampled from the RL weights just loaded
                pairs[source] = dpo_pairs(model, settings, final_level)
            record = dpo_stage(model, settings, final_level, pairs=pairs[source])
            accuracy = evaluate_tasks(model, validation)["overall"]
            dpo_scores[candidate].append(accuracy)
            log(f"seed {seed}: DPO {candidate or 'as configured'} ({record['pairs']} pairs, RL lr {rl_lr:g}): "
                f"validation accuracy {accuracy:.3f}")
    return {"rl_lr": rl_lr, "dpo": _best(dpo_scores), "seeds": seeds,
            "validation": {"rl": {f"{k:g}": v for k, v in rl_scores.items()}, "dpo": dpo_scores}}
