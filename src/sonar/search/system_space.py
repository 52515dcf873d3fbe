"""The system half of the search space, and the workload it is tuned for.

Both are handed on as plain dicts: the systems package owns their meaning, so every value is checked
by its own classes (each knob value builds a SystemConfig, the whole builds a SearchSpace, the
workload a Workload) rather than by a second copy of its rules here. Only the types and the sane
upper bounds, which those classes leave open, are stated here.
"""

from __future__ import annotations

import dataclasses

from sonar.errors import UserError
from sonar.search.spec_fields import SpecError, as_int, as_str, key_path, shown

_WORKLOAD_KEYS = {"context": "ctx", "batch": "b", "tokens": "t", "step_ms": "step_ms"}
# knob -> (the SystemConfig field each of its values sets, the value's type, its upper bound)
_KNOBS = {
    "dispatches": ("moe_dispatch", str, None), "attentions": ("attention", str, None),
    "sdpa_backends": ("sdpa_backend", str, None),
    "compiles": ("compile", str, None), "threads": ("threads", int, 1024),
    "batch_sizes": ("batch_size", int, 4096), "int4_group_sizes": ("int4_group_size", int, None),
}
MAX_CHOICES = 64


def workload_text(workload: dict) -> str:
    """The systems package's workload string, e.g. {kind: decode, context: 128} -> 'decode:ctx=128'."""
    items = [f"{_WORKLOAD_KEYS[k]}={v}" for k, v in workload.items() if k in _WORKLOAD_KEYS]
    return f"{workload.get('kind', 'decode')}:{','.join(items)}"


def parse_workload(data: dict) -> dict:
    """The `workload:` section: the shape the system is tuned for (decode at some context, ...)."""
    from sonar.systems import Workload
    from sonar.systems.workload import LIMITS

    for key, value in data.items():
        if key == "kind":
            as_str(value, "workload.kind")
        elif key in _WORKLOAD_KEYS:
            as_int(value, f"workload.{key}", low=1, high=LIMITS[key])
        else:
            raise SpecError(f"{key_path('workload', key)}: unknown key (known: kind, {', '.join(_WORKLOAD_KEYS)})")
    try:
        Workload.parse(workload_text(data))
    except UserError as err:
        raise SpecError(f"workload: {err}") from None
    return data


def parse_system_space(data: dict, where: str) -> dict:
    """knob -> choices, named as the fields of sonar.systems.SearchSpace (schemes, dispatches, ...)."""
    from sonar.systems import SearchSpace, SystemConfigError

    knobs = {f.name for f in dataclasses.fields(SearchSpace)} - {"target"}
    for knob, choices in data.items():
        if knob not in knobs:
            raise SpecError(f"{key_path(where, knob)}: not a system knob (known: {', '.join(sorted(knobs))})")
        if not isinstance(choices, list) or not choices:
            raise SpecError(f"{where}.{knob}: expected a non-empty list of choices")
        if len(choices) > MAX_CHOICES:
            raise SpecError(f"{where}.{knob}: {len(choices)} choices; at most {MAX_CHOICES}")
        for i, value in enumerate(choices):
            _check_knob_value(knob, value, f"{where}.{knob}[{i}]")
            if value in choices[:i]:
                raise SpecError(f"{where}.{knob}[{i}]: {value!r} repeats")
    try:
        SearchSpace(**{knob: tuple(choices) for knob, choices in data.items()})
    except SystemConfigError as err:
        raise SpecError(f"{where}: {err}") from None
    return data


def _check_knob_value(knob: str, value: object, where: str) -> None:
    """One value of a knob: its type and bound, then the systems package's own rule for it."""
    from sonar.model.attention_kernels import ATTENTION_KERNELS
    from sonar.model.moe_dispatch import MOE_DISPATCHES
    from sonar.systems import SystemConfig
    from sonar.systems.config import WEIGHT_SCHEMES
    from sonar.systems.space import PACKED_DISPATCHES  # importing it registers the packed dispatches

    if knob == "schemes":
        if not isinstance(value, str) or value not in WEIGHT_SCHEMES:
            raise SpecError(f"{where}: {shown(value)} is not a weight scheme (known: {', '.join(WEIGHT_SCHEMES)})")
        return
    if knob not in _KNOBS:
        return  # a knob added to SearchSpace since: its constructor still checks it
    field, kind, high = _KNOBS[knob]
    if knob == "threads" and value is None:
        return  # leave torch's thread count as found
    if kind is int:
        as_int(value, where, low=1, high=high or 2**20)
    else:
        as_str(value, where, max_chars=64)
    registries = {"dispatches": (*MOE_DISPATCHES, *PACKED_DISPATCHES), "attentions": tuple(ATTENTION_KERNELS)}
    if knob in registries and value not in registries[knob]:
        raise SpecError(f"{where}: {value!r} is not one of {', '.join(sorted(set(registries[knob])))}")
    try:
        SystemConfig(**{field: value})
    except UserError as err:
        raise SpecError(f"{where}: {err}") from None
