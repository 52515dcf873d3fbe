"""The search space: which SystemConfigs a model and target admit (checked before anything runs),
and the enumeration of the configs the tuner may propose."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import torch

from sonar.model.attention_kernels import ATTENTION_KERNELS
from sonar.model.config import ModelConfig
from sonar.model.layout import layer_plans
from sonar.model.moe_dispatch import MOE_DISPATCHES
from sonar.systems import experts as _experts  # noqa: F401  registers the packed dispatches
from sonar.systems.config import SCOPES, WEIGHT_SCHEMES, SystemConfig, SystemConfigError

PACKED_DISPATCHES = ("packed_grouped", "packed_gather")
# Dispatches that read expert counts back to the host (.tolist()): under torch.compile the loop
# over those counts is specialized on their values, so the graph recompiles as routing changes.
HOST_SYNC_DISPATCHES = ("grouped", "packed_grouped")
INT4_N_MULTIPLE = 16  # torch's CPU int4 packing tiles output features by 16


def weight_shapes(model: ModelConfig) -> dict[str, list[tuple[int, int]]]:
    """(out, in) of every weight in each scope that this architecture has."""
    D, F, Fm = model.hidden_size, model.intermediate_size, model.intermediate_size_mlp
    H, K, hd = model.num_attention_heads, model.num_key_value_heads, model.resolved_head_dim
    plans = layer_plans(model)
    shapes: dict[str, list[tuple[int, int]]] = {
        "attention": [(H * hd, D), (K * hd, D), (D, H * hd)],
        "head": [(model.vocab_size, D)],
    }
    if any(p.is_moe for p in plans):
        shapes["routed"] = [(2 * F, D), (D, F)]
        shapes["shared"] = [(F, D), (D, F)]
    if not all(p.is_moe for p in plans):
        shapes["dense"] = [(Fm, D), (D, Fm)]
    return shapes


def has_cuda_kernel(op: str) -> bool:
    """Whether this torch build registers a CUDA kernel for aten operator `op` (some weight-only
    kernels exist for the CPU only, or only from some torch version on)."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{op}", "CUDA")


def check(config: SystemConfig, model: ModelConfig, *, workload_kind: str | None = None) -> None:
    """Raise SystemConfigError naming the broken rule if `config` cannot run `model` on its target."""
    if config.moe_dispatch not in MOE_DISPATCHES:
        raise SystemConfigError(f"moe_dispatch={config.moe_dispatch!r}: must be one of {sorted(MOE_DISPATCHES)}")
    if config.attention not in ATTENTION_KERNELS:
        raise SystemConfigError(f"attention={config.attention!r}: must be one of {sorted(ATTENTION_KERNELS)}")
    routed = config.weights_routed
    if routed == "fp32_io":
        raise SystemConfigError(
            "weights_routed='fp32_io': routed experts are already stored [in, out]; use 'fp32'"
        )
    if routed != "fp32" and config.moe_dispatch not in PACKED_DISPATCHES:
        raise SystemConfigError(
            f"weights_routed={routed!r} with moe_dispatch={config.moe_dispatch!r}: re-laid-out experts need a "
            f"packed dispatch, one of {list(PACKED_DISPATCHES)}"
        )
    if routed == "int4" and config.moe_dispatch == "packed_gather":
        raise SystemConfigError(
            "weights_routed='int4' with moe_dispatch='packed_gather': int4 tiles are packed per expert and "
            "cannot be gathered; use 'packed_grouped'"
        )
    if config.compile != "eager" and config.moe_dispatch in HOST_SYNC_DISPATCHES:
        raise SystemConfigError(
            f"compile={config.compile!r} with moe_dispatch={config.moe_dispatch!r}: that dispatch reads expert "
            "counts to the host, so the compiled graph would recompile as routing changes; use one of "
            f"{sorted(set(MOE_DISPATCHES) - set(HOST_SYNC_DISPATCHES))}"
        )
    shapes = weight_shapes(model)
    for scope in SCOPES:
        if config.weight_format(scope) != "int4" or scope not in shapes:
            continue
        for out_f, in_f in shapes[scope]:
            if out_f % INT4_N_MULTIPLE:
                raise SystemConfigError(
                    f"weights_{scope}='int4': a [{out_f}, {in_f}] weight has {out_f} output features, "
                    f"not a multiple of {INT4_N_MULTIPLE} as the CPU int4 packing needs"
                )
            if in_f % config.int4_group_size:
                raise SystemConfigError(
                    f"weights_{scope}='int4' with int4_group_size={config.int4_group_size}: a [{out_f}, {in_f}] "
                    f"weight has {in_f} input features, not divisible by the group size"
                )
    if config.threads is not None and config.threads > (os.cpu_count() or 1):
        raise SystemConfigError(f"threads={config.threads}: this machine has {os.cpu_count()} cores")
    if config.target == "cuda":
        if not torch.cuda.is_available():
            raise SystemConfigError("target='cuda': no CUDA device is available to this process")
        formats = {config.weight_format(s) for s in SCOPES}
        if "int4" in formats:
            raise SystemConfigError("target='cuda' with an int4 scope: only the CPU int4 packing is implemented")
        if "int8" in formats and not has_cuda_kernel("_weight_int8pack_mm"):
            raise SystemConfigError(
                "target='cuda' with an int8 scope: this torch build has no CUDA kernel for "
                "torch._weight_int8pack_mm; use 'int8_dq' (the same weights, dequantized in the graph)"
            )
        if config.threads is not None:
            raise SystemConfigError("target='cuda': threads is a CPU knob; leave it None")
    if workload_kind is not None and workload_kind != "throughput" and config.batch_size != 1:
        raise SystemConfigError(
            f"batch_size={config.batch_size} with a {workload_kind} workload: the batch is part of a latency "
            "workload's definition (b=...); batch_size applies to throughput workloads only"
        )


def is_valid(config: SystemConfig, model: ModelConfig, *, workload_kind: str | None = None) -> bool:
    try:
        check(config, model, workload_kind=workload_kind)
    except SystemConfigError:
        return False
    return True


@dataclass(kw_only=True, frozen=True)
class SearchSpace:
    """The knob values to combine; invalid combinations are dropped, never proposed."""

    schemes: tuple[str, ...] = tuple(WEIGHT_SCHEMES)
    dispatches: tuple[str, ...] = ("grouped", "gather", "dense", *PACKED_DISPATCHES)
    attentions: tuple[str, ...] = ("chunk_blocked", "sdpa", "eager")
    compiles: tuple[str, ...] = ("eager",)
    threads: tuple[int | None, ...] = (None,)
    batch_sizes: tuple[int, ...] = (1,)
    int4_group_sizes: tuple[int, ...] = (128, 32)
    target: str = "cpu"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.schemes) - set(WEIGHT_SCHEMES))
        if unknown:
            raise SystemConfigError(f"schemes {unknown}: unknown; choose from {sorted(WEIGHT_SCHEMES)}")
        for name, values in (("schemes", self.schemes), ("dispatches", self.dispatches),
                             ("attentions", self.attentions), ("compiles", self.compiles)):
            if not values:
                raise SystemConfigError(f"SearchSpace.{name} is empty: give at least one value")

    def configs(self, model: ModelConfig, *, workload_kind: str | None = None) -> list[SystemConfig]:
        """Every valid combination, in a fixed order (the tuner reorders them)."""
        out, seen = [], set()
        for scheme, dispatch, attention, mode, threads, batch, group in itertools.product(
            self.schemes, self.dispatches, self.attentions, self.compiles, self.threads,
            self.batch_sizes, self.int4_group_sizes,
        ):
            weights = WEIGHT_SCHEMES[scheme]
            if "int4" not in weights.values() and group != self.int4_group_sizes[0]:
                continue  # the group size only matters to int4 schemes
            config = SystemConfig(
                **weights, int4_group_size=group, moe_dispatch=dispatch, attention=attention, compile=mode,
                threads=threads, batch_size=batch, target=self.target,
            )
            key = tuple(sorted(config.to_dict().items()))
            if key not in seen and is_valid(config, model, workload_kind=workload_kind):
                seen.add(key)
                out.append(config)
        return out
