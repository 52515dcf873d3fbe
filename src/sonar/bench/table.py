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

Values are checked for what they can mean, not only their types: a loss is a cross-entropy (> 0, at most MAX_LOSS;
null: diverged), a latency a measured time (> 0, at most an hour; null: failed), seconds and tokens cumulative, a trace
no longer than max_trials, each id printable and each architecture once. Keys this reader does not know are ignored,
so a later writer's additions still load. Beyond the records, a replay needs a candidate it can recommend
(check_replayable); a table still being built is read without that check.

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
from sonar.search.long_context import MAX_LOSS  # a diverged run is recorded as null, not as a huge loss

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
    source: str = field(default="", compare=False)  # the file it was read from, named in messages about it

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
        """Seconds per measured call, null (inf) for a failed trial. A negative one broke the schedulers' forecasts
        with a ValueError, 0 the log latency of every Pareto score, and past an hour every engine replay failed
        naming the spec's objective.latency_s, not the file."""
        from sonar.search.spec import MAX_LATENCY_S

        return self._within(name, 0.0, MAX_LATENCY_S, low_included=False, null="a failed trial")

    def spread(self, name: str) -> float:
        value = self._optional(name)
        if value < 0:
            raise TableError(f"{self.where}: field {name!r} should be >= 0, got {value!r}")
        return value

    def loss(self, name: str, *, zero: bool = False) -> float:
        """A cross-entropy, null (inf) for a diverged run. A val loss of 0 divided every regret by zero, and negative
        ones crashed the scheduler's forecasts; `zero`: 0 is a loss it may record (a training batch memorised)."""
        return self._within(name, 0.0, MAX_LOSS, low_included=zero, null="a diverged run")

    def quality(self, name: str) -> float:
        return self._optional(name)  # a quantised model may score better than the reference: any sign

    def _optional(self, name: str) -> float:
        value = self.get(name, float, optional=True)
        return math.inf if value is None else value

    def _within(self, name: str, low: float, high: float, *, low_included: bool, null: str) -> float:
        value = self._optional(name)
        if math.isinf(value):
            return value
        if value < low or (value == low and not low_included) or value > high:
            wanted = f"{'>=' if low_included else '>'} {low:g} and at most {high:g}"
            raise TableError(f"{self.where}: field {name!r} should be {wanted} (null: {null}), got {value!r}")
        return value


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
    if not checkpoints or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in checkpoints) or (
        checkpoints != sorted(set(checkpoints))
    ):
        raise TableError(f"{where}: field 'checkpoints' must be increasing positive integers, got {checkpoints!r}")
    max_trials = f.get("max_trials", int)
    if max_trials < 0:
        raise TableError(f"{where}: field 'max_trials' must be >= 0, got {max_trials}")
    return TableHeader(
        synthetic=f.get("synthetic", bool), provenance=f.get("provenance", dict),
        architecture_space=f.get("architecture_space", dict),
        knob_space=_knob_space(f.get("knob_space", dict), f"{where} knob_space"),
        objective=_objective_defaults(f.get("objective", dict), f"{where} objective"),
        checkpoints=tuple(checkpoints), max_trials=max_trials,
    )


def _objective_defaults(objective: dict, where: str) -> dict:
    """The header's objective defaults, checked here: read later, a quantile of 2 silently chose the slowest
    candidate's latency and a NaN one crashed int(). A null default is no default (readers took it for a value:
    a null mode was refused as a mode, a null quality bound crashed a comparison)."""
    from sonar.search.spec import MAX_LATENCY_S

    objective = {name: value for name, value in objective.items() if value is not None}
    f = _Fields(objective, where)
    rules = {"latency_limit_quantile": (lambda v: 0 <= v <= 1, "in [0, 1]"),
             # past an hour every engine replay failed naming the spec's objective.latency_s, not the file
             "latency_limit_s": (lambda v: 0 < v <= MAX_LATENCY_S, f"> 0 and at most {MAX_LATENCY_S:g} seconds"),
             "quality_delta_max": (lambda v: v >= 0, ">= 0")}
    if "mode" in objective and objective["mode"] not in MODES:
        # replay read the mode but oracle and suite did not, so a typo passed there unnoticed
        raise TableError(f"{where}: field 'mode' is {objective['mode']!r}, choose one of {list(MODES)}")
    for name, (valid, wanted) in rules.items():
        if name in objective and not valid(value := f.get(name, float)):
            raise TableError(f"{where}: field {name!r} is {value!r}, it must be {wanted}")
    return objective


def _knob_space(knobs: dict, where: str) -> dict:
    """The tuner's description of what it measured. Free-form, but for the one part a replay reads: the compile
    modes (`space.compiles`) that tell the engine's schedulers late tuning gains may come. A malformed one failed
    every engine replay with an AttributeError or a spec error (`system.compiles[0]`) that named no file."""
    from sonar.systems.config import COMPILE_MODES

    space = knobs.get("space")
    if space is None:
        return knobs
    if not isinstance(space, dict):
        raise TableError(f"{where}: field 'space' should be an object (the tuner's search space), got {space!r}")
    compiles = space.get("compiles")
    if compiles is not None and (not isinstance(compiles, list) or any(c not in COMPILE_MODES for c in compiles)
                                 or len(set(compiles)) < len(compiles)):
        raise TableError(f"{where}: field 'space.compiles' should be a list of distinct compile modes from "
                         f"{list(COMPILE_MODES)}, got {compiles!r}")
    return knobs


def _curve_point(data: object, where: str) -> CurvePoint:
    f = _Fields(data, where)
    return CurvePoint(step=f.get("step", int), tokens=f.get("tokens", int), train_loss=f.loss("train_loss", zero=True),
                      val_loss=f.loss("val_loss"), seconds=f.get("seconds", float))


def _tuning_point(data: object, where: str) -> TuningPoint:
    f = _Fields(data, where)
    return TuningPoint(
        trial=f.get("trial", int), seconds=f.get("seconds", float), config=f.get("config", dict),
        latency_s=f.latency("latency_s"), spread_s=f.spread("spread_s"), quality_delta=f.quality("quality_delta"),
        best_latency_s=f.latency("best_latency_s"), failure=f.get("failure", str, optional=True),
    )


def _candidate_from_json(data: object, where: str, header: TableHeader) -> CandidateRecord:
    f = _Fields(data, where)
    if f.get("record", str) != "candidate":
        raise TableError(f"{where}: field 'record' should be 'candidate', got {f.data['record']!r}")
    cid = f.get("id", str)
    if len(cid) > MAX_ID_CHARS:
        raise TableError(f"{where}: field 'id' has {len(cid):,} characters; at most {MAX_ID_CHARS}")
    if not cid or not cid.isprintable():  # every message, table and figure names the candidate by it
        raise TableError(f"{where}: field 'id' is {cid!r}; a candidate id is non-empty printable text, e.g. 'c000'")
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
    if len(tuning) > header.max_trials:
        raise TableError(f"{where}: field 'tuning' has {len(tuning)} trials, more than the header's max_trials "
                         f"({header.max_trials}); a trace holds at most max_trials trials")
    _check_cumulative(where, "curve", "seconds", [p.seconds for p in curve])
    _check_cumulative(where, "curve", "tokens", [p.tokens for p in curve])
    _check_cumulative(where, "tuning", "seconds", [t.seconds for t in tuning])
    extra = f.get("extra", dict, optional=True) if "extra" in f.data else None
    return CandidateRecord(id=cid, model=model, curve=curve, tuning=tuning, extra=extra or {})


def _check_cumulative(where: str, name: str, what: str, values: list[float]) -> None:
    if any(b < a for a, b in zip(values, values[1:], strict=False)) or any(v < 0 for v in values):
        raise TableError(f"{where}: field {name!r} {what} must be cumulative (non-decreasing, >= 0)")


def _open_text(path: Path, mode: str, *, gz: bool):
    # read as utf-8-sig: a table saved by an editor or tool that starts files with a byte-order mark reads as any other
    encoding = "utf-8-sig" if mode == "r" else "utf-8"
    if gz:
        return gzip.open(path, mode + "t", encoding=encoding)
    return open(path, mode, encoding=encoding)


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
    models: dict = {}  # architecture -> the id of the candidate that has it
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
        if record.model in models:  # the engine's replays failed on it naming the spec's arch.pool, not the file
            raise TableError(f"{where}: candidate {record.id} has the same architecture (field 'model') as candidate "
                             f"{models[record.model]}; a replay tells candidates apart by architecture: keep one")
        seen.add(record.id)
        models[record.model] = record.id
        candidates.append(record)
    if header is None:
        raise TableError(f"{source}: empty file, expected a header record on line 1")
    table = BenchTable(header=header, candidates=tuple(candidates), source=source)
    _check_sizes(table, source)
    if candidates and table.brute_force_seconds <= 0:
        # Every speedup divides the brute-force cost by a method's: with nothing paid, none is defined.
        raise TableError(f"{source}: every candidate records 0 seconds of training and tuning; a table needs "
                         "the cumulative seconds its steps and trials took")
    return table


def _check_sizes(table: BenchTable, source: str) -> None:
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


def check_replayable(table: BenchTable) -> None:
    """What a replay needs beyond well-formed records: a candidate to recommend (a finite final loss and a trial
    that ran) and training that costs something. A table being built may lack them yet (`load_table(replay=False)`).
    Before these checks, a table of diverged runs replayed to null regrets, failures reported as results, and a
    candidate trained for free gave an infinite speedup."""
    where = table.source or "the table"
    if not table.candidates:
        raise TableError(f"{where}: holds no candidate records; a table needs at least one candidate line after the "
                         "header")
    free = next((c.id for c in table.candidates if c.train_seconds <= 0), None)
    if free is not None:
        raise TableError(f"{where} (candidate {free}): its curve records 0 seconds of training; training costs time, "
                         "so each candidate's curve needs the cumulative seconds its steps took")
    if not any(math.isfinite(c.final_val_loss) for c in table.candidates):
        raise TableError(f"{where}: every candidate's final val_loss is null (diverged); a replay needs at least one "
                         "candidate with a finite final loss to recommend")
    if not any(_ran(t) for c in table.candidates if math.isfinite(c.final_val_loss) for t in c.tuning):
        raise TableError(f"{where}: no candidate with a finite final val_loss has a tuning trial that ran (each "
                         "failed, has a null latency_s, or none was recorded); nothing can be recommended")


def _ran(trial: TuningPoint) -> bool:
    return trial.failure is None and math.isfinite(trial.latency_s)


def load_table(path: str | Path, *, replay: bool = True) -> BenchTable:
    """The table at `path`, every record checked; `replay`: also what a replay needs (check_replayable), which a
    table still being built (`sonar bench build --resume`) may lack."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"benchmark table {str(path)!r} does not exist")
    if not path.is_dir() and not path.is_file():  # a FIFO waited for a writer forever, /dev/zero never ended
        raise TableError(f"{path}: not a regular file; a benchmark table is a JSON-lines file")
    try:
        with _open_text(path, "r", gz=path.suffix == ".gz") as handle:
            table = parse_lines(_capped_lines(handle, str(path)), str(path))
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise TableError(f"{path}: cannot be read as a JSON-lines table ({err})") from None
    if replay:
        check_replayable(table)
    return table


def write_table(path: str | Path, header: TableHeader, candidates: Iterable[CandidateRecord]) -> None:
    """Write the whole table atomically: a temp file beside it, then a rename. The lines are read back first, as
    load_table reads them: a custom Trainer or Tuner's bad value (a zero loss, more trials than max_trials) is
    refused while it is being built, not written into a table nothing can read."""
    path = Path(path)
    lines = [json.dumps(header_to_json(header), sort_keys=True)]
    lines += [json.dumps(candidate_to_json(c), sort_keys=True) for c in candidates]
    parse_lines(lines, f"{path} (being written)")
    path.parent.mkdir(parents=True, exist_ok=True)
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
