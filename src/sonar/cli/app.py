"""The shared typer application that every command module adds itself to."""

import typer

app = typer.Typer(
    help="sonar: pick a Llama-4-style model and the way to run it, searched jointly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Keeps `sonar` a command group even while one command is registered."""
