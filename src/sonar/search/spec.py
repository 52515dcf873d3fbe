"""The search specification: one YAML file, validated whole before any compute.

Every error names the key it is about, e.g. `arch.hidden_size.choices[2]: 'big' is not an integer`.
The architecture space (arch_space.py) edits a preset's ModelConfig; the system space and workload
(system_space.py) are passed through to the systems package and checked by it. This module holds the
rest of the spec and parses the whole, so a spec is either accepted entirely or rejected with one error;
what a parsed spec must agree with outside itself (its drawn candidates, its data, its workloads) is
checked by spec_checks.py.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sonar import strict_yaml
from sonar.errors import UserError
from sonar.search.arch_space import ArchSpace, parse_arch_space
from sonar.search.arch_space import Param as Param  # re-exported: its home before the split
from sonar.search.long_context import LongContext, parse_long_context
from sonar.search.spec_checks import check_against_inputs
from sonar.search.spec_fields import (
    SpecError,
    as_int,
    as_number,
    as_str,
    key_path,
    mapping_under,
    no_unknown_keys,
    one_of,
)
from sonar.search.spec_training import parse_data, parse_synthetic, parse_training
from sonar.search.system_space import parse_system_space, parse_workload
from sonar.search.system_space import workload_text as workload_text  # re-exported: backends.py reads it with the spec

SCHEDULERS = ("sonar", "brute", "sequential", "random", "asha")
OBJECTIVES = ("constraint", "pareto", "scalarized")
EXECUTORS = ("inprocess", "pool", "ray", "simulated")
BACKENDS = ("real", "synthetic")
ACROSS_TARGETS = ("each", "worst")
TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Every candidate is tuned on every target: far more kinds of hardware than one search compares, few
# enough that a generated list (thousands) fails here instead of scheduling without end.
MAX_TARGETS = 64


@dataclass(kw_only=True, frozen=True)
class Objective:
    kind: str = "constraint"
    latency_s: float | None = None  # constraint mode: the latency bound L
    memory_bytes: float | None = None  # constraint mode: the optional memory bound M
    loss_weight: float = 1.0  # scalarized: reward = loss_weight * loss + latency_weight * latency_s
    latency_weight: float = 0.0
    # Several targets: `each` chooses a winner per target (its best loss within that target's bound);
    # `worst` one winner that meets every target's bound (constraint mode only). As parsed, latency_s
    # is the first target's bound, so everything that reads one bound reads the first target's.
    across_targets: str = "each"
    long_context: LongContext | None = None  # a bound on long-context quality (long_context.py)


@dataclass(kw_only=True, frozen=True)
class Budget:
    max_steps: int
    min_steps: int
    max_trials: int
    min_trials: int
    candidates: int
    cost_s: float = math.inf  # total seconds of every job together


@dataclass(kw_only=True, frozen=True)
class ExecutorSpec:
    kind: str = "inprocess"
    workers: int = 1
    address: str | None = None


@dataclass(kw_only=True, frozen=True)
class Target:
    """Hardware a winner is tuned for. The first target is the search's primary one: a single-target
    search has only it, and its tuning lives where it always has (the candidate's workdir)."""

    name: str
    device: str = "cpu"
    resources: dict = field(default_factory=dict)  # Ray custom resources a tuning job asks for
    # As parsed: the target's own latency bound, else objective.latency_s (None outside constraint mode).
    latency_s: float | None = None
    workload: dict | None = None  # the shape tuned for on this target (None: the spec's workload)
    threads: tuple | None = None  # the thread counts tried on this target (None: the system space's)


@dataclass(kw_only=True, frozen=True)
class SearchSpec:
    name: str
    budget: Budget
    arch: ArchSpace = field(default_factory=ArchSpace)
    system: dict = field(default_factory=dict)
    workload: dict = field(default_factory=dict)
    targets: tuple[Target, ...] = (Target(name="cpu"),)
    data: dict = field(default_factory=lambda: {"corpus": "builtin"})
    objective: Objective = field(default_factory=Objective)
    scheduler: str = "sonar"
    eta: int = 3
    seed: int = 0
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    backend: str = "real"
    synthetic: dict = field(default_factory=dict)  # options of the synthetic backend (noise, sleep_s)
    training: dict = field(default_factory=dict)  # passed to the Trainer (batch size, lr, eval interval)
    rules: dict = field(default_factory=dict)  # scheduler rules switched on/off (schedulers/policy.py)
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    def replace(self, **changes) -> SearchSpec:
        return dataclasses.replace(self, **changes)


MAX_SPEC_BYTES = 1 << 20


def load_spec(path: str | Path) -> SearchSpec:
    """Read and validate a spec file; every problem is one SpecError naming the file or the key."""
    return parse_spec(read_spec_file(path))


def read_spec_file(path: str | Path) -> dict:
    """The spec file's mapping: UTF-8 YAML with a mapping at its root, or one SpecError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SpecError(f"{path}: cannot read the spec file ({err.strerror})") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: {len(data):,} bytes; a spec file may have at most {MAX_SPEC_BYTES:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not UTF-8 text (undecodable byte 0x{data[err.start]:02x} at offset "
                        f"{err.start}); save the spec as UTF-8") from None
    try:
        raw = strict_yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML ({_yaml_problem(err)})") from None
    if raw is None:
        raise SpecError(f"{path}: the spec file is empty")
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: the spec must be a mapping of keys (name, arch, budget, ...), "
                        f"got a {type(raw).__name__}")
    return raw


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's message on one line: the problem and where it is."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def parse_spec(data: object) -> SearchSpec:
    """Validate a whole spec dict; every problem raises SpecError naming its key."""
    if not isinstance(data, dict):
        raise SpecError(f"<root>: expected a mapping of keys, got {type(data).__name__}")
    known = {"name", "arch", "system", "workload", "targets", "data", "objective", "budget", "scheduler", "eta",
             "seed", "executor", "backend", "synthetic", "training", "rules"}
    no_unknown_keys(data, known, "")
    budget = _budget(mapping_under(data, "budget", required=True), "budget")
    arch = parse_arch_space(mapping_under(data, "arch"), "arch")
    objective = _objective(mapping_under(data, "objective"), "objective")
    targets = _targets(data.get("targets", [{"name": "cpu"}]), "targets", objective)
    if objective.kind == "constraint":  # the first target's bound is the one a single bound means
        objective = dataclasses.replace(objective, latency_s=targets[0].latency_s)
    spec = SearchSpec(
        name=as_str(data.get("name", "search"), "name", max_chars=200),
        budget=budget,
        arch=arch,
        system=parse_system_space(mapping_under(data, "system"), "system"),
        workload=parse_workload(mapping_under(data, "workload")),
        targets=targets,
        data=parse_data(data.get("data"), arch.base_config().vocab_size),
        objective=objective,
        scheduler=one_of(data.get("scheduler", "sonar"), SCHEDULERS, "scheduler"),
        eta=as_int(data.get("eta", 3), "eta", low=2, high=1000),
        seed=as_int(data.get("seed", 0), "seed", low=0, high=2**32 - 1),
        executor=_executor(mapping_under(data, "executor"), "executor"),
        backend=one_of(data.get("backend", "real"), BACKENDS, "backend"),
        synthetic=_synthetic(mapping_under(data, "synthetic"), targets),
        training=parse_training(mapping_under(data, "training"), budget.max_steps),
        rules=_rules(mapping_under(data, "rules"), "rules"),
        raw=data,
    )
    check_against_inputs(spec)
    return spec


def _rules(data: dict, where: str) -> dict:
    """Scheduler rules switched on or off by name (search/schedulers/policy.py)."""
    from sonar.search.schedulers.policy import SONAR_RULES

    try:
        SONAR_RULES.overridden(data, where)
    except UserError as err:
        raise SpecError(str(err)) from None
    return dict(data)


# Sane bounds of the budget: far above any search one machine or cluster runs, low enough that a
# value with a few zeros too many fails here instead of sampling or scheduling without end.
BUDGET_LIMITS = {"max_steps": 10**9, "max_trials": 10**6, "candidates": 10_000, "cost_s": 1e9}
MAX_LATENCY_S = 3600.0
MAX_MEMORY_BYTES = float(2**60)
MAX_WEIGHT = 1e6
SYNTHETIC_SIZES = ("active", "total")  # which parameter count a synthetic target's latency grows with


def _budget(data: dict, where: str) -> Budget:
    no_unknown_keys(data, {"max_steps", "min_steps", "max_trials", "min_trials", "candidates", "cost_s"}, where)
    for key in ("max_steps", "max_trials", "candidates"):
        if key not in data:
            raise SpecError(f"{where}.{key}: required")
    limit = BUDGET_LIMITS
    max_steps = as_int(data["max_steps"], f"{where}.max_steps", low=1, high=limit["max_steps"])
    max_trials = as_int(data["max_trials"], f"{where}.max_trials", low=1, high=limit["max_trials"])
    min_steps = as_int(data.get("min_steps", max(1, max_steps // 9)), f"{where}.min_steps", low=1)
    min_trials = as_int(data.get("min_trials", max(1, max_trials // 9)), f"{where}.min_trials", low=1)
    if min_steps > max_steps:
        raise SpecError(f"{where}.min_steps: {min_steps} exceeds max_steps={max_steps}")
    if min_trials > max_trials:
        raise SpecError(f"{where}.min_trials: {min_trials} exceeds max_trials={max_trials}")
    cost = (as_number(data["cost_s"], f"{where}.cost_s", positive=True, high=limit["cost_s"])
            if "cost_s" in data else math.inf)  # absent: no cost bound
    return Budget(max_steps=max_steps, min_steps=min_steps, max_trials=max_trials, min_trials=min_trials,
                  candidates=as_int(data["candidates"], f"{where}.candidates", low=1, high=limit["candidates"]),
                  cost_s=cost)


def _targets(data: object, where: str, objective: Objective) -> tuple[Target, ...]:
    from sonar.systems.config import TARGETS

    if not isinstance(data, list) or not data:
        raise SpecError(f"{where}: expected a non-empty list of targets")
    if len(data) > MAX_TARGETS:
        raise SpecError(f"{where}: {len(data):,} targets; at most {MAX_TARGETS}")
    targets = []
    for i, item in enumerate(data):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise SpecError(f"{where}[{i}]: expected a mapping with a name")
        no_unknown_keys(item, {"name", "device", "resources", "latency_s", "workload", "threads"}, f"{where}[{i}]")
        name = as_str(item["name"], f"{where}[{i}].name", max_chars=200)
        if name in (t.name for t in targets):
            raise SpecError(f"{where}[{i}].name: {name!r} repeats")
        resources = item.get("resources")
        resources = {} if resources is None else resources
        if not isinstance(resources, dict):
            raise SpecError(f"{where}[{i}].resources: expected a mapping of Ray resource -> amount")
        for key, amount in resources.items():
            as_str(key, f"{where}[{i}].resources (a resource name)", max_chars=200)
            as_number(amount, f"{where}[{i}].resources.{key}", positive=True, high=1e6)
        device = one_of(item.get("device", "cpu"), TARGETS, f"{where}[{i}].device")
        targets.append(Target(name=name, device=device, resources=resources,
                              latency_s=_target_bound(item, objective, f"{where}[{i}]"),
                              workload=_target_workload(item, f"{where}[{i}]"),
                              threads=_target_threads(item, f"{where}[{i}]")))
    if len(targets) > 1:  # each names a job id, a directory and an exported file
        for i, target in enumerate(targets):
            if not TARGET_NAME.fullmatch(target.name):
                raise SpecError(f"{where}[{i}].name: {target.name!r}; with several targets a name is letters, "
                                "digits, '_', '-' and '.', starting with a letter or digit")
    if objective.across_targets == "worst" and objective.kind != "constraint":
        raise SpecError(f"objective.across_targets: 'worst' needs kind constraint (a bound on every target), "
                        f"got kind {objective.kind!r}")
    return tuple(targets)


def _target_bound(item: dict, objective: Objective, where: str) -> float | None:
    """The target's own latency bound, else the objective's; constraint mode needs one for every target."""
    if "latency_s" not in item:
        if objective.kind == "constraint" and objective.latency_s is None:
            raise SpecError(f"objective.latency_s: required in constraint mode (or {where}.latency_s on every target)")
        return objective.latency_s
    if objective.kind != "constraint":
        raise SpecError(f"{where}.latency_s: a bound applies in constraint mode only (objective.kind is "
                        f"{objective.kind!r})")
    return as_number(item["latency_s"], f"{where}.latency_s", positive=True, high=MAX_LATENCY_S)


def _target_workload(item: dict, where: str) -> dict | None:
    if item.get("workload") is None:
        return None
    workload = item["workload"]
    if not isinstance(workload, dict):
        raise SpecError(f"{where}.workload: expected a mapping such as {{kind: decode, context: 128}}")
    try:
        return parse_workload(workload)
    except SpecError as err:
        raise SpecError(f"{where}.{err}") from None


def _target_threads(item: dict, where: str) -> tuple | None:
    if item.get("threads") is None:
        return None
    return tuple(parse_system_space({"threads": item["threads"]}, where)["threads"])


def _synthetic(data: dict, targets: tuple[Target, ...]) -> dict:
    """`synthetic:`; its `targets:` (how each target's synthetic latency differs, synthetic.py) is
    checked here against the spec's targets, the rest by the synthetic section's own parser."""
    per_target = data.get("targets")
    rest = parse_synthetic({k: v for k, v in data.items() if k != "targets"})
    if per_target is None:
        return rest
    if not isinstance(per_target, dict):
        raise SpecError("synthetic.targets: expected a mapping of target name -> {scale, size}")
    names = [t.name for t in targets]
    for name, options in per_target.items():
        where = key_path("synthetic.targets", name)
        if name not in names:
            raise SpecError(f"{where}: not a target of the spec (targets: {', '.join(names)})")
        if not isinstance(options, dict):
            raise SpecError(f"{where}: expected a mapping such as {{scale: 2.0, size: total}}")
        no_unknown_keys(options, {"scale", "size"}, where)
        as_number(options.get("scale", 1.0), f"{where}.scale", positive=True, high=1e6)
        one_of(options.get("size", "active"), SYNTHETIC_SIZES, f"{where}.size")
    return {**rest, "targets": per_target}


def _objective(data: dict, where: str) -> Objective:
    no_unknown_keys(data, {"kind", "latency_s", "memory_bytes", "weights", "across_targets", "long_context"}, where)
    kind = one_of(data.get("kind", "constraint"), OBJECTIVES, f"{where}.kind")
    latency = data.get("latency_s")
    if latency is not None and kind != "constraint":
        # a bound the search would silently ignore: Pareto and scalarized modes have no bound
        raise SpecError(f"{where}.latency_s: a bound applies in constraint mode only (kind is {kind!r}); "
                        "remove it, or set kind: constraint")
    memory = data.get("memory_bytes")
    weights = data.get("weights")
    weights = {} if weights is None else weights
    if not isinstance(weights, dict):
        raise SpecError(f"{where}.weights: expected {{loss: W, latency_s: W}}")
    no_unknown_keys(weights, {"loss", "latency_s"}, f"{where}.weights")
    if kind == "scalarized" and "latency_s" not in weights:
        raise SpecError(f"{where}.weights.latency_s: required in scalarized mode")
    # reward = loss_weight * loss + latency_weight * latency_s is minimised: a negative weight rewards a worse
    # loss or a slower model, and all-zero weights make every candidate tie
    weight = {key: as_number(weights.get(key, default), f"{where}.weights.{key}", low=0.0, high=MAX_WEIGHT)
              for key, default in (("loss", 1.0), ("latency_s", 0.0))}
    if kind == "scalarized" and not any(weight.values()):
        raise SpecError(f"{where}.weights: loss and latency_s are both 0, so every candidate scores the same; "
                        "give at least one a weight > 0")
    return Objective(
        kind=kind,
        latency_s=None if latency is None else as_number(latency, f"{where}.latency_s", positive=True,
                                                         high=MAX_LATENCY_S),
        memory_bytes=None if memory is None else as_number(memory, f"{where}.memory_bytes", positive=True,
                                                           high=MAX_MEMORY_BYTES),
        loss_weight=weight["loss"], latency_weight=weight["latency_s"],
        across_targets=one_of(data.get("across_targets", "each"), ACROSS_TARGETS, f"{where}.across_targets"),
        long_context=parse_long_context(data.get("long_context"), f"{where}.long_context"),
    )


def _executor(data: dict, where: str) -> ExecutorSpec:
    no_unknown_keys(data, {"kind", "workers", "address"}, where)
    address = data.get("address")
    kind = one_of(data.get("kind", "inprocess"), EXECUTORS, f"{where}.kind")
    if address is not None and kind != "ray":  # else ignored without a word, as `--address` is not
        raise SpecError(f"{where}.address: applies to the ray executor only (executor.kind is {kind!r}); "
                        "remove it, or set kind: ray")
    return ExecutorSpec(kind=kind,
                        workers=as_int(data.get("workers", 1), f"{where}.workers", low=1, high=1024),
                        address=None if address is None else as_str(address, f"{where}.address", max_chars=1000))
