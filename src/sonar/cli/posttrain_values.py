"""The values of `sonar posttrain`'s flags read into settings: lists of tasks, levels, seeds and rates, the
starting model, and the stages' configs built from `all`'s and `tune`'s flags, each refusal in the flags'
terms."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sonar.cli.flag_terms import about_path, as_typed_lists, typed_as
from sonar.cli.lists import ascii_number, refuse_unknown
from sonar.errors import UserError
from sonar.model.transformer import check_seed
from sonar.posttrain.dpo import DPOConfig
from sonar.posttrain.evaluate import EvalConfig
from sonar.posttrain.model_source import load_start as load_model_start
from sonar.posttrain.pipeline import PipelineConfig
from sonar.posttrain.rl import RLConfig
from sonar.posttrain.settings import MAX_STAGE_SEED, with_overrides
from sonar.posttrain.sft import SFTConfig
from sonar.posttrain.tasks import MAX_LEVEL, TASKS
from sonar.posttrain.tuning import TuningConfig

T = TypeVar("T")


def split_list(text: str, what: str) -> tuple[str, ...]:
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    if not items:
        raise UserError(f"--{what} {text!r}: name at least one")
    if len(set(items)) < len(items):  # a task or level trained on or reported twice, a seed run into one folder
        raise UserError(f"--{what} {text!r}: a value is repeated; give each once")
    return items


def task_list(text: str) -> tuple[str, ...]:
    """The built-in tasks named, each known: the tasks' own check printed "tasks=['chess']: ...", a keyword and a
    Python list."""
    items = split_list(text, "tasks")
    refuse_unknown(items, sorted(TASKS), "--tasks", text, what="task")
    return items


def level_list(text: str) -> tuple[int, ...]:
    items = split_list(text, "levels")  # outside the try: its UserError is a ValueError too
    try:
        levels = tuple(int(ascii_number(t)) for t in items)
    except ValueError:
        raise UserError(f"--levels {text!r}: comma-separated integers, e.g. 1,2") from None
    outside = [str(level) for level in levels if not 1 <= level <= MAX_LEVEL]
    if outside:  # else "levels=0: must be an integer in 1..5", the settings' keyword
        named = f"level {outside[0]} is" if len(outside) == 1 else f"levels {', '.join(outside)} are"
        raise UserError(f"--levels {text!r}: {named} not among the levels 1 to {MAX_LEVEL}")
    return levels


def load_start(start: str | None, *, preset_name: str | None = None, seed: int = 0, flag: str = "--from"):
    """The starting model, a refusal naming the flag that chose it: the loader's own opened with the
    checkpoint's path ("trained: no config.json ...") or the preset's words ("unknown preset 'nope'; ...")."""
    with typed_as("--preset", preset_name), about_path(flag, start):
        return load_model_start(start, preset_name=preset_name, seed=seed, flag=flag)


def parsed_seeds(text: str) -> list[int]:
    items = split_list(text, "seeds")
    try:
        seeds = [int(ascii_number(s)) for s in items]
    except ValueError:
        raise UserError(f"--seeds {text!r}: comma-separated integers") from None
    for seed in seeds:
        check_seed(seed, "--seeds ", most=MAX_STAGE_SEED)
    return seeds


def float_list(text: str, what: str) -> tuple[float, ...]:
    items = split_list(text, what)
    try:
        return tuple(float(ascii_number(t)) for t in items)
    except ValueError:
        raise UserError(f"--{what} {text!r}: comma-separated numbers") from None


def pipeline_config(sft_steps: int, rl_steps: int, dpo_steps: int, eval_per_cell: int, *, rl_lr: float = RLConfig.lr,
                     dpo_nll_weight: float = DPOConfig.nll_weight, dpo: str = "") -> PipelineConfig:
    return PipelineConfig(
        sft=flagged(lambda: SFTConfig(steps=sft_steps), {"steps": "--sft-steps"}),
        rl=flagged(lambda: RLConfig(steps=rl_steps, lr=rl_lr), {"steps": "--rl-steps", "lr": "--rl-lr"}),
        dpo=overridden(flagged(lambda: DPOConfig(steps=dpo_steps, nll_weight=dpo_nll_weight),
                                 {"steps": "--dpo-steps", "nll_weight": "--dpo-nll-weight"}), dpo, "--dpo"),
        evaluation=flagged(lambda: EvalConfig(levels=PipelineConfig().evaluation.levels, per_cell=eval_per_cell),
                            {"per_cell": "--eval-per-cell"}))


def overridden(config: T, settings: str, flag: str) -> T:
    """`config` with the 'name=value,...' of `flag`; an item that is no setting is refused naming the flag (it
    printed "'nope=1': expected name=value ..."), while a bad value keeps the setting's own name, as it was typed."""
    try:
        return with_overrides(config, settings)
    except UserError as err:
        if not str(err).startswith("'"):
            raise
        raise UserError(f"{flag} {err}") from None


def tuning_config(pipeline: PipelineConfig, rl_lrs: str, dpo_candidates: str) -> TuningConfig:
    """The candidates `tune` compares, refused in the flags' terms: the settings printed "rl_lrs=[nan]: ...",
    "dpo_candidates=['', '']: [''] named more than once", keywords and Python lists."""
    rates, candidates = float_list(rl_lrs, "rl-lrs"), tuple(c.strip() for c in dpo_candidates.split(";"))
    if any(not 0 < rate < float("inf") for rate in rates):
        raise UserError(f"--rl-lrs {rl_lrs!r}: each rate must be a finite number > 0")
    repeated = sorted({c for c in candidates if candidates.count(c) > 1})
    if repeated:
        shown = ", ".join(repr(c) if c else "'' (the DPO config as it stands)" for c in repeated)
        raise UserError(f"--dpo-candidates {dpo_candidates!r}: {shown} named more than once; name each candidate once")
    for candidate in candidates:
        overridden(pipeline.dpo, candidate, "--dpo-candidates")
    with as_typed_lists({"rl_lrs": ("--rl-lrs", rl_lrs)}):
        return TuningConfig(pipeline=pipeline, rl_lrs=rates, dpo_candidates=candidates)


def flagged(make: Callable[[], T], flags: dict[str, str]) -> T:
    """A stage's config built from `all`'s or `tune`'s flags, its error naming the flag given (--sft-steps 0): the
    stage's own field name (steps=0) is shared by three flags and said nothing of which one was wrong."""
    try:
        return make()
    except UserError as err:
        name, equals, rest = str(err).partition("=")
        if not equals or name not in flags:
            raise
        raise UserError(f"{flags[name]} {rest}") from None


def no_seed(flag: str, settings: str) -> None:
    """`all` and `tune` run every stage under each --seeds seed (PipelineConfig.seeded): a seed among the DPO
    settings was overwritten by it in `all` without a word, and in `tune` made one candidate differ by its
    data order rather than its training."""
    for item in filter(None, (part.strip() for part in settings.replace(";", ",").split(","))):
        if item.partition("=")[0].strip() == "seed":
            raise UserError(f"{flag} {item!r}: the DPO stage runs under each --seeds seed; set seeds with --seeds")
