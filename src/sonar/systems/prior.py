"""A cost model learned from earlier measurements, persisted and reused across architectures.

Each record is one measured trial: the workload kind, the config, and log(latency / latency of
the reference config on the same model and workload). The reference is the default config, or,
when the tuned space excludes the default, the space's config nearest to it (recorded as
"reference"); the model fits config-minus-reference feature differences, so records from different
architectures and spaces stay comparable. The model is additive in the knob values (a ridge
regression on one-hot features); a knob value never measured falls back to a physical guess
(memory-bound workloads scale with weight bytes), to be corrected by the first measurement.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from sonar import strict_json
from sonar.errors import UserError
from sonar.strict_json import dumps_strict
from sonar.systems.config import FORMAT_BYTES, SCOPES, SystemConfig

FAILURE_LOG_RATIO = math.log(4.0)  # how a failed trial counts against its knob values
# Ratios are clipped to this magnitude: on a shared machine one trial can land in a burst of load,
# and a single 100x reading must not bury a knob value for every later architecture.
MAX_ABS_LOG_RATIO = math.log(4.0)
KNOBS = (*(f"weights_{s}" for s in SCOPES), "moe_dispatch", "attention", "sdpa_backend", "compile", "threads",
         "int4_group_size", "batch_size")
DEFAULT = SystemConfig()
# Share of memory-bound time each scope's weights account for, before anything is measured.
_SCOPE_SHARE = {"routed": 0.3, "shared": 0.2, "attention": 0.2, "dense": 0.2, "head": 0.1}


def features(config: dict) -> list[str]:
    """One feature per knob that differs from the default config."""
    default = DEFAULT.to_dict()
    return [f"{k}={config.get(k)}" for k in KNOBS if config.get(k) != default[k]]


def physical_guess(config: dict, workload_kind: str) -> float:
    """log latency ratio from weight bytes alone: decode and throughput read every active weight."""
    if workload_kind == "prefill":
        return 0.0
    ratio = sum(share * FORMAT_BYTES[config[f"weights_{s}"]] / FORMAT_BYTES["fp32"]
                for s, share in _SCOPE_SHARE.items())
    return math.log(ratio)


def _reference_features(record: dict) -> list[str]:
    return features(record["reference"]) if record.get("reference") else []


def fit(records: list[dict], workload_kind: str, ridge: float = 0.5) -> dict[str, float]:
    """Main effect (log ratio against the default) of each knob value seen in records of this workload kind."""
    rows = [r for r in records if r["workload_kind"] == workload_kind]
    names = sorted({f for r in rows for f in features(r["config"]) + _reference_features(r)})
    if not rows or not names:
        return {}
    index = {n: i for i, n in enumerate(names)}
    X = np.zeros((len(rows), len(names)))
    y = np.zeros(len(rows))
    for i, r in enumerate(rows):
        for f in features(r["config"]):
            X[i, index[f]] += 1.0
        for f in _reference_features(r):
            X[i, index[f]] -= 1.0
        y[i] = r["log_ratio"]
    beta = np.linalg.solve(X.T @ X + ridge * np.eye(len(names)), X.T @ y)
    return {n: float(b) for n, b in zip(names, beta, strict=True)}


def predict(config: dict, effects: dict[str, float], workload_kind: str) -> float:
    """Predicted log(latency / default latency); lower is better."""
    known = [f for f in features(config) if f in effects]
    guess = physical_guess(config, workload_kind)
    weight_features = [f for f in features(config) if f.startswith("weights_")]
    if weight_features and not any(f in effects for f in weight_features):
        return guess + sum(effects[f] for f in known)
    return sum(effects[f] for f in known)


def record(config: dict, workload_kind: str, latency_s: float, reference_latency_s: float,
           failed: bool, arch: str, reference: dict | None = None) -> dict:
    """One trial as a prior record; `reference` is the config `reference_latency_s` was measured with
    (None or the default config: the default)."""
    if failed or not math.isfinite(latency_s):
        log_ratio = FAILURE_LOG_RATIO
    else:
        log_ratio = max(-MAX_ABS_LOG_RATIO, min(MAX_ABS_LOG_RATIO, math.log(latency_s / reference_latency_s)))
    new = {"arch": arch, "workload_kind": workload_kind, "config": config, "log_ratio": log_ratio}
    if reference is not None and features(reference):
        new["reference"] = reference
    return new


class PriorStore:
    """Records in one JSON file shared by every tuning run that names it; written atomically.

    A file that is not a valid prior (corrupt, truncated, of another shape) is a UserError naming it,
    not a warning and a fresh start: the file gathers measurements from many runs, and sonar never
    overwrites a user's file it cannot read. Moving it away starts a fresh prior."""

    def __init__(self, path: Path | None) -> None:
        self.path = Path(path) if path is not None else None

    def load(self) -> list[dict]:
        if self.path is None or not self.path.exists():
            return []
        if not self.path.is_file():  # else taken for absent, and replaced by the first write
            raise self._unreadable("not a regular file")
        try:
            data = strict_json.loads(self.path.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise self._unreadable(f"not JSON ({err})") from None
        records = data.get("records") if isinstance(data, dict) else None
        if not isinstance(records, list):
            raise self._unreadable("a JSON object with a 'records' list is expected")
        for i, r in enumerate(records):
            r = records[i] = _with_later_knobs(r)
            problem = _record_problem(r)
            if problem:
                raise self._unreadable(f"record {i}: {problem}")
        return records

    def _unreadable(self, why: str) -> UserError:
        return UserError(f"{self.path}: not a readable systems prior ({why}); move it away to start a fresh prior"
                         .splitlines()[0])

    def add(self, new: list[dict]) -> None:
        if self.path is None or not new:
            return
        records = self.load() + new
        write_json_atomic(self.path, {"version": 1, "records": records})


# Knobs added after priors were first written, with the value that stands for the behaviour before
# them: an older prior still loads, and its configs mean what they meant.
LATER_KNOBS = {"sdpa_backend": SystemConfig.__dataclass_fields__["sdpa_backend"].default}


def _with_later_knobs(r):
    if not isinstance(r, dict):
        return r
    filled = dict(r)
    for key in ("config", "reference"):
        if isinstance(r.get(key), dict):
            filled[key] = {**LATER_KNOBS, **r[key]}
    return filled


def _record_problem(r) -> str | None:
    """What makes `r` unusable as a prior record, or None."""
    if not isinstance(r, dict):
        return "not an object"
    if not isinstance(r.get("workload_kind"), str):
        return "'workload_kind' must be a string"
    for key in ("config", *(("reference",) if r.get("reference") is not None else ())):
        if not isinstance(r.get(key), dict) or not all(k in r[key] for k in KNOBS):
            return f"'{key}' must be a system config object with every knob ({', '.join(KNOBS)})"
    value = r.get("log_ratio")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "'log_ratio' must be a finite number"
    return None


def write_json_atomic(path: Path, data: dict) -> None:
    """Write strict JSON (non-finite floats as null) to a temporary file beside `path`, then rename:
    a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(dumps_strict(data, indent=1, default=str))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
