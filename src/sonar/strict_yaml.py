"""YAML in, with one rule PyYAML lacks: a key written twice in one mapping is an error, since
otherwise the later value silently wins and the earlier line a user edited has no effect."""

from __future__ import annotations

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping repeats a key; `problem_mark` points at the repeat."""


class NestingError(yaml.YAMLError):
    """The document nests deeper than the loader's recursion allows (a corrupt or crafted file)."""

    problem = "nested too deeply"

    def __str__(self) -> str:
        return self.problem


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
    """`yaml.safe_load`, refusing a mapping that repeats a key (raises DuplicateKeyError, a YAMLError) and a
    document nested too deeply to load (NestingError, a YAMLError: the callers' one except names the file)."""
    loader = _StrictLoader(text)  # a SafeLoader: it builds plain data, never a Python object
    try:
        return loader.get_single_data()
    except RecursionError:
        raise NestingError() from None
    finally:
        loader.dispose()
