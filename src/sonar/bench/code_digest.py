"""The code a replay method's results depend on, as one digest, so that a suite's work file can tell a row
computed by today's code from one computed before a change.

A method's *code* is the source of every sonar module its replays can run, found statically: the import
closure (every `import sonar...` and `from sonar... import ...`, and the packages above each module) of the
method's own module and of the benchmark's scoring path. A module's top-level imports are always followed,
as importing it runs them. Imports inside a function are followed only in the benchmark package, where the
replays run, and, for a method that runs the search engine, in the search package: elsewhere a deferred
import belongs to a function the replay does not call (the search spec parser's rule checks, say), and
following it would tie every peer to the search policy. A package's `__init__` imports nothing it exports
(sonar/lazy_exports.py), so `from package import name` is followed to the module its `EXPORTS` names for
`name`, and `import package` to every module it exports from. Not followed either:

- the method registries (`runner.default_methods` names every method to list them, and runs none); and
- `if TYPE_CHECKING:` blocks.

`tests/bench/test_code_digest.py` runs each method and checks that every sonar module it loaded is in its
closure.

The digest hashes those files' paths and syntax trees (comments, docstrings and layout left out: editing
them reruns nothing) with the versions of the libraries a replay draws numbers from. So a change to the
search policy reruns SONAR's rows and keeps the peers' (their closure holds no scheduler), while a change
to the replay or the scoring reruns every row.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from importlib import metadata
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # src/sonar
# The modules every method's rows pass through: the replay session, the recommendation and the scoring.
SCORING_MODULES = ("sonar.bench.suite", "sonar.bench.runner", "sonar.bench.replay", "sonar.bench.recommend",
                   "sonar.bench.regret", "sonar.bench.table")
# Functions that import every method only to list them (module, function): following them would make every
# method depend on every other.
REGISTRIES = frozenset({("sonar.bench.runner", "default_methods"), ("sonar.bench.suite", "available_methods"),
                        ("sonar.bench.suite", "method_named"), ("sonar.bench.suite", "check_tables")})
DEFERRED_FOLLOWED = ("sonar.bench.",)  # the packages whose imports inside functions are followed
# ... and, for a method that runs the search engine, the search package too: the engine's functions import
# the system space, the export and the tuner's parts when a replayed search calls them.
ENGINE = "sonar.search.engine"
ENGINE_DEFERRED_FOLLOWED = (*DEFERRED_FOLLOWED, "sonar.search.")
LIBRARIES = ("numpy", "optuna", "syne-tune")


def module_file(name: str) -> Path | None:
    """The source file of sonar module `name` (a package's __init__.py), or None where `name` is not one."""
    parts = name.split(".")
    if parts[0] != "sonar":
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_names(tree: ast.Module, module: str, deferred_followed: tuple[str, ...] = DEFERRED_FOLLOWED) -> set[str]:
    """The sonar modules `tree` imports, skipping registry functions and TYPE_CHECKING blocks, and imports
    inside functions outside the `deferred_followed` packages."""
    found: set[str] = set()

    follow_deferred = module.startswith(deferred_followed)

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                (module, node.name) in REGISTRIES or not follow_deferred):
            return
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:  # `import pkg`: any of its lazy exports may be read from it
                found.update({alias.name, *lazy_exports(alias.name).values()})
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}")  # `from pkg import module`
                found.update(exported_from(node.module, alias.name))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if module_file(name) is not None}


def lazy_exports(package: str) -> dict[str, str]:
    """A package's lazy exports (sonar/lazy_exports.py): the literal `EXPORTS = {name: module}` of its
    __init__.py, or {} where it has none."""
    path = module_file(package)
    if path is None or path.name != "__init__.py":
        return {}
    for node in _parsed(path.read_bytes()).body:
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["EXPORTS"]):
            return ast.literal_eval(node.value)
    return {}


def exported_from(package: str, name: str) -> set[str]:
    """The modules `from package import name` loads through lazy exports (an export of an export too)."""
    module = lazy_exports(package).get(name)
    if module is None:
        return set()
    return {module} | exported_from(module, name)


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def closure(roots: tuple[str, ...]) -> tuple[str, ...]:
    """Every sonar module reachable by import from `roots`, with the packages above each (sorted); where
    that reaches the search engine, the search package's imports inside functions are followed too."""
    reached = _reachable(roots, DEFERRED_FOLLOWED)
    return _reachable(roots, ENGINE_DEFERRED_FOLLOWED) if ENGINE in reached else reached


def _reachable(roots: tuple[str, ...], deferred_followed: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    todo = [parent for root in roots for parent in _with_parents(root)]
    while todo:
        name = todo.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        tree = _parsed(module_file(name).read_bytes())
        for imported in _imported_names(tree, name, deferred_followed):
            todo.extend(_with_parents(imported))
    return tuple(sorted(seen))


# Keyed on the source, so an edited file is parsed again; each module is read by every method's closure
# and digest, and a package's __init__ by every `from package import ...`.
@functools.lru_cache(maxsize=1024)
def _parsed(source: bytes) -> ast.Module:
    """The module's syntax tree; shared, so read-only."""
    return ast.parse(source)


def code_text(path: Path) -> str:
    """The module's code as its syntax tree, without comments, docstrings or layout: an edit to those
    changes no result, so it should rerun no row."""
    return _code_text(path.read_bytes())


@functools.lru_cache(maxsize=1024)
def _code_text(source: bytes) -> str:
    tree = ast.parse(source)  # its own tree: the docstrings are cut from it
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


@functools.lru_cache(maxsize=64)
def code_digest(method_module: str) -> str:
    """The sha256 of the code and library versions the rows of a method defined in `method_module` depend on."""
    digest = hashlib.sha256()
    for name in closure((method_module, *SCORING_MODULES)):
        path = module_file(name)
        digest.update(str(path.relative_to(PACKAGE_ROOT)).encode() + b"\0" + code_text(path).encode() + b"\0")
    for library in LIBRARIES:
        try:
            version = metadata.version(library)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{library}=={version}\0".encode())
    return digest.hexdigest()
