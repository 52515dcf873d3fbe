"""YAML in, with rules PyYAML lacks: a key written twice in one mapping is an error, since otherwise the
later value silently wins and the earlier line a user edited has no effect; aliases may not expand a
small file into a huge or endless document (a "billion laughs" file of nested `*refs`, or a node that
holds an alias to itself), which any later walk over it (a check, an error message, a copy) never ends;
a file of too many items is refused before PyYAML's pure-Python parser spends tens of seconds on it; and
a scalar PyYAML cannot turn into a value (`!!int 1.5`, a 5,000-digit integer, the date 2001-02-30) is a
YAMLError naming its key and line, where PyYAML lets a bare ValueError, KeyError or AttributeError out."""

from __future__ import annotations

import sys

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping repeats a key; `problem_mark` points at the repeat."""


class NestingError(yaml.YAMLError):
    """The document nests deeper than the loader's recursion allows (a corrupt or crafted file)."""

    problem = "nested too deeply"

    def __str__(self) -> str:
        return self.problem


class TooLargeError(yaml.YAMLError):
    """The document is too large: longer than MAX_CHARS, its aliases expand it past MAX_NODES values, or
    a node holds an alias to itself."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


# A spec or an architecture space is a page or two: a larger file is a mistake (a data file named by
# accident) that PyYAML's pure-Python scanner would read for minutes.
MAX_CHARS = 1 << 20
# Far more values than any spec or space holds (a 1 MiB file of short items: ~250,000), far fewer than a
# nested-alias file can expand to (9 levels of 9 references: 387 million).
MAX_NODES = 1_000_000
# Lines and commas: every item of a YAML file but the first of a flow collection needs one, so their count
# bounds the items PyYAML parses, at ~50 us each in pure Python (nesting without items, `[[[[`, is bounded by
# the recursion limit instead). A spec or a space is tens to hundreds of lines; a 1 MiB file of `1,` items
# would take PyYAML over 20 s, 50,000 items ~3 s.
MAX_ITEMS = 50_000


def _check_expansion(root: yaml.Node) -> None:
    """Raise TooLargeError if `root`, with every alias expanded, has more than MAX_NODES nodes or is endless.
    Each distinct node is sized once, so a bomb is refused in time linear in the file."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise TooLargeError(f"an alias at line {node.start_mark.line + 1} refers to a node that holds it "
                             "(an endless document)")
        open_nodes.add(key)
        children: list = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise TooLargeError(f"aliases expand the document to more than {MAX_NODES:,} values")
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root)


class BadValueError(yaml.constructor.ConstructorError):
    """A scalar PyYAML could not construct (an explicit tag it does not fit, an integer too long for
    Python's int(), an impossible date); `problem` names its key and the value."""


def _key_path(root: yaml.Node | None, target: yaml.Node) -> str:
    """Where `target` sits in the document: `budget.max_steps`, `arch.rules[0]`; '' at the root or if not found.
    Iterative and visiting each node once, so a document of shared aliases costs its size, not its expansion."""
    if root is None:
        return ""
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.SequenceNode):
            children = [(child, f"{path}[{i}]") for i, child in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                name = name if len(name) <= 80 and name.isprintable() else repr(name[:77] + "...")
                children += [(key, path), (value, f"{path}.{name}" if path else name)]
        stack.extend(reversed(children))  # popped in document order: an anchored value is named where it is written
    return ""


class _StrictLoader(yaml.SafeLoader):
    root: yaml.Node | None = None  # the composed document, for the key path of a value that fails

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, RecursionError, MemoryError):
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            # PyYAML's scalar constructors call int(), float(), datetime() and dict lookups unguarded: a bad
            # value escapes as a bare Python error (a traceback, with no line); say which value and where.
            raise BadValueError(None, None, _value_problem(node, _key_path(self.root, node)), node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, _ in node.value:  # before merging: a key may override one merged in by `<<:`
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    repeated = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: PyYAML's own error follows
                    break
                if repeated:
                    where = _key_path(self.root, node)
                    raise DuplicateKeyError(None, None, f"{where + ': ' if where else ''}key {key!r} appears "
                                            "twice in one mapping", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _value_problem(node: yaml.Node, where: str) -> str:
    tag = node.tag.rsplit(":", 1)[-1] if node.tag.startswith("tag:yaml.org,2002:") else node.tag
    value = node.value if isinstance(node.value, str) else ""
    shown = repr(value) if len(value) <= 40 else f"{value[:37]!r}... ({len(value):,} characters)"
    digits = sum(ch.isdigit() for ch in value)
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()  # Python's int() refuses longer decimals (3.11+)
    if tag == "int" and limit and digits > limit:
        problem = f"an integer of {digits:,} digits; at most {limit:,}"
    else:
        problem = f"{shown} is not a valid YAML {tag}"
    hint = "; quote it to keep it as text" if tag == "timestamp" else ""
    return f"{where + ': ' if where else ''}{problem}{hint}"


def safe_load(text: str):
    """`yaml.safe_load`, refusing a mapping that repeats a key (raises DuplicateKeyError), a document nested
    too deeply to load (NestingError), a text longer than MAX_CHARS, of more than MAX_ITEMS lines and commas, or
    whose aliases expand it past MAX_NODES values or without end (TooLargeError), and a scalar that is no value
    of its type (BadValueError): each a YAMLError, so the callers' one except names the file."""
    if len(text) > MAX_CHARS:
        raise TooLargeError(f"{len(text):,} characters; a YAML file sonar reads may have at most {MAX_CHARS:,}")
    items = text.count("\n") + text.count(",")
    if items > MAX_ITEMS:
        raise TooLargeError(f"{items:,} lines and commas; a YAML file sonar reads may have at most {MAX_ITEMS:,} "
                            "(a spec or a space is a page or two)")
    loader = _StrictLoader(text)  # a SafeLoader: it builds plain data, never a Python object
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        loader.root = node
        return loader.construct_document(node)
    except RecursionError:
        raise NestingError() from None
    finally:
        loader.dispose()
