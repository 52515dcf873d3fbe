"""A package's public names, imported from their modules on first use (PEP 562).

A package `__init__` that imported every submodule it re-exports made `import sonar.bench.table` load
torch and the whole model, and made every module of the package part of the code a benchmark row depends
on (bench/code_digest.py). With lazy exports a package's `__init__` imports nothing: a name is imported from
its module when first read, then kept in the package as if imported eagerly.

Each package writes its exports as a literal `EXPORTS = {name: module, ...}` dict, which
`bench/code_digest.py` reads to follow `from package import name` to the module that defines it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The package's `__getattr__` and `__dir__` for `exports` (public name -> the module defining it)."""

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)  # later reads find it without this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
