"""`sonar posttrain sft|rl|dpo|distill|all|tune`: Llama-4-style post-training on the built-in verifiable tasks (or the
user's JSONL); and `sonar eval tasks CHECKPOINT`: exact-match accuracy per task and level."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import TypeVar

import typer

from sonar.checkpoint import load_pretrained, save_pretrained
from sonar.cli.app import app
from sonar.cli.eval_group import eval_app
from sonar.cli.flag_terms import about_path, as_flags, as_typed_lists, same_named_flags, typed_as
from sonar.cli.lists import ascii_number, refuse_unknown
from sonar.data.cache import write_atomic
from sonar.errors import UserError
from sonar.model.transformer import check_seed
from sonar.outdir import exclusive, writing
from sonar.posttrain.chat import check_chat_checkpoint
from sonar.posttrain.distill import DistillConfig, run_distill
from sonar.posttrain.dpo import DPOConfig, run_dpo, sampled_pairs, text_pairs
from sonar.posttrain.evaluate import EvalConfig, evaluate_tasks
from sonar.posttrain.model_source import load_start as load_model_start
from sonar.posttrain.pipeline import PipelineConfig, run_pipeline
from sonar.posttrain.report_plot import summary_lines, write_accuracy_png
from sonar.posttrain.rl import RLConfig, run_rl
from sonar.posttrain.run_dir import (
    check_rl_resume,
    claim_out,
    forget_rl_start,
    mark_run,
    run_kind,
    start_rl_run,
)
from sonar.posttrain.settings import MAX_STAGE_SEED, with_overrides
from sonar.posttrain.sft import SFTConfig, run_sft
from sonar.posttrain.tasks import MAX_LEVEL, TASKS, mixed_examples
from sonar.posttrain.tuning import DPO_CANDIDATES, TuningConfig, tune
from sonar.posttrain.user_data import read_pairs, read_preferences
from sonar.strict_json import dumps_strict
from sonar.train.runtime import use_threads

T = TypeVar("T")

posttrain_app = typer.Typer(help="Post-train a model: SFT -> online RL -> DPO on verifiable tasks.",
                            no_args_is_help=True)
app.add_typer(posttrain_app, name="posttrain")

_ALL_TASKS = ",".join(TASKS)
_FROM = typer.Option(None, "--from", help="checkpoint directory to start from (HF format, chat-sized vocab)")
_PRESET = typer.Option(None, "--preset", help="start from a fresh preset instead (debug, tiny, small)")
_TASKS = typer.Option(_ALL_TASKS, help="comma-separated built-in tasks")
_SEED = typer.Option(0, help="seed of data order, sampling and a fresh model")
_THREADS = typer.Option(None, help="torch threads (default: the cores not already busy)")


def _overwrite(stage: str):
    return typer.Option(False, "--overwrite", help=f"replace the result an earlier `sonar posttrain {stage}` wrote"
                                                   " to --out (nothing else there is ever replaced)")


def _split(text: str, what: str) -> tuple[str, ...]:
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    if not items:
        raise UserError(f"--{what} {text!r}: name at least one")
    if len(set(items)) < len(items):  # a task or level trained on or reported twice, a seed run into one folder
        raise UserError(f"--{what} {text!r}: a value is repeated; give each once")
    return items


def _tasks(text: str) -> tuple[str, ...]:
    """The built-in tasks named, each known: the tasks' own check printed "tasks=['chess']: ...", a keyword and a
    Python list."""
    items = _split(text, "tasks")
    refuse_unknown(items, sorted(TASKS), "--tasks", text, what="task")
    return items


def _levels(text: str) -> tuple[int, ...]:
    items = _split(text, "levels")  # outside the try: its UserError is a ValueError too
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


def _seeds(text: str) -> list[int]:
    items = _split(text, "seeds")
    try:
        seeds = [int(ascii_number(s)) for s in items]
    except ValueError:
        raise UserError(f"--seeds {text!r}: comma-separated integers") from None
    for seed in seeds:
        check_seed(seed, "--seeds ", most=MAX_STAGE_SEED)
    return seeds


def _floats(text: str, what: str) -> tuple[float, ...]:
    items = _split(text, what)
    try:
        return tuple(float(ascii_number(t)) for t in items)
    except ValueError:
        raise UserError(f"--{what} {text!r}: comma-separated numbers") from None


def _pipeline_config(sft_steps: int, rl_steps: int, dpo_steps: int, eval_per_cell: int, *, rl_lr: float = RLConfig.lr,
                     dpo_nll_weight: float = DPOConfig.nll_weight, dpo: str = "") -> PipelineConfig:
    return PipelineConfig(
        sft=_flagged(lambda: SFTConfig(steps=sft_steps), {"steps": "--sft-steps"}),
        rl=_flagged(lambda: RLConfig(steps=rl_steps, lr=rl_lr), {"steps": "--rl-steps", "lr": "--rl-lr"}),
        dpo=_overridden(_flagged(lambda: DPOConfig(steps=dpo_steps, nll_weight=dpo_nll_weight),
                                 {"steps": "--dpo-steps", "nll_weight": "--dpo-nll-weight"}), dpo, "--dpo"),
        evaluation=_flagged(lambda: EvalConfig(levels=PipelineConfig().evaluation.levels, per_cell=eval_per_cell),
                            {"per_cell": "--eval-per-cell"}))


def _overridden(config: T, settings: str, flag: str) -> T:
    """`config` with the 'name=value,...' of `flag`; an item that is no setting is refused naming the flag (it
    printed "'nope=1': expected name=value ..."), while a bad value keeps the setting's own name, as it was typed."""
    try:
        return with_overrides(config, settings)
    except UserError as err:
        if not str(err).startswith("'"):
            raise
        raise UserError(f"{flag} {err}") from None


def _tuning_config(pipeline: PipelineConfig, rl_lrs: str, dpo_candidates: str) -> TuningConfig:
    """The candidates `tune` compares, refused in the flags' terms: the settings printed "rl_lrs=[nan]: ...",
    "dpo_candidates=['', '']: [''] named more than once", keywords and Python lists."""
    rates, candidates = _floats(rl_lrs, "rl-lrs"), tuple(c.strip() for c in dpo_candidates.split(";"))
    if any(not 0 < rate < float("inf") for rate in rates):
        raise UserError(f"--rl-lrs {rl_lrs!r}: each rate must be a finite number > 0")
    repeated = sorted({c for c in candidates if candidates.count(c) > 1})
    if repeated:
        shown = ", ".join(repr(c) if c else "'' (the DPO config as it stands)" for c in repeated)
        raise UserError(f"--dpo-candidates {dpo_candidates!r}: {shown} named more than once; name each candidate once")
    for candidate in candidates:
        _overridden(pipeline.dpo, candidate, "--dpo-candidates")
    with as_typed_lists({"rl_lrs": ("--rl-lrs", rl_lrs)}):
        return TuningConfig(pipeline=pipeline, rl_lrs=rates, dpo_candidates=candidates)


def _flagged(make: Callable[[], T], flags: dict[str, str]) -> T:
    """A stage's config built from `all`'s or `tune`'s flags, its error naming the flag given (--sft-steps 0): the
    stage's own field name (steps=0) is shared by three flags and said nothing of which one was wrong."""
    try:
        return make()
    except UserError as err:
        name, equals, rest = str(err).partition("=")
        if not equals or name not in flags:
            raise
        raise UserError(f"{flags[name]} {rest}") from None


def _given_once(context: typer.Context, settings_flag: str, settings: str, flags: dict[str, str]) -> None:
    """A setting named both by its own flag (given on the command line) and in `settings_flag`'s
    'name=value,...' is one error naming both, rather than one of them silently winning."""
    for item in filter(None, (part.strip() for part in settings.split(","))):
        name = item.partition("=")[0].strip()
        param = next((p for p, setting in flags.items() if setting == name), None)
        if param is None or not _given(context, param):
            continue
        raise UserError(f"{_flag(context, param)} {context.params[param]} and {settings_flag} {item!r} both set "
                        f"{name}; give it once")


def _no_seed(flag: str, settings: str) -> None:
    """`all` and `tune` run every stage under each --seeds seed (PipelineConfig.seeded): a seed among the DPO
    settings was overwritten by it in `all` without a word, and in `tune` made one candidate differ by its
    data order rather than its training."""
    for item in filter(None, (part.strip() for part in settings.replace(";", ",").split(","))):
        if item.partition("=")[0].strip() == "seed":
            raise UserError(f"{flag} {item!r}: the DPO stage runs under each --seeds seed; set seeds with --seeds")


_DPO_FLAGS = {f.name: f.name for f in fields(DPOConfig)}  # dpo's own flags carry the settings' names


def _given(context: typer.Context, param: str) -> bool:
    """Whether the flag of `param` was given (on the command line or from the environment), not defaulted."""
    source = context.get_parameter_source(param)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _flag(context: typer.Context, param: str) -> str:
    option = next(o for o in context.command.params if o.name == param)
    return max(option.opts, key=len)


def _not_used(context: typer.Context, params: tuple[str, ...], because: str) -> None:
    """A flag given on the command line that this run would ignore (its value unread, so a typo in it
    would pass too) is an error naming it, rather than silently having no effect."""
    for param in params:
        if _given(context, param):
            raise UserError(f"{_flag(context, param)} {context.params[param]!r}: not used {because}; leave it out")


_BUILTIN_DATA = ("tasks", "levels", "per_cell")  # what the built-in examples are drawn from


def _prepare(out: str, threads: int | None, stage: str, *, inputs: dict[str, str | None] | None = None,
             resume: bool = False, overwrite: bool = False) -> Path:
    use_threads(threads)
    with about_path("--out", out):  # "--out" is named by most of its refusals, not by those of an --out ''
        return claim_out(out, stage, inputs=inputs, resume=resume, overwrite=overwrite)


def _publish(out_dir: Path, stage: str, model, record: dict) -> None:
    """OUT/model and OUT/<stage>.json, staged and renamed into place together, the directory marked as the stage's."""
    with writing(out_dir, kind=run_kind(stage)) as staging:
        save_pretrained(model, staging / "model")
        _write_json(staging / f"{stage}.json", record)


def _sft_data(data: str | None, tasks: str, levels: str, per_cell: int, seed: int) -> tuple[list[str], list[str]]:
    """(prompts, responses) from the user's JSONL, else from the built-in tasks' train split."""
    if data is not None:
        with about_path("--data", data):  # else "nope.jsonl: no such file", naming no flag
            pairs = read_pairs(data)
        return [p.prompt for p in pairs], [p.response for p in pairs]
    examples = _builtin_examples(tasks, levels, per_cell, seed)
    return [e.prompt for e in examples], [e.answer for e in examples]


def _builtin_examples(tasks: str, levels: str, per_cell: int, seed: int) -> list:
    # 0 drew no examples, and the stage then blamed the data ("needs at least one pair") or, for DPO, the policy's
    # samples ("all right or all wrong on every prompt"), after loading the model and sampling nothing
    if per_cell < 1:
        raise UserError(f"--per-cell {per_cell}: must be >= 1 (examples per task and level)")
    return mixed_examples(_tasks(tasks), _levels(levels), per_cell, split="train", seed=seed)


def _checkpoint(start: str | None, stage: str):
    if start is None:
        raise UserError(f"--from CHECKPOINT is required: {stage} starts from a trained model (e.g. the SFT output)")
    return load_start(start)


def _write_json(path: Path, record: dict) -> None:
    write_atomic(path, dumps_strict(record, indent=1).encode())


@posttrain_app.command("sft")
def sft_command(
    context: typer.Context,
    start: str = _FROM, preset_name: str = _PRESET, out: str = typer.Option("runs/posttrain/sft", help="output dir"),
    data: str = typer.Option(None, help="JSONL of {prompt, response} (default: the built-in tasks)"),
    tasks: str = _TASKS, levels: str = typer.Option("1,2", help="built-in task levels to train on"),
    per_cell: int = typer.Option(400, help="built-in examples per (task, level)"),
    steps: int = typer.Option(300), batch_size: int = typer.Option(32), lr: float = typer.Option(3e-3),
    prune: str = typer.Option("none", help="drop easy examples first: none, solved, loss"),
    prune_quantile: float = typer.Option(0.5, help="with --prune loss: drop examples below this loss quantile"),
    seed: int = _SEED, threads: int = _THREADS, overwrite: bool = _overwrite("sft"),
) -> None:
    """Supervised fine-tuning, loss on the reply tokens only; writes OUT/model and OUT/sft.json."""
    if data is not None:
        _not_used(context, _BUILTIN_DATA, "with --data (the examples are the file's)")
    if prune != "loss":
        _not_used(context, ("prune_quantile",), f"with --prune {prune} (it applies to --prune loss)")
    with as_flags(same_named_flags("steps", "batch_size", "lr", "prune", "prune_quantile", "seed")):
        config = SFTConfig(steps=steps, batch_size=batch_size, lr=lr, prune=prune, prune_quantile=prune_quantile,
                           seed=seed)
    prompts, responses = _sft_data(data, tasks, levels, per_cell, seed)
    out_dir = _prepare(out, threads, "sft", inputs={"--from": start}, overwrite=overwrite)
    model = load_start(start, preset_name=preset_name, seed=seed)
    record = run_sft(model, prompts, responses, config)
    _publish(out_dir, "sft", model, record)
    typer.echo(f"pruned {record['pruned_share']:.1%} of {record['examples']} examples ({prune}); "
               f"final loss {record['losses'][-1]:.3f}; {record['seconds']:.0f} s; wrote {out_dir / 'model'}")


@posttrain_app.command("rl")
def rl_command(
    start: str = _FROM, out: str = typer.Option("runs/posttrain/rl", help="output dir (holds the resumable state)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out to --steps"),
    tasks: str = _TASKS, steps: int = typer.Option(60), prompts_per_step: int = typer.Option(8),
    group_size: int = typer.Option(8), temperature: float = typer.Option(1.0), lr: float = typer.Option(RLConfig.lr),
    kl_coef: float = typer.Option(0.05), start_level: int = typer.Option(2), max_level: int = typer.Option(4),
    save_every: int = typer.Option(10), seed: int = _SEED, threads: int = _THREADS,
) -> None:
    """GRPO-style online RL from an SFT checkpoint (also the KL reference); writes OUT/model, OUT/curve.json."""
    with as_flags(same_named_flags("steps", "prompts_per_step", "group_size", "temperature", "lr", "kl_coef",
                                   "start_level", "max_level", "save_every", "seed")):
        config = RLConfig(tasks=_tasks(tasks), steps=steps, prompts_per_step=prompts_per_step,
                          group_size=group_size, temperature=temperature, lr=lr, kl_coef=kl_coef,
                          start_level=start_level, max_level=max_level, save_every=save_every, seed=seed)
    out_dir = _prepare(out, threads, "rl", inputs={"--from": start}, resume=resume)
    model = _checkpoint(start, "RL")

    def show(point: dict) -> None:
        kl = "-" if point["kl"] is None else f"{point['kl']:.4f}"
        typer.echo(f"step {point['step']}: level {point['level']} reward {point['reward']:.3f} "
                   f"filtered {point['filtered_share']:.0%} kl {kl}")

    # a second `posttrain rl` on this --out is refused, never interleaved with this one's state
    with exclusive(out_dir, "sonar posttrain rl run"):
        out_dir = claim_out(out, "rl", inputs={"--from": start}, resume=resume)  # again, now that it is ours
        if resume:
            check_rl_resume(out_dir, start)
            if (out_dir / "curve.json").exists() and not (out_dir / "curve.json").is_file():
                # else "cannot write (Is a directory at .curve.json.xxxx)" once every step had run
                raise UserError(f"{out_dir / 'curve.json'}: exists and is not a file, and the run writes its curve"
                                " there; move it away")
        else:
            start_rl_run(out_dir, start)
        try:
            model, curve = run_rl(model, config, out_dir / "state", resume=resume, on_step=show)
        except BaseException:
            if not resume:  # --out was empty: a run stopped before its first state leaves nothing behind
                forget_rl_start(out_dir)
            raise
        save_pretrained(model, out_dir / "model", overwrite=True)
        _write_json(out_dir / "curve.json", {"curve": curve})
        mark_run(out_dir, "rl")
    typer.echo(f"wrote {out_dir / 'model'} and {out_dir / 'curve.json'}")


@posttrain_app.command("dpo")
def dpo_command(
    context: typer.Context,
    start: str = _FROM, out: str = typer.Option("runs/posttrain/dpo", help="output dir"),
    pairs: str = typer.Option(None, help="JSONL of {prompt, chosen, rejected} (default: pairs from the policy's "
                                         "own samples, chosen and rejected by the verifier)"),
    tasks: str = _TASKS, levels: str = typer.Option("1,2,3,4", help="levels of the prompts pairs are sampled on"),
    per_cell: int = typer.Option(12, help="prompts per (task, level) sampled for pairs"),
    steps: int = typer.Option(DPOConfig.steps), beta: float = typer.Option(DPOConfig.beta),
    lr: float = typer.Option(DPOConfig.lr),
    nll_weight: float = typer.Option(DPOConfig.nll_weight, help="weight of the cross-entropy on the chosen reply"),
    settings: str = typer.Option("", help="more settings as 'name=value,...', e.g. "
                                          "'pair_prompts=greedy_wrong,length_normalize=true'"),
    seed: int = _SEED, threads: int = _THREADS, overwrite: bool = _overwrite("dpo"),
) -> None:
    """DPO against a frozen copy of the starting model; writes OUT/model and OUT/dpo.json."""
    _given_once(context, "--settings", settings, _DPO_FLAGS)
    if pairs is not None:
        _not_used(context, _BUILTIN_DATA, "with --pairs (the pairs are the file's)")
    # the flags' values alone first: a bad value given in --settings keeps its own name there
    with as_flags(same_named_flags("steps", "beta", "lr", "nll_weight", "seed")):
        config = DPOConfig(steps=steps, beta=beta, lr=lr, nll_weight=nll_weight, seed=seed)
    config = _overridden(config, settings, "--settings")
    with about_path("--pairs", pairs):  # else "nope.jsonl: no such file", naming no flag
        user_pairs = read_preferences(pairs) if pairs is not None else None
    # config.seed, which --settings 'seed=N' may set: --seed's default drew the prompts while N sampled the replies
    prompts = _builtin_examples(tasks, levels, per_cell, config.seed + 1) if user_pairs is None else []
    out_dir = _prepare(out, threads, "dpo", inputs={"--from": start}, overwrite=overwrite)
    model = _checkpoint(start, "DPO")
    built = text_pairs(user_pairs) if user_pairs is not None else sampled_pairs(model, prompts, config)
    record = run_dpo(model, built, config)
    _publish(out_dir, "dpo", model, record)
    typer.echo(f"{record['pairs']} pairs; final loss {record['losses'][-1]:.4f}; wrote {out_dir / 'model'}")


@posttrain_app.command("distill")
def distill_command(
    context: typer.Context,
    teacher: str = typer.Option(..., "--teacher", help="teacher checkpoint directory (same chat vocab)"),
    start: str = _FROM, preset_name: str = _PRESET,
    out: str = typer.Option("runs/posttrain/distill", help="output dir"),
    data: str = typer.Option(None, help="JSONL of {prompt, response} (default: the built-in tasks)"),
    tasks: str = _TASKS, levels: str = typer.Option("1,2"), per_cell: int = typer.Option(400),
    steps: int = typer.Option(300), temperature: float = typer.Option(2.0),
    ce_weight: float = typer.Option(0.5, help="weight of the cross-entropy on the reply; the KL gets the rest"),
    lr: float = typer.Option(3e-3), seed: int = _SEED, threads: int = _THREADS,
    overwrite: bool = _overwrite("distill"),
) -> None:
    """Train a student (usually smaller) on the teacher's logits; writes OUT/model and OUT/distill.json."""
    if data is not None:
        _not_used(context, _BUILTIN_DATA, "with --data (the examples are the file's)")
    with as_flags(same_named_flags("steps", "temperature", "ce_weight", "lr", "seed")):
        config = DistillConfig(steps=steps, temperature=temperature, ce_weight=ce_weight, lr=lr, seed=seed)
    prompts, responses = _sft_data(data, tasks, levels, per_cell, seed)
    out_dir = _prepare(out, threads, "distill", inputs={"--teacher": teacher, "--from": start}, overwrite=overwrite)
    teacher_model = load_start(teacher, flag="--teacher")
    student = load_start(start, preset_name=preset_name, seed=seed)
    record = run_distill(student, teacher_model, prompts, responses, config)
    _publish(out_dir, "distill", student, record)
    typer.echo(f"final loss {record['losses'][-1]:.3f}; {record['seconds']:.0f} s; wrote {out_dir / 'model'}")


@posttrain_app.command("all")
def all_command(
    context: typer.Context,
    start: str = _FROM, preset_name: str = _PRESET, out: str = typer.Option("runs/posttrain/all", help="output dir"),
    seeds: str = typer.Option("0", help="comma-separated seeds: one full pipeline per seed"),
    sft_steps: int = typer.Option(800), rl_steps: int = typer.Option(60),
    dpo_steps: int = typer.Option(DPOConfig.steps),
    rl_lr: float = typer.Option(RLConfig.lr, help="RL learning rate (see `sonar posttrain tune`)"),
    dpo_nll_weight: float = typer.Option(DPOConfig.nll_weight, help="DPO's cross-entropy weight (see tune)"),
    dpo: str = typer.Option("", help="more DPO settings as 'name=value,...', e.g. 'lr=5e-5,beta=0.5' (see tune)"),
    eval_per_cell: int = typer.Option(30, help="test prompts per (task, level)"),
    threads: int = _THREADS,
) -> None:
    """SFT -> RL -> DPO per seed; writes OUT/seed-S/<stage>/model, OUT/report.json, OUT/accuracy.png."""
    seed_list = _seeds(seeds)
    _no_seed("--dpo", dpo)
    _given_once(context, "--dpo", dpo, {"dpo_steps": "steps", "dpo_nll_weight": "nll_weight"})
    config = _pipeline_config(sft_steps, rl_steps, dpo_steps, eval_per_cell, rl_lr=rl_lr, dpo_nll_weight=dpo_nll_weight,
                              dpo=dpo)
    out_dir = _prepare(out, threads, "all", inputs={"--from": start})
    reports, start_time = [], time.perf_counter()
    for seed in seed_list:
        model = load_start(start, preset_name=preset_name, seed=seed)
        mark_run(out_dir, "all")  # once a model has loaded: a bad --from leaves no directory behind
        typer.echo(f"seed {seed}")
        seeded = replace(config, seed=seed)
        reports.append(run_pipeline(model, seeded, out_dir / f"seed-{seed}", log=typer.echo))
    summary = {"start": start or f"fresh {preset_name}", "seeds": seed_list,
               "seconds": time.perf_counter() - start_time, "reports": reports}
    _write_json(out_dir / "report.json", summary)
    write_accuracy_png(out_dir / "accuracy.png", reports, title=f"post-training from {summary['start']}")
    mark_run(out_dir, "all")
    for line in summary_lines(reports):
        typer.echo(line)
    typer.echo(f"{summary['seconds']:.0f} s; wrote {out_dir / 'report.json'} and {out_dir / 'accuracy.png'}")


@posttrain_app.command("tune")
def tune_command(
    start: str = _FROM, preset_name: str = _PRESET, out: str = typer.Option("runs/posttrain/tune", help="output dir"),
    seeds: str = typer.Option("0,1,2", help="comma-separated seeds; a candidate's score is its mean over them"),
    rl_lrs: str = typer.Option("5e-5,2e-4,1e-3", help="RL learning rates to compare"),
    dpo_candidates: str = typer.Option(";".join(DPO_CANDIDATES),
                                       help="DPO settings to compare, ';'-separated 'name=value,...' overrides "
                                            "(an empty one is the DPO config as it stands)"),
    sft_steps: int = typer.Option(800), rl_steps: int = typer.Option(60),
    dpo_steps: int = typer.Option(DPOConfig.steps),
    eval_per_cell: int = typer.Option(30, help="validation prompts per (task, level)"),
    threads: int = _THREADS,
) -> None:
    """Choose `all`'s RL rate and DPO settings on the validation split (never test); writes OUT/tune.json."""
    _no_seed("--dpo-candidates", dpo_candidates)
    config = _tuning_config(_pipeline_config(sft_steps, rl_steps, dpo_steps, eval_per_cell), rl_lrs, dpo_candidates)
    seed_list = _seeds(seeds)
    out_dir = _prepare(out, threads, "tune", inputs={"--from": start})
    start_time = time.perf_counter()

    def make_model(seed: int):
        model = load_start(start, preset_name=preset_name, seed=seed)
        mark_run(out_dir, "tune")  # once a model has loaded: a bad --from leaves no directory behind
        return model

    record = tune(make_model, config, seed_list, out_dir, log=typer.echo)
    record |= {"start": start or f"fresh {preset_name}", "seconds": time.perf_counter() - start_time}
    _write_json(out_dir / "tune.json", record)
    mark_run(out_dir, "tune")
    typer.echo(f"chosen on validation: --rl-lr {record['rl_lr']:g} --dpo '{record['dpo']}'; "
               f"{record['seconds']:.0f} s; wrote {out_dir / 'tune.json'}")


@eval_app.command("tasks")
def eval_tasks_command(
    checkpoint: str = typer.Argument(..., help="checkpoint directory (HF format, chat-sized vocab)"),
    tasks: str = _TASKS, levels: str = typer.Option("1,2,3,4"),
    per_cell: int = typer.Option(50, help="test prompts per (task, level)"),
    seed: int = typer.Option(0, help="seed of the test prompts"), as_json: bool = typer.Option(False, "--json"),
    threads: int = _THREADS,
) -> None:
    """Exact-match accuracy on the built-in tasks' test split, per task and level (greedy replies)."""
    check_seed(seed, "--seed ", most=MAX_STAGE_SEED)
    with as_flags(same_named_flags("per_cell")):
        config = EvalConfig(tasks=_tasks(tasks), levels=_levels(levels), per_cell=per_cell, seed=seed)
    if not checkpoint.strip():  # Path('') is the working directory, and load_pretrained named its `path=`
        raise UserError(f"CHECKPOINT {checkpoint!r}: name a checkpoint directory")
    if not Path(checkpoint).is_dir():
        raise UserError(f"{checkpoint}: no such checkpoint directory")
    use_threads(threads)
    model = load_pretrained(checkpoint)
    check_chat_checkpoint(checkpoint, model.config.vocab_size)
    result = evaluate_tasks(model, config)
    if as_json:
        typer.echo(dumps_strict(result, indent=1))
        return
    typer.echo(f"{'task':<10}" + "".join(f"  level {lv}" for lv in config.levels))
    for task in config.tasks:
        row = {c["level"]: c["accuracy"] for c in result["cells"] if c["task"] == task}
        typer.echo(f"{task:<10}" + "".join(f"  {row[lv]:7.1%}" for lv in config.levels))
    typer.echo(f"overall   {result['overall']:.1%} ({per_cell} prompts per cell)")
