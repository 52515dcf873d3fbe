import typer

from sonar.cli.app import app

eval_app = typer.Typer(help="Evaluate a trained model.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
