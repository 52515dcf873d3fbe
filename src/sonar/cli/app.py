"""The shared typer application that every command module adds itself to, and how it ends: a user's
mistake (bad input, a bad flag, a full or read-only disk) is one line `error: ...` on stderr and exit
code 2; Ctrl-C (SIGINT) or SIGTERM is one line and exit 128 + the signal, after the command's cleanup
(staging copies, temp files) has run; anything else is a bug and keeps its traceback (exit 1)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys

import typer
from typer._click import core as click_core  # typer (pinned) carries its own copy of click
from typer._click import exceptions as click_errors
from typer.core import TyperGroup, TyperOption

from sonar.errors import UserError

USER_ERROR_EXIT = 2
# Failures of the user's disk or permissions, not of sonar: reported like bad input, naming the file.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
# A path the user typed that no file system can hold (a name past 255 bytes, say): bad input, whichever flag it came in.
PATH_ERRNOS = frozenset({errno.ENAMETOOLONG})
SHOWN_PATH_CHARS = 80  # a long path is shown by its start and length, not all of it
_SIGNAL_NAMES = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}


class Interrupted(BaseException):  # noqa: N818  not an Exception: no `except Exception` in a command swallows it
    """A signal that ends the command; unlike KeyboardInterrupt it passes typer, which exits 130 silently on that."""

    def __init__(self, signum: int) -> None:
        super().__init__(_SIGNAL_NAMES.get(signum, f"stopped by signal {signum}"))
        self.signum = signum


def _raise_interrupted(signum, frame) -> None:
    raise Interrupted(signum)


_ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _signals_unwind_the_command():
    """Ctrl-C and SIGTERM raise `Interrupted`, so the command unwinds and its `finally` blocks remove staging
    copies and temp files. SIGTERM's default handler ended the process on the spot, leaving them in the
    user's directory. SIGINT's default raised KeyboardInterrupt, which libraries in C or Rust may see and
    handle their own way; `Interrupted` is sonar's own."""
    try:
        previous = {signum: signal.signal(signum, _raise_interrupted) for signum in _ENDING_SIGNALS}
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _end_on_signal(signum: int) -> None:
    """Once the command has unwound and said so, another signal while the interpreter shuts down ends it at
    once, with the same code: a second Ctrl-C must not hang the exit, nor turn exit 130 into a kill."""
    code = 128 + signum
    sys.stderr.flush()

    def exit_at_once(_signum, _frame) -> None:
        os._exit(code)

    with contextlib.suppress(ValueError):  # not the main thread
        for ending in _ENDING_SIGNALS:
            signal.signal(ending, exit_at_once)
    sys.exit(code)


def error_line(message: str) -> str:
    """`error: MESSAGE` on one line: later lines of a message (a diff, a list) are joined with ' | '."""
    parts = [line.strip() for line in str(message).splitlines() if line.strip()]
    return "error: " + (" | ".join(parts) or "(no message)")


def _os_error_message(err: OSError) -> str:
    where = f"{_shown_path(err.filename)}: " if err.filename is not None else ""
    return f"{where}{err.strerror or err}"


def _shown_path(path: object) -> str:
    text = str(path)
    if len(text) <= SHOWN_PATH_CHARS:
        return text
    return f"{text[:SHOWN_PATH_CHARS]!r}... ({len(text):,} characters)"


def _usage_message(err: click_errors.ClickException) -> str:
    ctx = getattr(err, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"{err.format_message()}{hint}"


class SonarGroup(TyperGroup):
    """The root command: runs typer's parser and the command, then turns every expected failure into one
    line. Callers asking for `standalone_mode=False` get the exceptions themselves, as click promises."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        _check_utf8(sys.argv[1:] if args is None else args)
        _check_options_given_once(self, sys.argv[1:] if args is None else args)
        try:
            with _signals_unwind_the_command():
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Interrupted as err:
            typer.echo(error_line(f"{err}; what the command had saved is kept: run it again (with --resume where"
                                  " it has one) to continue"), err=True)
            _end_on_signal(err.signum)
        except click_errors.NoArgsIsHelpError as err:  # `sonar` alone: the help, as usual
            err.show()
            sys.exit(err.exit_code)
        except click_errors.ClickException as err:  # bad flag, missing argument, value of the wrong type
            _fail(_usage_message(err), USER_ERROR_EXIT if isinstance(err, click_errors.UsageError) else err.exit_code)
        except typer.Abort:
            _fail("aborted", 1)
        except UserError as err:
            _fail(str(err), USER_ERROR_EXIT)
        except OSError as err:
            if err.errno not in ENVIRONMENT_ERRNOS | PATH_ERRNOS:
                raise
            _fail(_os_error_message(err), USER_ERROR_EXIT)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted(signal.SIGINT) from None


def _check_utf8(args) -> None:
    """Every argument UTF-8 text. Python reads a byte that is not UTF-8 (a Latin-1 file name) as a lone surrogate,
    which no file sonar writes, no print and no tokenizer can encode: the command failed with a UnicodeEncodeError
    traceback once it had made its output directory, or, for a prompt, after its whole search."""
    for arg in args:
        if not isinstance(arg, str):
            continue
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as err:
            char = ord(arg[err.start])
            what = f"byte 0x{char - 0xDC00:02x}" if 0xDC80 <= char <= 0xDCFF else f"lone surrogate U+{char:04X}"
            _fail(f"argument {arg!r}: not UTF-8 text ({what} at character {err.start}); sonar records every path "
                  "and value it is given as UTF-8: rename the file or pass the text as UTF-8", USER_ERROR_EXIT)


def _check_options_given_once(root: click_core.Command, args) -> None:
    """Each option of the command given at most once. The parser keeps the last of `--out a --out b` without a
    word, so the command wrote to b while the user may have read the line as writing to a; `--live --no-live`
    ran the last of two contradictory choices. Read with the command's own parser before anything runs (an
    argument list the parser refuses is left to the command's parse, which says why)."""
    command, rest, names = root, [str(arg) for arg in args], ["sonar"]
    try:
        while True:
            ctx = click_core.Context(command, resilient_parsing=True)
            _, leftover, order = command.make_parser(ctx).parse_args(list(rest))
            if not isinstance(command, TyperGroup):
                break
            sub = command.get_command(ctx, leftover[0]) if leftover else None
            if sub is None:
                return
            command, rest, names = sub, leftover[1:], [*names, leftover[0]]
    except (click_errors.ClickException, IndexError, TypeError, ValueError):
        return
    seen: set[str] = set()
    for param in order:
        if not isinstance(param, TyperOption) or param.multiple or getattr(param, "count", False):
            continue
        if param.name in seen:
            flag = "/".join(param.opts + param.secondary_opts)
            _fail(f"{flag} is given more than once: give it once (the command would keep the last and drop the others"
                  f" without a word; see `{' '.join(names)} --help`)", USER_ERROR_EXIT)
        seen.add(param.name)


def _fail(message: str, code: int) -> None:
    typer.echo(error_line(message), err=True)
    sys.exit(code)


app = typer.Typer(
    cls=SonarGroup,
    help="sonar: pick a Llama-4-style model and the way to run it, searched jointly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Keeps `sonar` a command group even while one command is registered."""
