"""The `sonar` command. Each subcommand lives in its own module and registers itself on `app`."""

from __future__ import annotations

from sonar.cli.app import app

# Importing a command module registers its commands.
from sonar.cli import demo  # noqa: E402,F401  isort: skip
from sonar.cli import plan  # noqa: E402,F401  isort: skip
from sonar.cli import search  # noqa: E402,F401  isort: skip
from sonar.cli import bench  # noqa: E402,F401  isort: skip
from sonar.cli import bench_tables  # noqa: E402,F401  isort: skip
from sonar.cli import bench_suite  # noqa: E402,F401  isort: skip
from sonar.cli import bench_oracle  # noqa: E402,F401  isort: skip
from sonar.cli import tune  # noqa: E402,F401  isort: skip
from sonar.cli import train  # noqa: E402,F401  isort: skip
from sonar.cli import posttrain  # noqa: E402,F401  isort: skip
from sonar.cli import eval_length  # noqa: E402,F401  isort: skip


def main() -> None:
    """The `sonar` entry point: the root group (cli/app.py) turns user errors into one line, exit 2."""
    app(prog_name="sonar")
