"""A SystemTuner's state file read back: strict JSON (null where a latency or quality was infinite or
undefined) turned into floats again, and every file that is not a tuning state (corrupt, truncated,
of another shape, another workload or version) one UserError naming it."""

from __future__ import annotations

import math
from pathlib import Path

from sonar import strict_json
from sonar.errors import UserError

STATE_VERSION = 1
# Written as null when not finite: a failed trial's latency (inf) and quality (nan, undefined), the
# best so far before any acceptable trial (inf). Read back as the value a fresh trial would hold.
_NULL_MEANS = {"latency_s": math.inf, "spread_s": math.inf, "best_latency_s": math.inf, "quality_delta": math.nan}
_NON_FINITE_FIELDS = tuple(_NULL_MEANS)
_POINT_FIELDS = ("trial", "seconds", "config", "failure", "extra", *_NON_FINITE_FIELDS)
_LISTS = ("prior_snapshot", "run_records", "points", "samples")


def read_tune_state(path: Path, workload_label: str) -> dict:
    if not path.is_file():  # a FIFO waited for a writer forever
        raise _unreadable(path, "not a regular file")
    try:
        state = strict_json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise _unreadable(path, f"not JSON ({err})") from None
    if not isinstance(state, dict):
        raise _unreadable(path, "a JSON object is expected")
    if state.get("version") != STATE_VERSION or state.get("workload") != workload_label:
        raise UserError(f"{path}: tuning state for another workload or version (found {state.get('workload')!r}, "
                        f"version {state.get('version')!r}; this tuner: {workload_label!r}, version "
                        f"{STATE_VERSION}); move it away to restart")
    problem = _shape_problem(state)
    if problem:
        raise _unreadable(path, problem)
    for point in state["points"]:
        for name in _NON_FINITE_FIELDS:
            if point[name] is None:
                point[name] = _NULL_MEANS[name]
        if "speedup_vs_default" in point["extra"] and point["extra"]["speedup_vs_default"] is None:
            point["extra"]["speedup_vs_default"] = math.nan  # not finite when written (a failed default): null
    state["samples"] = [[math.inf if s is None else s for s in samples] for samples in state["samples"]]
    return state


def _shape_problem(state: dict) -> str | None:
    for name in _LISTS:
        if not isinstance(state.get(name), list):
            return f"'{name}' must be a list"
    if len(state["samples"]) != len(state["points"]):
        return "'samples' must hold one list per point"
    if not isinstance(state.get("seconds"), int | float):
        return "'seconds' must be a number"
    for i, point in enumerate(state["points"]):
        if not isinstance(point, dict) or any(name not in point for name in _POINT_FIELDS):
            return f"point {i} must be an object with {', '.join(_POINT_FIELDS)}"
        if not isinstance(point["config"], dict) or not isinstance(point["extra"], dict):
            return f"point {i}: 'config' and 'extra' must be objects"
        if not isinstance(point["extra"].get("label"), str):  # the tuner writes it; `sonar tune` prints it
            return f"point {i}: 'extra' must hold the config's 'label' (text)"
        speedup = point["extra"].get("speedup_vs_default")
        if speedup is not None and (isinstance(speedup, bool) or not isinstance(speedup, int | float)):
            return f"point {i}: 'extra' 'speedup_vs_default' must be a number"
        if (problem := _config_problem(point["config"])) is not None:
            return f"point {i}: 'config' {problem}"
        if isinstance(point["trial"], bool) or not isinstance(point["trial"], int):
            return f"point {i}: 'trial' must be an integer"
        if isinstance(point["seconds"], bool) or not isinstance(point["seconds"], int | float):
            return f"point {i}: 'seconds' must be a number"
        if point["failure"] is not None and not isinstance(point["failure"], str):
            return f"point {i}: 'failure' must be text or null"
        for name in _NON_FINITE_FIELDS:
            if point[name] is not None and (isinstance(point[name], bool)
                                            or not isinstance(point[name], int | float)):
                return f"point {i}: {name!r} must be a number or null"
        if not isinstance(state["samples"][i], list):
            return f"samples {i} must be a list"
    for name in ("stopped", "eager_stopped"):  # why the sweep stopped (None: not yet); older states lack eager_stopped
        if (name == "stopped" or name in state) and not (state.get(name) is None or isinstance(state.get(name), str)):
            return f"'{name}' must be a reason (text) or null"
    if "stopped" not in state:
        return "'stopped' must be a reason (text) or null"
    return None


def _config_problem(config: dict) -> str | None:
    """Why a recorded system configuration is not one the tuner can read back (it reads the compile mode and
    each scope's weight format directly), or None."""
    from sonar.systems.config import SCOPES, SystemConfig, SystemConfigError

    missing = [name for name in ("compile", *(f"weights_{scope}" for scope in SCOPES)) if name not in config]
    if missing:
        return f"lacks {missing}"
    try:
        SystemConfig.from_dict(config)
    except (SystemConfigError, TypeError, ValueError) as err:
        return f"is not a system configuration ({err})"
    return None


def _unreadable(path: Path, why: str) -> UserError:
    return UserError(f"{path}: not a readable tuning state ({why}); move it away to restart".splitlines()[0])
