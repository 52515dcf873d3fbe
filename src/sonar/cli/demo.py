"""`sonar demo`: the main job on built-in defaults. Runs the default joint search (debug-size Llama 4
variants on the built-in corpus, tuned for this CPU), exports the winner, and generates text with it.
Rerunning it resumes the same search, so an interrupted demo loses nothing."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console

from sonar.checkpoint import load_pretrained
from sonar.cli.app import app
from sonar.cli.search import search
from sonar.data.tokenizer import BpeTokenizer
from sonar.errors import UserError
from sonar.model import generate
from sonar.search.export import export_best
from sonar.search.storage import DB_NAME

DEFAULT_SPEC = "default_search.yaml"
DEFAULT_RUN_DIR = Path("runs/demo")


def default_spec_path() -> Path:
    return Path(str(resources.files("sonar.search") / DEFAULT_SPEC))


def sample_text(model_dir: Path, prompt: str, new_tokens: int) -> str:
    model = load_pretrained(model_dir).eval()
    tokenizer = BpeTokenizer.load(model_dir / "tokenizer.json")
    prompt_ids = torch.tensor([tokenizer.encode_batch([prompt])[0]])
    tokens = generate(model, prompt_ids, max_new_tokens=new_tokens, temperature=0.8, top_k=50, seed=0,
                      stop_tokens=[tokenizer.eot_id])
    return tokenizer.decode(tokens[0].tolist())


MAX_NEW_TOKENS = 10_000  # a demo shows a paragraph; far more is a typo


def _demo_positions() -> int:
    """The positions every model the default search can pick reads: the least max_position_embeddings of the
    candidates it draws."""
    from sonar.search.space import sample_architectures
    from sonar.search.spec import load_spec

    spec = load_spec(default_spec_path())
    return min(c.max_position_embeddings for c in sample_architectures(spec.arch, seed=spec.seed,
                                                                       count=spec.budget.candidates))


def _check_fits_default_search(new_tokens: int, prompt: str) -> None:
    """The prompt's tokens and the new ones within the positions the winner reads: more were refused by `generate`
    only once the whole search had run."""
    most = _demo_positions()
    if new_tokens >= most:  # the prompt takes at least one position
        raise UserError(f"--new-tokens {new_tokens:,}: the demo's models read at most {most:,} positions, the prompt "
                        f"included; give at most {most - 1:,}")
    room = most - new_tokens
    fewest = fewest_tokens(prompt)
    if fewest > room:
        raise _prompt_too_long(prompt, f"at least {fewest:,}", new_tokens, most)
    if len(prompt.encode()) <= room:  # a byte-level token holds at least one byte: it fits, whatever the BPE
        return
    with Console().status("counting the prompt's tokens (the corpus is prepared now rather than by the search)"):
        count = len(demo_tokenizer().encode_batch([prompt])[0])
    if count > room:
        raise _prompt_too_long(prompt, f"{count:,}", new_tokens, most)


def fewest_tokens(prompt: str) -> int:
    """A count the prompt's tokens never fall below, known before the demo's BPE is trained: sonar's byte-level
    BPE (train_bpe in data/tokenizer.py) splits text into these pieces first and never merges across them, so
    each piece is at least one token."""
    from tokenizers import pre_tokenizers

    return len(pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(prompt))


def demo_tokenizer() -> BpeTokenizer:
    """The tokenizer the default search trains its candidates on, and the winner writes with: preparing it is
    the search's first step, taken here a little earlier; the search then finds it in the cache."""
    from sonar.data.dataset import prepare
    from sonar.search.backends import train_config
    from sonar.search.spec import load_spec

    data = prepare(train_config(load_spec(default_spec_path())).data)
    return BpeTokenizer.load(data.path / "tokenizer.json")


def _prompt_too_long(prompt: str, tokens: str, new_tokens: int, most: int) -> UserError:
    shown = repr(prompt) if len(prompt) <= 20 else f"{prompt[:20] + '…'!r} ({len(prompt):,} characters)"
    return UserError(f"--prompt {shown}: {tokens} tokens, and with --new-tokens {new_tokens:,} that is more than the"
                     f" {most:,} positions the demo's models read; give a shorter --prompt or fewer --new-tokens")


def _check_holds_the_demo(out: Path) -> None:
    """Another search in --out was resumed as if it were the demo's, and its winner exported into its own run
    directory, which `sonar export` refuses as mixing with the search's record."""
    from sonar.search.spec import load_spec
    from sonar.search.storage import Storage

    storage = Storage(out)
    try:
        name = storage.state().spec.name
    finally:
        storage.close()
    default = load_spec(default_spec_path()).name
    if name != default:
        raise UserError(f"--out {out}: holds the search {name!r}, not the demo's ({default}); resume it with"
                        f" `sonar search --resume {out}`, or give the demo another --out")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="run directory (resumed if it holds a search)")] = DEFAULT_RUN_DIR,
    prompt: str = typer.Option("ROMEO.\n", help="text for the winner to continue"),
    new_tokens: int = typer.Option(80, help="tokens to generate"),
) -> None:
    """Run the default joint search, export the winner, and let it write."""
    # checked before the search, which takes minutes
    # a typo such as 1e12 ran the whole search, then generated for ever
    if not 1 <= new_tokens <= MAX_NEW_TOKENS:
        raise UserError(f"--new-tokens {new_tokens}: must be between 1 and {MAX_NEW_TOKENS:,}")
    if not prompt:
        raise UserError("--prompt '': give some text for the winner to continue")
    resuming = (out / DB_NAME).exists()
    if resuming:
        _check_holds_the_demo(out)
    # on a resume too (the search is the default one): else refused by `generate` once the search had run
    _check_fits_default_search(new_tokens, prompt)
    console = Console()
    options = dict(executor=None, address=None, backend=None, workers=None, live=True)
    if resuming:
        console.print(f"resuming the search in {out}")
        search(config=None, out=None, resume=out, **options)
    else:
        search(config=default_spec_path(), out=out, resume=None, **options)
    # The winner folder lives in the demo's own run directory: a rerun replaces sonar's files there
    # and keeps anything else someone put beside them.
    exported, trained = export_best(out, out / "winner", overwrite=True)
    console.print(f"winner exported to {exported}: transformers checkpoint + system_config.json")
    if not trained or not (exported / "model" / "tokenizer.json").is_file():
        console.print("the winner has no trained weights and tokenizer: nothing to generate")
        return
    console.rule("the winner writes")
    console.print(sample_text(exported / "model", prompt, new_tokens), markup=False, highlight=False)
