"""The benchmark table: ground truth recorded by brute force, replayed by every scheduler.

File format (JSON lines, gzip when the name ends in .gz): line 1 is the header, every further line
is one candidate. Infinite values (a diverged loss, a failed trial's latency) are written as null,
because JSON has no infinity; they read back as math.inf.

    {"record": "header", "schema": "sonar-bench-table", "version": 1, "synthetic": false,
     "provenance": {...}, "architecture_space": {...}, "knob_space": {...},
     "objective": {...}, "checkpoints": [8, 16, ...], "max_trials": 24}
    {"record": "candidate", "id": "c000", "model": {ModelConfig dict},
     "curve": [{"step", "tokens", "train_loss", "val_loss", "seconds"}, ...],
     "tuning": [{"trial", "seconds", "config", "latency_s", "spread_s", "quality_delta",
                 "best_latency_s", "failure"}, ...]}

`seconds` are cumulative per candidate (training-device seconds in the curve, target-device seconds
in the tuning trace), exactly as the Trainer and Tuner protocols return them.

Version 1 has stayed readable as fields were added where the format already allowed free content:
the header's provenance (`build`: corpus, tokenizer, space, max_steps, seed, compile_top_k;
`structure` on structured synthetic tables) and a candidate's `extra` (`load_average_1min`). Readers
must treat them as optional, as tables written before them lack them.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sonar import strict_json
from sonar.errors import UserError
from sonar.interfaces import CurvePoint, TuningPoint
from sonar.model.config import ModelConfig

SCHEMA = "sonar-bench-table"
VERSION = 1
# The most text a table may hold once decompressed: the largest measured table is under 1 MB, and a few
# hundred bytes of gzip can unpack to gigabytes (read to the end before the first check, minutes or memory).
MAX_TABLE_CHARS = 64 << 20
MAX_TABLE_LINES = 1 << 20  # a gzip of blank lines stays under the character cap for a long time
MAX_ID_CHARS = 200  # a candidate id is printed in every message about it
MODES = ("constraint", "pareto")  # the objective modes a table may default to (sonar.bench.regret)


class TableError(UserError):
    """The table file is malformed; the message names the line, record and field."""


@dataclass(kw_only=True, frozen=True)
class TableHeader:
    synthetic: bool
    provenance: dict  # cpu_model, cores, torch_version, corpus, seeds, created, ...
    architecture_space: dict  # field name -> values sampled from
    knob_space: dict  # knob name -> values
    objective: dict  # defaults: mode, latency_limit_s or latency_limit_quantile, quality_delta_max
    checkpoints: tuple[int, ...]  # geometric training steps at which val loss is recorded
    max_trials: int  # tuning trials in a full trace

    @property
    def max_steps(self) -> int:
        return self.checkpoints[-1]


@dataclass(kw_only=True, frozen=True)
class CandidateRecord:
    id: str
    model: ModelConfig
    curve: tuple[CurvePoint, ...]
    tuning: tuple[TuningPoint, ...]
    extra: dict = field(default_factory=dict)

    @property
    def final_val_loss(self) -> float:
        return self.curve[-1].val_loss

    @property
    def train_seconds(self) -> float:
        return self.curve[-1].seconds

    @property
    def tune_seconds(self) -> float:
        return self.tuning[-1].seconds if self.tuning else 0.0

    def trial_cost(self, index: int) -> float:
        """Seconds of the trial at `index` alone (the trace stores cumulative seconds)."""
        before = self.tuning[index - 1].seconds if index > 0 else 0.0
        return self.tuning[index].seconds - before


@dataclass(kw_only=True, frozen=True)
class BenchTable:
    header: TableHeader
    candidates: tuple[CandidateRecord, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {c.id: c for c in self.candidates})

    def candidate(self, candidate_id: str) -> CandidateRecord:
        try:
            return self._by_id[candidate_id]
        except KeyError:
            raise UserError(f"candidate {candidate_id!r} is not in the table") from None

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.candidates]

    @property
    def brute_force_seconds(self) -> float:
        """Train every candidate to the end and tune every candidate to the end, one worker."""
        return sum(c.train_seconds + c.tune_seconds for c in self.candidates)


# ---------------------------------------------------------------- encoding


def _finite_or_none(value: float) -> float | None:
    return None if math.isinf(value) or math.isnan(value) else value


def header_to_json(header: TableHeader) -> dict:
    return {
        "record": "header", "schema": SCHEMA, "version": VERSION, "synthetic": header.synthetic,
        "provenance": header.provenance, "architecture_space": header.architecture_space,
        "knob_space": header.knob_space, "objective": header.objective,
        "checkpoints": list(header.checkpoints), "max_trials": header.max_trials,
    }


def candidate_to_json(record: CandidateRecord) -> dict:
    curve = [
        {"step": p.step, "tokens": p.tokens, "train_loss": _finite_or_none(p.train_loss),
         "val_loss": _finite_or_none(p.val_loss), "seconds": p.seconds}
        for p in record.curve
    ]
    tuning = [
        {"trial": t.trial, "seconds": t.seconds, "config": t.config, "latency_s": _finite_or_none(t.latency_s),
         "spread_s": _finite_or_none(t.spread_s), "quality_delta": _finite_or_none(t.quality_delta),
         "best_latency_s": _finite_or_none(t.best_latency_s), "failure": t.failure}
        for t in record.tuning
    ]
    return {"record": "candidate", "id": record.id, "model": record.model.to_dict(), "curve": curve,
            "tuning": tuning, "extra": record.extra}


# ---------------------------------------------------------------- decoding with validation


class _Fields:
    """Reads typed fields out of one JSON object; every error names where it happened."""

    def __init__(self, data: object, where: str):
        if not isinstance(data, dict):
            raise TableError(f"{where}: expected a JSON object, got {type(data).__name__}")
        self.data, self.where = data, where

    def get(self, name: str, kind: type | tuple[type, ...], *, optional: bool = False):
        if name not in self.data:
            raise TableError(f"{self.where}: missing field {name!r}")
        value = self.data[name]
        if value is None and optional:
            return None
        numeric = kind in (float, (float,))
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) if numeric else isinstance(value, kind)
        if isinstance(value, bool) and kind is int:
            ok = False
        if not ok:
            want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise TableError(f"{self.where}: field {name!r} should be {want}, got {value!r}")
        # The writer stores a missing measurement as null; a NaN or Infinity token is a hand-edited or foreign
        # file, and NaN would compare false everywhere (a NaN cost or latency silently skewed every replay).
        if numeric and not math.isfinite(value):
            raise TableError(f"{self.where}: field {name!r} should be a finite number or null, got {value!r}")
        return float(value) if numeric else value

    def latency(self, name: str) -> float:
        value = self.loss(name)
        if value < 0:  # a negative latency broke the schedulers' forecasts with a ValueError
            raise TableError(f"{self.where}: field {name!r} should be >= 0, got {value!r}")
        return value

    def loss(self, name: str) -> float:
        value = self.get(name, float, optional=True)
        return math.inf if value is None else value


def _header_from_json(data: object, where: str) -> TableHeader:
    f = _Fields(data, where)
    if f.get("record", str) != "header":
        raise TableError(f"{where}: the first record must be the header, got record={f.data['record']!r}")
    if f.get("schema", str) != SCHEMA:
        raise TableError(f"{where}: field 'schema' is {f.data['schema']!r}, expected {SCHEMA!r}")
    version = f.get("version", int)
    if version != VERSION:
        raise TableError(f"{where}: field 'version' is {version}; this sonar reads version {VERSION}")
    checkpoints = f.get("checkpoints", list)
    if not checkpoints or any(not isinstance(s, int) or s < 1 for s in checkpoints) or checkpoints != sorted(
        set(checkpoints)
    ):
        raise TableError(f"{where}: field 'checkpoints' must be increasing positive integers, got {checkpoints!r}")
    max_trials = f.get("max_trials", int)
    if max_trials < 0:
        raise TableError(f"{where}: field 'max_trials' must be >= 0, got {max_trials}")
    return TableHeader(
        synthetic=f.get("synthetic", bool), provenance=f.get("provenance", dict),
        architecture_space=f.get("architecture_space", dict), knob_space=f.get("knob_space", dict),
        objective=_objective_defaults(f.get("objective", dict), f"{where} objective"),
        checkpoints=tuple(checkpoints), max_trials=max_trials,
    )


def _objective_defaults(objective: dict, where: str) -> dict:
    """The header's objective defaults, checked here: read later, a quantile of 2 silently chose the slowest
    candidate's latency and a NaN one crashed int()."""
    f = _Fields(objective, where)
    rules = {"latency_limit_quantile": (lambda v: 0 <= v <= 1, "in [0, 1]"),
             "latency_limit_s": (lambda v: v > 0, "> 0"), "quality_delta_max": (lambda v: v >= 0, ">= 0")}
    if objective.get("mode") is not None and objective["mode"] not in MODES:
        # replay read the mode but oracle and suite did not, so a typo passed there unnoticed
        raise TableError(f"{where}: field 'mode' is {objective['mode']!r}, choose one of {list(MODES)}")
    for name, (valid, wanted) in rules.items():
        if objective.get(name) is not None and not valid(value := f.get(name, float)):
            raise TableError(f"{where}: field {name!r} is {value!r}, it must be {wanted}")
    return objective


def _curve_point(data: object, where: str) -> CurvePoint:
    f = _Fields(data, where)
    return CurvePoint(step=f.get("step", int), tokens=f.get("tokens", int), train_loss=f.loss("train_loss"),
                      val_loss=f.loss("val_loss"), seconds=f.get("seconds", float))


def _tuning_point(data: object, where: str) -> TuningPoint:
    f = _Fields(data, where)
    return TuningPoint(
        trial=f.get("trial", int), seconds=f.get("seconds", float), config=f.get("config", dict),
        latency_s=f.latency("latency_s"), spread_s=f.latency("spread_s"), quality_delta=f.loss("quality_delta"),
        best_latency_s=f.latency("best_latency_s"), failure=f.get("failure", str, optional=True),
    )


def _candidate_from_json(data: object, where: str, header: TableHeader) -> CandidateRecord:
    f = _Fields(data, where)
    if f.get("record", str) != "candidate":
        raise TableError(f"{where}: field 'record' should be 'candidate', got {f.data['record']!r}")
    cid = f.get("id", str)
    if len(cid) > MAX_ID_CHARS:
        raise TableError(f"{where}: field 'id' has {len(cid):,} characters; at most {MAX_ID_CHARS}")
    where = f.where = f"{where} (candidate {cid})"
    try:
        model = ModelConfig.from_dict(f.get("model", dict))
    except UserError as err:
        raise TableError(f"{where}: field 'model': {err}") from None
    except TypeError as err:
        raise TableError(f"{where}: field 'model': {err}") from None
    curve = tuple(_curve_point(p, f"{where} curve[{i}]") for i, p in enumerate(f.get("curve", list)))
    steps = [p.step for p in curve]
    if steps != list(header.checkpoints):
        raise TableError(f"{where}: field 'curve' has steps {steps}, the header's checkpoints are "
                         f"{list(header.checkpoints)}")
    tuning = tuple(_tuning_point(t, f"{where} tuning[{i}]") for i, t in enumerate(f.get("tuning", list)))
    for name, seconds in (("curve", [p.seconds for p in curve]), ("tuning", [t.seconds for t in tuning])):
        if any(b < a for a, b in zip(seconds, seconds[1:], strict=False)) or any(s < 0 for s in seconds):
            raise TableError(f"{where}: field {name!r} seconds must be cumulative (non-decreasing, >= 0)")
    extra = f.data.get("extra") or {}
    return CandidateRecord(id=cid, model=model, curve=curve, tuning=tuning, extra=extra)


def _open_text(path: Path, mode: str, *, gz: bool):
    if gz:
        return gzip.open(path, mode + "t", encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def _capped_lines(handle, source: str) -> Iterable[str]:
    """The handle's lines, refusing the file once it passes MAX_TABLE_CHARS (a line is never read whole
    past the cap)."""
    total = 0
    for number in range(1, MAX_TABLE_LINES + 2):
        line = handle.readline(MAX_TABLE_CHARS + 1 - total)
        if not line:
            return
        total += len(line)
        if total > MAX_TABLE_CHARS or number > MAX_TABLE_LINES:
            raise TableError(f"{source}: holds more than {MAX_TABLE_CHARS:,} characters or {MAX_TABLE_LINES:,} lines "
                             "(decompressed); a benchmark table is far smaller: is it a table?")
        yield line


def parse_lines(lines: Iterable[str], source: str) -> BenchTable:
    header: TableHeader | None = None
    candidates: list[CandidateRecord] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            data = strict_json.loads(line)
        except json.JSONDecodeError as err:
            raise TableError(f"{where}: not valid JSON ({err.msg})") from None
        if header is None:
            header = _header_from_json(data, where)
            continue
        record = _candidate_from_json(data, where, header)
        if record.id in seen:
            raise TableError(f"{where}: candidate id {record.id!r} appears twice")
        seen.add(record.id)
        candidates.append(record)
    if header is None:
        raise TableError(f"{source}: empty file, expected a header record on line 1")
    table = BenchTable(header=header, candidates=tuple(candidates))
    _check_replayable(table, source)
    if candidates and table.brute_force_seconds <= 0:
        # Every speedup divides the brute-force cost by a method's: with nothing paid, none is defined.
        raise TableError(f"{source}: every candidate records 0 seconds of training and tuning; a table needs "
                         "the cumulative seconds its steps and trials took")
    return table


def _check_replayable(table: BenchTable, source: str) -> None:
    """The table's sizes within what a replay's search spec accepts (sonar.search.spec's budget limits): past
    them every replay failed naming a spec field (`budget.cost_s`), not the file."""
    from sonar.search.spec import BUDGET_LIMITS

    trials = max((len(c.tuning) for c in table.candidates), default=0)
    for what, value, limit in (("candidates", len(table.candidates), BUDGET_LIMITS["candidates"]),
                               ("training steps (its last checkpoint)", table.header.max_steps,
                                BUDGET_LIMITS["max_steps"]),
                               ("tuning trials in one trace", trials, BUDGET_LIMITS["max_trials"]),
                               ("seconds to train and tune every candidate", table.brute_force_seconds,
                                BUDGET_LIMITS["cost_s"])):
        if value > limit:
            raise TableError(f"{source}: {value:,g} {what}; a table sonar replays holds at most {limit:,g}")


def load_table(path: str | Path) -> BenchTable:
    path = Path(path)
    if not path.exists():
        raise UserError(f"benchmark table {str(path)!r} does not exist")
    if not path.is_dir() and not path.is_file():  # a FIFO waited for a writer forever, /dev/zero never ended
        raise TableError(f"{path}: not a regular file; a benchmark table is a JSON-lines file")
    try:
        with _open_text(path, "r", gz=path.suffix == ".gz") as handle:
            return parse_lines(_capped_lines(handle, str(path)), str(path))
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise TableError(f"{path}: cannot be read as a JSON-lines table ({err})") from None


def write_table(path: str | Path, header: TableHeader, candidates: Iterable[CandidateRecord]) -> None:
    """Write the whole table atomically: a temp file beside it, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(header_to_json(header), sort_keys=True)]
    lines += [json.dumps(candidate_to_json(c), sort_keys=True) for c in candidates]
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with _open_text(Path(tmp), "w", gz=path.suffix == ".gz") as handle:
            handle.write("\n".join(lines) + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a table is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
