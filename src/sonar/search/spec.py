"""The search specification: one YAML file, validated whole before any compute.

Every error names the key it is about, e.g. `arch.hidden_size.choices[2]: 'big' is not an integer`.
The architecture space (arch_space.py) edits a preset's ModelConfig; the system space and workload
(system_space.py) are passed through to the systems package and checked by it. This module holds the
rest of the spec and parses the whole, so a spec is either accepted entirely or rejected with one error.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sonar.errors import UserError
from sonar.search.arch_space import ArchSpace, parse_arch_space
from sonar.search.arch_space import Param as Param  # re-exported: its home before the split
from sonar.search.space import sample_architectures
from sonar.search.spec_fields import SpecError, as_int, as_number, mapping_under, no_unknown_keys, one_of
from sonar.search.system_space import parse_system_space, parse_workload
from sonar.search.system_space import workload_text as workload_text  # re-exported: backends.py reads it with the spec

SCHEDULERS = ("sonar", "brute", "sequential", "random", "asha")
OBJECTIVES = ("constraint", "pareto", "scalarized")
EXECUTORS = ("inprocess", "pool", "ray", "simulated")
BACKENDS = ("real", "synthetic")


@dataclass(kw_only=True, frozen=True)
class Objective:
    kind: str = "constraint"
    latency_s: float | None = None  # constraint mode: the latency bound L
    memory_bytes: float | None = None  # constraint mode: the optional memory bound M
    loss_weight: float = 1.0  # scalarized: reward = loss_weight * loss + latency_weight * latency_s
    latency_weight: float = 0.0


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
    name: str
    device: str = "cpu"
    resources: dict = field(default_factory=dict)  # Ray custom resources a tuning job asks for


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


def load_spec(path: str | Path) -> SearchSpec:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML ({err})") from None
    return parse_spec(data)


def parse_spec(data: object) -> SearchSpec:
    """Validate a whole spec dict; every problem raises SpecError naming its key."""
    if not isinstance(data, dict):
        raise SpecError(f"<root>: expected a mapping of keys, got {type(data).__name__}")
    known = {"name", "arch", "system", "workload", "targets", "data", "objective", "budget", "scheduler", "eta",
             "seed", "executor", "backend", "synthetic", "training", "rules"}
    no_unknown_keys(data, known, "")
    spec = SearchSpec(
        name=str(data.get("name", "search")),
        budget=_budget(mapping_under(data, "budget", required=True), "budget"),
        arch=parse_arch_space(mapping_under(data, "arch"), "arch"),
        system=parse_system_space(mapping_under(data, "system"), "system"),
        workload=parse_workload(mapping_under(data, "workload")),
        targets=_targets(data.get("targets", [{"name": "cpu"}]), "targets"),
        data=_data(data.get("data", {"corpus": "builtin"}), "data"),
        objective=_objective(mapping_under(data, "objective"), "objective"),
        scheduler=one_of(data.get("scheduler", "sonar"), SCHEDULERS, "scheduler"),
        eta=as_int(data.get("eta", 3), "eta", low=2),
        seed=as_int(data.get("seed", 0), "seed", low=0),
        executor=_executor(mapping_under(data, "executor"), "executor"),
        backend=one_of(data.get("backend", "real"), BACKENDS, "backend"),
        synthetic=mapping_under(data, "synthetic"),
        training=mapping_under(data, "training"),
        rules=_rules(mapping_under(data, "rules"), "rules"),
        raw=data,
    )
    try:
        sample_architectures(spec.arch, seed=spec.seed, count=1)
    except SpecError:
        raise
    except UserError as err:
        raise SpecError(f"arch: {err}") from None
    return spec


def _rules(data: dict, where: str) -> dict:
    from sonar.search.schedulers.policy import SONAR_RULES

    try:
        SONAR_RULES.overridden(data, where)
    except UserError as err:
        raise SpecError(str(err)) from None
    return dict(data)


def _budget(data: dict, where: str) -> Budget:
    no_unknown_keys(data, {"max_steps", "min_steps", "max_trials", "min_trials", "candidates", "cost_s"}, where)
    for key in ("max_steps", "max_trials", "candidates"):
        if key not in data:
            raise SpecError(f"{where}.{key}: required")
    max_steps = as_int(data["max_steps"], f"{where}.max_steps", low=1)
    max_trials = as_int(data["max_trials"], f"{where}.max_trials", low=1)
    min_steps = as_int(data.get("min_steps", max(1, max_steps // 9)), f"{where}.min_steps", low=1)
    min_trials = as_int(data.get("min_trials", max(1, max_trials // 9)), f"{where}.min_trials", low=1)
    if min_steps > max_steps:
        raise SpecError(f"{where}.min_steps: {min_steps} exceeds max_steps={max_steps}")
    if min_trials > max_trials:
        raise SpecError(f"{where}.min_trials: {min_trials} exceeds max_trials={max_trials}")
    cost = as_number(data["cost_s"], f"{where}.cost_s", positive=True) if "cost_s" in data else math.inf
    return Budget(max_steps=max_steps, min_steps=min_steps, max_trials=max_trials, min_trials=min_trials,
                  candidates=as_int(data["candidates"], f"{where}.candidates", low=1), cost_s=cost)


def _targets(data: object, where: str) -> tuple[Target, ...]:
    if not isinstance(data, list) or not data:
        raise SpecError(f"{where}: expected a non-empty list of targets")
    targets = []
    for i, item in enumerate(data):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise SpecError(f"{where}[{i}]: expected a mapping with a name")
        no_unknown_keys(item, {"name", "device", "resources"}, f"{where}[{i}]")
        resources = item.get("resources", {}) or {}
        if not isinstance(resources, dict):
            raise SpecError(f"{where}[{i}].resources: expected a mapping of Ray resource -> amount")
        for key, amount in resources.items():
            as_number(amount, f"{where}[{i}].resources.{key}", positive=True)
        targets.append(Target(name=str(item["name"]), device=str(item.get("device", "cpu")), resources=resources))
    return tuple(targets)


def _data(data: object, where: str) -> dict:
    if not isinstance(data, dict) or len({"corpus", "path"} & set(data)) != 1:
        raise SpecError(f"{where}: expected {{corpus: builtin}} or {{path: FILE}}")
    if "path" in data and not isinstance(data["path"], str):
        raise SpecError(f"{where}.path: expected a file path")
    if "path" in data and not Path(data["path"]).exists():
        raise SpecError(f"{where}.path: {data['path']} does not exist")
    return dict(data)


def _objective(data: dict, where: str) -> Objective:
    no_unknown_keys(data, {"kind", "latency_s", "memory_bytes", "weights"}, where)
    kind = one_of(data.get("kind", "constraint"), OBJECTIVES, f"{where}.kind")
    latency = data.get("latency_s")
    memory = data.get("memory_bytes")
    if kind == "constraint" and latency is None:
        raise SpecError(f"{where}.latency_s: required in constraint mode")
    weights = data.get("weights", {}) or {}
    if not isinstance(weights, dict):
        raise SpecError(f"{where}.weights: expected {{loss: W, latency_s: W}}")
    no_unknown_keys(weights, {"loss", "latency_s"}, f"{where}.weights")
    if kind == "scalarized" and "latency_s" not in weights:
        raise SpecError(f"{where}.weights.latency_s: required in scalarized mode")
    return Objective(
        kind=kind,
        latency_s=None if latency is None else as_number(latency, f"{where}.latency_s", positive=True),
        memory_bytes=None if memory is None else as_number(memory, f"{where}.memory_bytes", positive=True),
        loss_weight=as_number(weights.get("loss", 1.0), f"{where}.weights.loss"),
        latency_weight=as_number(weights.get("latency_s", 0.0), f"{where}.weights.latency_s"),
    )


def _executor(data: dict, where: str) -> ExecutorSpec:
    no_unknown_keys(data, {"kind", "workers", "address"}, where)
    return ExecutorSpec(kind=one_of(data.get("kind", "inprocess"), EXECUTORS, f"{where}.kind"),
                        workers=as_int(data.get("workers", 1), f"{where}.workers", low=1),
                        address=data.get("address"))
