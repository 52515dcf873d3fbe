"""SFT -> RL -> DPO in one run, with the task accuracy measured before and after every stage."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from sonar.checkpoint import save_pretrained
from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.posttrain.dpo import DPOConfig, PairIds, run_dpo, sampled_pairs
from sonar.posttrain.evaluate import EvalConfig, evaluate_tasks
from sonar.posttrain.rl import RLConfig, run_rl
from sonar.posttrain.settings import require_at_least_one, require_seed
from sonar.posttrain.sft import SFTConfig, run_sft
from sonar.posttrain.tasks import check_level, mixed_examples

STAGES = ("base", "sft", "rl", "dpo")


@dataclass(kw_only=True, frozen=True)
class PipelineConfig:
    sft: SFTConfig = field(default_factory=SFTConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    dpo: DPOConfig = field(default_factory=DPOConfig)
    evaluation: EvalConfig = field(default_factory=lambda: EvalConfig(levels=(1, 2, 3, 4)))
    sft_levels: tuple[int, ...] = (1, 2)  # SFT sees the easy levels only; RL climbs beyond them
    sft_per_cell: int = 400
    dpo_per_cell: int = 12
    seed: int = 0

    def __post_init__(self) -> None:
        check_types(self)
        require_seed(self)
        require_at_least_one(self, "sft_per_cell", "dpo_per_cell")
        if not self.sft_levels:
            raise UserError("sft_levels=(): name one or more levels for SFT")
        for level in self.sft_levels:
            check_level(level, "sft_levels")

    def seeded(self) -> PipelineConfig:
        """Every stage under the pipeline's seed (the evaluation's test prompts stay fixed)."""
        s = self.seed
        return replace(self, sft=replace(self.sft, seed=s), rl=replace(self.rl, seed=s), dpo=replace(self.dpo, seed=s))


def sft_stage(model, config: PipelineConfig) -> dict:
    """SFT on the easy levels' train split; returns the record, the loss curve folded to its last value."""
    train = mixed_examples(config.rl.tasks, config.sft_levels, config.sft_per_cell, split="train", seed=config.seed)
    sft = run_sft(model, [e.prompt for e in train], [e.answer for e in train], config.sft)
    return {k: v for k, v in sft.items() if k != "losses"} | {"final_loss": sft["losses"][-1]}


def dpo_pairs(model, config: PipelineConfig, rl_final_level: int) -> list[PairIds]:
    """Pairs sampled from the model on train prompts of levels 1..(RL's final level)."""
    levels = tuple(range(1, rl_final_level + 1))
    prompts = mixed_examples(config.rl.tasks, levels, config.dpo_per_cell, split="train", seed=config.seed + 1)
    return sampled_pairs(model, prompts, config.dpo)


def dpo_stage(model, config: PipelineConfig, rl_final_level: int, *, pairs: list[PairIds] | None = None) -> dict:
    """DPO on `pairs`, by default those dpo_pairs samples from the model."""
    if pairs is None:
        pairs = dpo_pairs(model, config, rl_final_level)
    if not pairs:  # every sampled group all right or all wrong: nothing to prefer, the RL model stands
        return {"pairs": 0, "skipped": "no prompt gave both a right and a wrong sample"}
    dpo = run_dpo(model, pairs, config.dpo)
    return {"pairs": dpo["pairs"], "final_loss": dpo["losses"][-1], "seconds": dpo["seconds"]}


def run_pipeline(model, config: PipelineConfig, out: Path, *, log: Callable[[str], None] = print) -> dict:
    """Post-train `model` in place; every stage's model goes to out/<stage>/model. Returns the report."""
    config = config.seeded()
    report: dict = {"seed": config.seed, "stages": {}, "settings": asdict(config)}
    start = time.perf_counter()

    def measure(stage: str, record: dict) -> None:
        accuracy = evaluate_tasks(model, config.evaluation)
        report["stages"][stage] = {"accuracy": accuracy, **record}
        log(f"{stage}: accuracy {accuracy['overall']:.3f} by level {accuracy['by_level']}")

    measure("base", {})
    sft_record = sft_stage(model, config)
    save_pretrained(model, out / "sft" / "model", overwrite=True)
    measure("sft", sft_record)
    model, curve = run_rl(model, config.rl, out / "rl" / "state", resume=False)
    save_pretrained(model, out / "rl" / "model", overwrite=True)
    measure("rl", {"curve": curve, "final_level": curve[-1]["level"]})
    dpo_record = dpo_stage(model, config, curve[-1]["level"])
    save_pretrained(model, out / "dpo" / "model", overwrite=True)
    measure("dpo", dpo_record)
    report["seconds"] = time.perf_counter() - start
    return report
