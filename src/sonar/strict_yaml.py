"""YAML in, with rules PyYAML lacks: a key written twice in one mapping is an error, since otherwise the
later value silently wins and the earlier line a user edited has no effect; and aliases may not expand a
small file into a huge or endless document (a "billion laughs" file of nested `*refs`, or a node that
holds an alias to itself), which any later walk over it (a check, an error message, a copy) never ends."""

from __future__ import annotations

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


class _StrictLoader(yaml.SafeLoader):
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
                    raise DuplicateKeyError(None, None, f"key {key!r} appears twice in one mapping",
                                            key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def safe_load(text: str):
    """`yaml.safe_load`, refusing a mapping that repeats a key (raises DuplicateKeyError), a document nested
    too deeply to load (NestingError), and a text longer than MAX_CHARS or whose aliases expand it past
    MAX_NODES values or without end (TooLargeError): each a YAMLError, so the callers' one except names the file."""
    if len(text) > MAX_CHARS:
        raise TooLargeError(f"{len(text):,} characters; a YAML file sonar reads may have at most {MAX_CHARS:,}")
    loader = _StrictLoader(text)  # a SafeLoader: it builds plain data, never a Python object
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except RecursionError:
        raise NestingError() from None
    finally:
        loader.dispose()
