"""Objects named by import path, for pluggable parts (trainers, tuners) given as strings."""

from __future__ import annotations

import importlib

from sonar.errors import UserError


def import_object(path: str, *, role: str, hint: str = "") -> object:
    """'package.module:Name' or 'package.module.Name' -> the object; a UserError says what is missing."""
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise UserError(f"{role} {path!r}: expected 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UserError(f"{role} {path!r} is not available here ({err}){hint}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise UserError(f"{role} {path!r}: {module_name} has no {attribute!r}") from None
