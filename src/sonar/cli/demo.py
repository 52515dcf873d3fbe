"""`sonar demo`: the main job on built-in defaults."""

from __future__ import annotations

import time

import torch
import typer
from rich.console import Console

from sonar.cli.app import app
from sonar.model import build_model, generate, preset
from sonar.model.params import count_parameters


@app.command()
def demo(
    preset_name: str = typer.Option("tiny", "--preset", help="model preset to build"),
    new_tokens: int = typer.Option(32, help="tokens to generate"),
) -> None:
    """Build a preset, report its size, and generate with the KV cache."""
    console = Console()
    config = preset(preset_name)
    counts = count_parameters(config)
    console.print(f"[bold]{preset_name}[/]: {counts.total / 1e6:.2f}M parameters, "
                  f"{counts.active / 1e6:.2f}M active per token")
    model = build_model(config, seed=0).eval()
    prompt = torch.arange(1, 17)[None] % config.vocab_size
    start = time.perf_counter()
    tokens = generate(model, prompt, max_new_tokens=new_tokens)
    seconds = time.perf_counter() - start
    console.print(f"generated {new_tokens} tokens in {seconds:.2f} s: {tokens[0, 16:].tolist()}")
