"""The `sonar` command. Each subcommand lives in its own module and registers itself on `app`."""

from __future__ import annotations

import sys

from sonar.cli.app import app
from sonar.errors import UserError

# Importing a command module registers its commands.
from sonar.cli import demo  # noqa: E402,F401  isort: skip
from sonar.cli import plan  # noqa: E402,F401  isort: skip
from sonar.cli import search  # noqa: E402,F401  isort: skip
from sonar.cli import bench  # noqa: E402,F401  isort: skip
from sonar.cli import tune  # noqa: E402,F401  isort: skip
from sonar.cli import train  # noqa: E402,F401  isort: skip


def main() -> None:
    try:
        app()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
