"""`sonar plan`: does a Llama 4 model fit these GPUs, in this weight format, at this context?"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from sonar.cli.app import app
from sonar.cli.flag_terms import typed_as, typed_flags
from sonar.errors import UserError
from sonar.plan.bisect import MAX_BATCH
from sonar.plan.calibration import all_checks, markdown_table
from sonar.plan.engine_plan import EnginePlan, plan_engine
from sonar.plan.engine_profile import ENGINES, EXACT, get_profile
from sonar.plan.fit import Plan, plan_deployment
from sonar.plan.formats import FORMATS, get_format
from sonar.plan.gpus import parse_gpu
from sonar.plan.memory import DEFAULT_PREFILL_TOKENS, kv_dtype_bytes
from sonar.plan.providers import Provider, binding_limit, get_provider
from sonar.plan.serving import DecodeRoofline, decode_roofline
from sonar.plan.source import load_model_spec
from sonar.plan.table import DEFAULT_GPU_COUNTS, context_table, render_context_table
from sonar.plan.units import format_bytes, format_count, format_per_token, parse_tokens

TABLE_MODELS = ("scout", "maverick")


@app.command()
def plan(
    ctx: typer.Context,
    model: str = typer.Option(None, help="preset (scout, maverick, debug, tiny, small) or a config.json path"),
    weights: str = typer.Option("bf16", help=f"weight format: {', '.join(FORMATS)}"),
    gpu: str = typer.Option("h100-80gb", help="h100-80gb, h200-141gb, a100-40gb, a100-80gb, or e.g. 96GB"),
    gpus: int = typer.Option(1, help="number of GPUs the model is split over"),
    context: str = typer.Option(None, help="tokens per sequence (131072, 128K, 10M); default the model's maximum"),
    batch: int = typer.Option(1, help="sequences held at once"),
    kv_dtype: str = typer.Option("bf16", "--kv-dtype", help="KV cache dtype: bf16 or fp8"),
    reserve_gb: float = typer.Option(None, "--reserve-gb", help="runtime reserve per GPU in GB (default 10%)"),
    prefill_tokens: int = typer.Option(DEFAULT_PREFILL_TOKENS, help="tokens per forward step (chunked prefill)"),
    text_only: bool = typer.Option(False, "--text-only", help="leave out the vision tower"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
    table: bool = typer.Option(False, "--table", help="max context for presets x formats x GPU counts"),
    gpu_counts: str = typer.Option(",".join(map(str, DEFAULT_GPU_COUNTS)), help="GPU counts for --table"),
    engine: str = typer.Option(EXACT, help=f"serving engine profile: {', '.join(ENGINES)}"),
    engine_version: str = typer.Option(None, "--engine-version", help="engine version (default: the newest profile)"),
    provider: str = typer.Option(None, help="hosted provider whose published context window also limits"),
    hbm_tbps: float = typer.Option(None, "--hbm-tbps", help="HBM bandwidth in TB/s for the decode roofline "
                                                           "(default: the named GPU's)"),
    calibration_table: bool = typer.Option(False, "--calibration-table",
                                           help="engine predictions vs published maxima, as markdown"),
) -> None:
    """Plan a Llama 4 deployment: weights by format, KV cache (chunk-aware), verdict, maximum context."""
    typed = typed_flags(ctx)  # a flag given with its default value is given all the same
    if calibration_table:
        # The calibration is a fixed table: a --model or --gpu given with it would be silently ignored.
        given = [flag for flag, value, default in (
            ("--model", model, None), ("--weights", weights, "bf16"), ("--gpu", gpu, "h100-80gb"), ("--gpus", gpus, 1),
            ("--context", context, None), ("--batch", batch, 1), ("--kv-dtype", kv_dtype, "bf16"),
            ("--reserve-gb", reserve_gb, None), ("--prefill-tokens", prefill_tokens, DEFAULT_PREFILL_TOKENS),
            ("--text-only", text_only, False), ("--json", as_json, False), ("--table", table, False),
            ("--gpu-counts", gpu_counts, ",".join(map(str, DEFAULT_GPU_COUNTS))), ("--engine", engine, EXACT),
            ("--engine-version", engine_version, None), ("--provider", provider, None), ("--hbm-tbps", hbm_tbps, None),
        ) if value != default or flag in typed]
        if given:
            raise UserError(f"--calibration-table prints a fixed table and takes no other options; "
                            f"drop {', '.join(given)}")
        typer.echo(markdown_table(all_checks()))
        return
    # each named in the settings' words ("unknown GPU 'nope'; ...", "unknown weight format ..."), not the flag's
    with typed_as("--gpu", gpu):
        gpu_type = parse_gpu(gpu)
    with typed_as("--weights", weights):
        get_format(weights)
    with typed_as("--kv-dtype", kv_dtype):
        kv_dtype_bytes(kv_dtype)
    if hbm_tbps is not None:
        gpu_type = _with_bandwidth(gpu_type, hbm_tbps)
    profile = None if engine == EXACT and engine_version is None else get_profile(engine, engine_version)
    if table:
        # The table covers every format at its own contexts, but a misspelt value is refused, not ignored
        # (--weights is checked above).
        if context is not None:
            parse_tokens(context)
        if provider is not None:
            get_provider(provider)
        # ... and a valid value the table has no place for is refused too: it would be silently ignored
        unused = [flag for flag, value, default in (
            ("--weights", weights, "bf16"), ("--gpus", gpus, 1), ("--context", context, None),
            ("--prefill-tokens", prefill_tokens, DEFAULT_PREFILL_TOKENS), ("--engine", engine, EXACT),
            ("--engine-version", engine_version, None), ("--provider", provider, None), ("--hbm-tbps", hbm_tbps, None),
        ) if value != default or flag in typed]
        if unused:
            raise UserError(f"--table lists every weight format at its maximum context over --gpu-counts; "
                            f"{', '.join(unused)} {'does' if len(unused) == 1 else 'do'} not apply to it: drop "
                            f"{'it' if len(unused) == 1 else 'them'}")
        _print_table(model, gpu_type, gpu_counts, batch, kv_dtype, reserve_gb, text_only, as_json)
        return
    if gpu_counts != ",".join(map(str, DEFAULT_GPU_COUNTS)) or "--gpu-counts" in typed:
        raise UserError(f"--gpu-counts {gpu_counts!r}: applies to --table only (one plan uses --gpus)")
    if model is None:
        raise UserError("--model is required (a preset such as scout, or a config.json path), or use --table")
    spec = load_model_spec(model)
    spec = spec.text_only() if text_only else spec
    result = plan_deployment(
        spec, weights=weights, gpu=gpu_type, gpus=gpus, batch=batch, kv_dtype=kv_dtype, reserve_gb=reserve_gb,
        context=None if context is None else parse_tokens(context), prefill_tokens=prefill_tokens,
    )
    chosen = get_provider(provider) if provider is not None else None
    window = chosen.window(spec.name) if chosen is not None else None
    served = None if profile is None else plan_engine(spec, result, profile, gpu=gpu_type)
    roofline = decode_roofline(spec.config, result.weight_bytes_by_component, context=result.context,
                               batch=result.batch, gpus=result.gpus, kv_dtype=result.kv_dtype,
                               hbm_bytes_per_s=gpu_type.hbm_bytes_per_s)
    limits = {"memory": result.max_context_by_memory, "engine": served.max_context_by_memory if served else None,
              "model": result.max_position_embeddings, "provider": window}
    binding, binding_tokens = binding_limit(limits)
    if as_json:
        typer.echo(json.dumps(_plan_json(result, served, roofline, chosen, limits, binding), indent=2))
    else:
        console = Console()
        _print_plan(result, console)
        if served is not None:
            _print_engine(served, console)
        _print_serving(result, served, roofline, console)
        _print_binding(limits, binding, binding_tokens, chosen, console)


MAX_HBM_TBPS = 10_000.0  # a thousand times any HBM yet made: beyond it a value is a typo (1e308 overflows to inf)


def _with_bandwidth(gpu_type, hbm_tbps: float):
    if not 0 < hbm_tbps <= MAX_HBM_TBPS:
        raise UserError(f"--hbm-tbps {hbm_tbps}: must be a positive number of TB/s, at most {MAX_HBM_TBPS:,.0f}")
    from dataclasses import replace

    return replace(gpu_type, hbm_bytes_per_s=hbm_tbps * 1e12)


def _plan_json(result: Plan, served: EnginePlan | None, roofline: DecodeRoofline, provider: Provider | None,
               limits: dict, binding: str) -> dict:
    """The exact plan's keys; under an engine, the verdict keys follow the engine and the exact ones
    move under "exact"."""
    data = result.to_dict()
    data["engine"] = EXACT
    if served is not None:
        verdict_keys = ("fits", "reason", "max_context", "max_context_by_memory", "max_batch_at_context", "per_gpu")
        data["exact"] = {key: data[key] for key in verdict_keys}
        data.update({key: getattr(served, key) for key in verdict_keys})
        data["engine"] = served.to_dict()
    data["serving"] = {"sequences_that_fit_at_context": data["max_batch_at_context"],
                       "decode_roofline": roofline.to_dict()}
    if provider is not None:
        data["provider"] = {"name": provider.name, "window": limits["provider"], "as_published": provider.as_of,
                            "certain": provider.certain, "where": provider.where}
    data["limits"] = limits
    data["binding_limit"] = binding
    return data


def _print_table(model, gpu_type, gpu_counts, batch, kv_dtype, reserve_gb, text_only, as_json) -> None:
    counts = _parse_counts(gpu_counts)
    names = TABLE_MODELS if model is None else (model,)
    specs = [load_model_spec(name) for name in names]
    specs = [s.text_only() for s in specs] if text_only else specs
    rows = context_table(specs, list(FORMATS), gpu=gpu_type, gpu_counts=counts, batch=batch,
                         kv_dtype=kv_dtype, reserve_gb=reserve_gb)
    if as_json:
        typer.echo(json.dumps([
            {"model": r.model, "weights": r.weights, "weight_bytes": r.weight_bytes,
             "max_context": {str(n): c for n, c in r.max_context.items()}} for r in rows
        ], indent=2))
    else:
        Console().print(render_context_table(rows, gpu_type, batch, kv_dtype))


def _parse_counts(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",")]
    # ASCII digits only: int() alone also reads '٣' (Arabic-Indic) and '1_0'
    counts = [int(part) for part in parts] if all(part.isascii() and part.isdigit() and len(part) <= len(str(MAX_BATCH))
                                                  for part in parts) else []
    if not counts or min(counts) < 1 or max(counts) > MAX_BATCH:
        raise UserError(f"--gpu-counts {text!r}: need comma-separated positive integers up to {MAX_BATCH:,},"
                        " e.g. 1,2,4,8")
    if len(set(counts)) < len(counts):  # the same column twice
        raise UserError(f"--gpu-counts {text!r}: a count is repeated; give each once")
    return counts


def _print_plan(p: Plan, console: Console) -> None:
    kv = p.kv_bytes_per_token
    # In the count's own unit: a debug or search-sized model read as "0.00B parameters" in billions
    console.print(f"[bold]{p.model}[/]: {format_count(p.params_total)} parameters, "
                  f"{format_count(p.params_active)} active per token; weights {p.weights}")

    weights = Table(title=f"weights ({p.weights})")
    weights.add_column("component")
    weights.add_column("parameters", justify="right")
    weights.add_column("bytes", justify="right")
    for name, count in p.params_by_component.items():
        weights.add_row(name, format_count(count), format_bytes(p.weight_bytes_by_component[name]))
    weights.add_row("[bold]total[/]", format_count(p.params_total), format_bytes(p.weight_bytes))
    console.print(weights)

    cache = Table(title=f"KV cache ({p.kv_dtype}), {p.context:,} tokens x batch {p.batch}")
    cache.add_column("layers")
    cache.add_column("per token", justify="right")
    cache.add_column("at this context", justify="right")
    cache.add_row(f"{kv['n_global_layers']} global", format_per_token(kv["global_layers"]),
                  format_bytes(p.kv_bytes_global_layers))
    if kv["n_chunked_layers"]:
        cache.add_row(f"{kv['n_chunked_layers']} chunked (<= {kv['chunk_size']:,} tokens)",
                      format_per_token(kv["chunked_layers_within_chunk"]), format_bytes(p.kv_bytes_chunked_layers))
    cache.add_row("[bold]chunk-aware total[/]", "", format_bytes(p.kv_bytes))
    cache.add_row("if chunking were ignored", format_per_token(kv["ignoring_chunking"]),
                  format_bytes(p.kv_bytes_ignoring_chunking))
    console.print(cache)

    memory = Table(title=f"per GPU ({p.gpu} x {p.gpus})")
    memory.add_column("use")
    memory.add_column("bytes", justify="right")
    for name, nbytes in p.per_gpu.items():
        memory.add_row(name, format_bytes(nbytes))
    console.print(memory)

    verdict = "[bold green]FITS[/]" if p.fits else "[bold red]DOES NOT FIT[/]"
    console.print(f"{verdict}: {p.reason}")
    console.print(f"max context for batch {p.batch}: {p.max_context:,} tokens"
                  f" ({p.max_context_ignoring_chunking:,} if chunking were ignored;"
                  f" model limit {p.max_position_embeddings:,})")


def _print_engine(e: EnginePlan, console: Console) -> None:
    console.print(f"[bold]engine {e.engine} {e.version}[/]: {e.summary}")
    budget = Table(title="per GPU under the engine")
    budget.add_column("use")
    budget.add_column("bytes", justify="right")
    for name, nbytes in e.per_gpu.items():
        budget.add_row(name, format_bytes(max(nbytes, 0)) if nbytes >= 0 else f"-{format_bytes(-nbytes)}")
    console.print(budget)
    table = Table(title="assumptions (bit: changed the answer)")
    for column in ("assumption", "bit", "per GPU", "tokens lost", "note"):
        table.add_column(column)
    for a in e.assumptions:
        table.add_row(a.name, "yes" if a.bit else "", "" if a.bytes_per_gpu is None else format_bytes(a.bytes_per_gpu),
                      "" if a.tokens_lost is None else f"{a.tokens_lost:,}", a.note)
    console.print(table)
    verdict = "[bold green]FITS[/]" if e.fits else "[bold red]DOES NOT FIT[/]"
    console.print(f"{verdict} under {e.engine} {e.version}: {e.reason}")
    console.print(f"max context under the engine: {e.max_context:,} tokens")


def _print_serving(p: Plan, e: EnginePlan | None, r: DecodeRoofline, console: Console) -> None:
    sequences = (e or p).max_batch_at_context
    console.print(f"sequences of {p.context:,} tokens that fit at once: {sequences:,}")
    if r.tokens_per_s_per_gpu is None:
        console.print("decode roofline: no HBM bandwidth for this GPU (give --hbm-tbps)")
        return
    touched = ("" if r.experts_touched_per_moe_layer is None
               else f", {r.experts_touched_per_moe_layer:.1f} experts touched per MoE layer")
    console.print(f"decode roofline at batch {r.batch}: <= {r.tokens_per_s_per_gpu:,.0f} tokens/s per GPU "
                  f"(<= {r.tokens_per_s_per_sequence:,.0f} per sequence){touched}")
    console.print(f"  {r.note}")


def _print_binding(limits: dict, binding: str, tokens: int | None, provider: Provider | None,
                   console: Console) -> None:
    shown = ", ".join(f"{name} {'unbounded' if value is None else f'{value:,}'}"
                      for name, value in limits.items() if value is not None or name == "memory")
    console.print(f"binding limit: [bold]{binding}[/] ({'unbounded' if tokens is None else f'{tokens:,}'} tokens;"
                  f" {shown})")
    if provider is not None:
        certainty = "" if provider.certain else ", recalled with less certainty"
        console.print(f"  {provider.name}'s window as published in {provider.as_of}{certainty}; check {provider.where}")
