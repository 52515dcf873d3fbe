"""The system half of the search space, and the workload it is tuned for.

Both are handed on as plain dicts: the systems package owns their meaning, so they are checked by its
own classes rather than by a second copy of its rules here.
"""

from __future__ import annotations

import dataclasses

from sonar.errors import UserError
from sonar.search.spec_fields import SpecError

_WORKLOAD_KEYS = {"context": "ctx", "batch": "b", "tokens": "t"}


def workload_text(workload: dict) -> str:
    """The systems package's workload string, e.g. {kind: decode, context: 128} -> 'decode:ctx=128'."""
    items = [f"{_WORKLOAD_KEYS[k]}={v}" for k, v in workload.items() if k in _WORKLOAD_KEYS]
    return f"{workload.get('kind', 'decode')}:{','.join(items)}"


def parse_workload(data: dict) -> dict:
    """The `workload:` section: the shape the system is tuned for (decode at some context, ...)."""
    from sonar.systems import Workload

    unknown = sorted(set(data) - set(_WORKLOAD_KEYS) - {"kind"})
    if unknown:
        raise SpecError(f"workload.{unknown[0]}: unknown key (known: kind, {', '.join(_WORKLOAD_KEYS)})")
    try:
        Workload.parse(workload_text(data))
    except UserError as err:
        raise SpecError(f"workload: {err}") from None
    return data


def parse_system_space(data: dict, where: str) -> dict:
    """knob -> choices, named as the fields of sonar.systems.SearchSpace (schemes, dispatches, ...)."""
    from sonar.systems import SearchSpace, SystemConfigError

    for knob, choices in data.items():
        if not isinstance(choices, list) or not choices:
            raise SpecError(f"{where}.{knob}: expected a non-empty list of choices")
    knobs = {f.name for f in dataclasses.fields(SearchSpace)} - {"target"}
    for knob in data:
        if knob not in knobs:
            raise SpecError(f"{where}.{knob}: not a system knob (known: {', '.join(sorted(knobs))})")
    try:
        SearchSpace(**{knob: tuple(choices) for knob, choices in data.items()})
    except SystemConfigError as err:
        raise SpecError(f"{where}: {err}") from None
    return data
