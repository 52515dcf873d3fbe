"""`sonar posttrain sft|rl|dpo|distill|all|tune`: Llama-4-style post-training on the built-in verifiable tasks (or the
user's JSONL); and `sonar eval tasks CHECKPOINT`: exact-match accuracy per task and level."""

from __future__ import annotations

import time
from dataclasses import fields, replace
from pathlib import Path

import typer

from sonar.checkpoint import load_pretrained, save_pretrained
from sonar.cli.app import app
from sonar.cli.eval_group import eval_app
from sonar.cli.flag_terms import about_path, as_flags, same_named_flags
from sonar.cli.posttrain_values import (
    level_list,
    load_start,
    no_seed,
    overridden,
    parsed_seeds,
    pipeline_config,
    task_list,
    tuning_config,
)
from sonar.data.cache import write_atomic
from sonar.errors import UserError
from sonar.model.transformer import check_seed
from sonar.outdir import exclusive, writing
from sonar.posttrain.chat import check_chat_checkpoint
from sonar.posttrain.distill import DistillConfig, run_distill
from sonar.posttrain.dpo import DPOConfig, run_dpo, sampled_pairs, text_pairs
from sonar.posttrain.evaluate import EvalConfig, evaluate_tasks
from sonar.posttrain.pipeline import run_pipeline
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
from sonar.posttrain.settings import MAX_STAGE_SEED
from sonar.posttrain.sft import SFTConfig, run_sft
from sonar.posttrain.tasks import TASKS, mixed_examples
from sonar.posttrain.tuning import DPO_CANDIDATES, tune
from sonar.posttrain.user_data import read_pairs, read_preferences
from sonar.strict_json import dumps_strict
from sonar.train.runtime import use_threads

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


def given_once(context: typer.Context, settings_flag: str, settings: str, flags: dict[str, str]) -> None:
    """A setting named both by its own flag (given on the command line) and in `settings_flag`'s
    'name=value,...' is one error naming both, rather than one of them silently winning."""
    for item in filter(None, (part.strip() for part in settings.split(","))):
        name = item.partition("=")[0].strip()
        param = next((p for p, setting in flags.items() if setting == name), None)
        if param is None or not _given(context, param):
            continue
        raise UserError(f"{_flag(context, param)} {context.params[param]} and {settings_flag} {item!r} both set "
                        f"{name}; give it once")


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
    return mixed_examples(task_list(tasks), level_list(levels), per_cell, split="train", seed=seed)


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
        config = RLConfig(tasks=task_list(tasks), steps=steps, prompts_per_step=prompts_per_step,
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
    given_once(context, "--settings", settings, _DPO_FLAGS)
    if pairs is not None:
        _not_used(context, _BUILTIN_DATA, "with --pairs (the pairs are the file's)")
    # the flags' values alone first: a bad value given in --settings keeps its own name there
    with as_flags(same_named_flags("steps", "beta", "lr", "nll_weight", "seed")):
        config = DPOConfig(steps=steps, beta=beta, lr=lr, nll_weight=nll_weight, seed=seed)
    config = overridden(config, settings, "--settings")
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
    seed_list = parsed_seeds(seeds)
    no_seed("--dpo", dpo)
    given_once(context, "--dpo", dpo, {"dpo_steps": "steps", "dpo_nll_weight": "nll_weight"})
    config = pipeline_config(sft_steps, rl_steps, dpo_steps, eval_per_cell, rl_lr=rl_lr, dpo_nll_weight=dpo_nll_weight,
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
    no_seed("--dpo-candidates", dpo_candidates)
    config = tuning_config(pipeline_config(sft_steps, rl_steps, dpo_steps, eval_per_cell), rl_lrs, dpo_candidates)
    seed_list = parsed_seeds(seeds)
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
        config = EvalConfig(tasks=task_list(tasks), levels=level_list(levels), per_cell=per_cell, seed=seed)
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
