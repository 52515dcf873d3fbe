"""`sonar demo`: the main job on built-in defaults. For now: train the tiny preset briefly on the
built-in corpus and print text it generates (`run_demo` is the one function to replace)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
import typer
from rich.console import Console

from sonar.cli.app import app
from sonar.data.dataset import prepare
from sonar.interfaces import Candidate
from sonar.model import generate, preset
from sonar.model.params import count_parameters
from sonar.train.presets import train_config_for
from sonar.train.runtime import idle_cores
from sonar.train.trainer import CorpusTrainer


def run_demo(console: Console, *, seconds: float, max_steps: int, prompt: str, new_tokens: int) -> str:
    """Train `tiny` for about `seconds` (at most max_steps updates), then sample a continuation."""
    config = train_config_for("tiny", steps=max_steps, threads=idle_cores(torch.get_num_threads()))
    with console.status("preparing the built-in corpus (cached after the first time)"):
        data = prepare(config.data)
    trainer = CorpusTrainer(config, data=data)
    model_config = trainer.fit_vocab(preset("tiny"))
    counts = count_parameters(model_config)
    console.print(f"[bold]tiny[/]: {counts.total / 1e6:.2f}M parameters, {counts.active / 1e6:.2f}M active per "
                  f"token; corpus {data.record['train_tokens']:,} training tokens")
    with tempfile.TemporaryDirectory(prefix="sonar-demo-") as workdir:
        candidate = Candidate(id="demo", model=model_config, workdir=Path(workdir), seed=0)
        start, step, curve = time.perf_counter(), 0, []
        # Resumable training in slices: stop at the first slice boundary past the time budget.
        while step < max_steps and time.perf_counter() - start < seconds:
            step = min(max_steps, step + config.eval_every)
            curve = trainer.run(candidate, step)
            console.print(f"step {step:4d}  train {curve[-1].train_loss:.3f}  val {curve[-1].val_loss:.3f}"
                          f"  ({time.perf_counter() - start:.0f} s)")
        model = trainer.load_model(candidate).eval()
    console.print(f"val loss {curve[-1].val_loss:.3f} nats/token (unigram entropy "
                  f"{data.record['unigram_entropy_nats']:.3f})")
    prompt_ids = torch.tensor([data.tokenizer.encode_batch([prompt])[0]])
    tokens = generate(model, prompt_ids, max_new_tokens=new_tokens, temperature=0.8, top_k=50, seed=0,
                      stop_tokens=[data.tokenizer.eot_id])
    return data.tokenizer.decode(tokens[0].tolist())


@app.command()
def demo(
    seconds: float = typer.Option(120.0, help="training time budget in seconds"),
    max_steps: int = typer.Option(150, help="at most this many training steps (the schedule's horizon)"),
    prompt: str = typer.Option("ROMEO.\n", help="text to continue"),
    new_tokens: int = typer.Option(120, help="tokens to generate"),
) -> None:
    """Train the tiny preset briefly on the built-in corpus, then generate text."""
    console = Console()
    text = run_demo(console, seconds=seconds, max_steps=max_steps, prompt=prompt, new_tokens=new_tokens)
    console.rule("generated")
    console.print(text, markup=False, highlight=False)
