"""Engine profiles: what a serving engine takes from each card before its KV cache, read from the
YAML data files in `sonar/plan/engines/` (one file per engine, a block per version).

A profile's parameters (docs/plan.md, "Engine profiles"):
- memory_utilization_by_gpus: the fraction of each card the engine manages; keyed by the smallest
  GPU count it applies from (SGLang's default shrinks with tensor-parallel size);
- max_num_batched_tokens: tokens in the profile/prefill step (null: the whole prompt at once);
- activations_within_utilization: whether that step's activations come out of the fraction;
- cuda_graph_reserve_gb, block_size, caps_chunked_kv, replicate_kv_heads;
- unmodelled_overhead_gb: what the rest does not explain, calibrated on the facts in calibrated_on.
Each file also lists published facts (with their sources) and the recorded misses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from sonar.errors import UserError

EXACT = "exact"
ENGINES = (EXACT, "vllm", "sglang", "llama-stack")
_GB = 10**9


@dataclass(kw_only=True, frozen=True)
class EngineProfile:
    engine: str
    version: str
    summary: str
    memory_utilization_by_gpus: dict[int, float]
    max_num_batched_tokens: int | None
    activations_within_utilization: bool
    cuda_graph_reserve_gb: float
    block_size: int
    caps_chunked_kv: bool
    replicate_kv_heads: bool
    unmodelled_overhead_gb: float
    calibrated_on: tuple[str, ...]

    def __post_init__(self) -> None:
        where = f"engine profile {self.engine} {self.version}"
        if not self.memory_utilization_by_gpus or 1 not in self.memory_utilization_by_gpus:
            raise ValueError(f"{where}: memory_utilization_by_gpus needs an entry for 1 GPU")
        for gpus, fraction in self.memory_utilization_by_gpus.items():
            if not (isinstance(gpus, int) and gpus >= 1 and 0 < fraction <= 1):
                raise ValueError(f"{where}: memory_utilization_by_gpus {gpus}: {fraction} must be in (0, 1]")
        if self.max_num_batched_tokens is not None and self.max_num_batched_tokens < 1:
            raise ValueError(f"{where}: max_num_batched_tokens must be >= 1 or null")
        if self.block_size < 1:
            raise ValueError(f"{where}: block_size must be >= 1")
        for name in ("cuda_graph_reserve_gb", "unmodelled_overhead_gb"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ValueError(f"{where}: {name} must be a finite number >= 0")

    def memory_utilization(self, gpus: int) -> float:
        return self.memory_utilization_by_gpus[max(n for n in self.memory_utilization_by_gpus if n <= gpus)]

    @property
    def cuda_graph_reserve_bytes(self) -> int:
        return int(self.cuda_graph_reserve_gb * _GB)

    @property
    def unmodelled_overhead_bytes(self) -> int:
        return int(self.unmodelled_overhead_gb * _GB)


@dataclass(kw_only=True, frozen=True)
class PublishedFact:
    """A published deployment: either a maximum context or a fits / does-not-fit verdict at a context."""

    id: str
    engine: str
    version: str
    model: str
    weights: str
    gpu: str
    gpus: int
    source: dict[str, str]
    max_context: int | None = None
    context: int | None = None
    fits: bool | None = None

    def __post_init__(self) -> None:
        if (self.max_context is None) == (self.fits is None):
            raise ValueError(f"fact {self.id}: give either max_context or fits (with a context)")
        if self.fits is not None and self.context is None:
            raise ValueError(f"fact {self.id}: a verdict needs the context it was observed at")
        missing = {"project", "version", "date", "where"} - set(self.source)
        if missing:
            raise ValueError(f"fact {self.id}: source lacks {sorted(missing)}")


@dataclass(kw_only=True, frozen=True)
class EngineFile:
    engine: str
    default_version: str
    versions: dict[str, EngineProfile]
    published: tuple[PublishedFact, ...]
    misses: dict[str, str]  # fact id -> the assumption that breaks


@cache
def engine_file(engine: str) -> EngineFile:
    if engine not in ENGINES or engine == EXACT:
        raise UserError(f"--engine {engine!r}: unknown; choose one of {list(ENGINES)}")
    text = resources.files("sonar.plan").joinpath("engines", f"{engine}.yaml").read_text(encoding="utf-8")
    return _parse(yaml.safe_load(text))


def _parse(data: dict) -> EngineFile:
    engine = data["engine"]
    versions = {
        str(version): EngineProfile(
            engine=engine, version=str(version), summary=" ".join(str(block["summary"]).split()),
            memory_utilization_by_gpus={int(k): float(v) for k, v in block["memory_utilization_by_gpus"].items()},
            max_num_batched_tokens=block["max_num_batched_tokens"],
            activations_within_utilization=bool(block["activations_within_utilization"]),
            cuda_graph_reserve_gb=float(block["cuda_graph_reserve_gb"]),
            block_size=int(block["block_size"]),
            caps_chunked_kv=bool(block["caps_chunked_kv"]),
            replicate_kv_heads=bool(block["replicate_kv_heads"]),
            unmodelled_overhead_gb=float(block["unmodelled_overhead_gb"]),
            calibrated_on=tuple(block["calibrated_on"]),
        )
        for version, block in data["versions"].items()
    }
    published = tuple(
        PublishedFact(engine=engine, **{**fact, "version": str(fact["version"]),
                                       "source": {k: str(v) for k, v in fact["source"].items()}})
        for fact in data.get("published") or ()
    )
    ids = {fact.id for fact in published}
    misses = {miss["id"]: " ".join(miss["reason"].split()) for miss in data.get("misses") or ()}
    for profile in versions.values():
        unknown = set(profile.calibrated_on) - ids
        if unknown or len(profile.calibrated_on) > 2:
            raise ValueError(f"{engine} {profile.version}: calibrated_on {profile.calibrated_on} must name "
                             f"at most two published facts (unknown: {sorted(unknown)})")
    if set(misses) - ids:
        raise ValueError(f"{engine}: misses name unknown facts {sorted(set(misses) - ids)}")
    return EngineFile(engine=engine, default_version=str(data["default_version"]), versions=versions,
                      published=published, misses=misses)


def get_profile(engine: str, version: str | None = None) -> EngineProfile:
    """The profile of `engine` at `version` (default: the file's default_version)."""
    if engine == EXACT:
        if version is not None:
            raise UserError(f"--engine-version {version!r}: the exact planner has no versions")
        raise AssertionError("the exact planner has no engine profile; callers branch on EXACT first")
    file = engine_file(engine)
    version = file.default_version if version is None else version.strip().removeprefix("v")
    for known in file.versions:  # "0.8.3" selects the "0.8" profile
        if version == known or version.startswith(known + "."):
            return file.versions[known]
    raise UserError(f"--engine-version {version!r}: no {engine} profile for it; choose one of {list(file.versions)}")
