"""The error type for bad user input: the CLI prints its message as one line, without a traceback."""


class UserError(ValueError):
    """Bad input from a user: a value, a file, a flag. The message names the value and the rule."""
