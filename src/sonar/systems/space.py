"""The search space: which SystemConfigs a model and target admit (checked before anything runs),
and the enumeration of the configs the tuner may propose."""

from __future__ import annotations

import functools
import itertools
import os
from dataclasses import dataclass

import torch

from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.model.attention_kernels import ATTENTION_KERNELS
from sonar.model.config import ModelConfig, require_model_config
from sonar.model.layout import layer_plans
from sonar.model.moe_dispatch import MOE_DISPATCHES
from sonar.systems import experts as _experts  # noqa: F401  registers the packed dispatches
from sonar.systems.config import (
    COMPILE_MODES,
    CPU_ONLY_COMPILE_MODES,
    SCOPES,
    TARGETS,
    WEIGHT_SCHEMES,
    SystemConfig,
    SystemConfigError,
)
from sonar.systems.prepacked import PREPACKED_FORMATS, fbgemm_available, mkldnn_available
from sonar.systems.workload import KINDS

PACKED_DISPATCHES = ("packed_grouped", "packed_gather", "packed_grouped_mm")
# Dispatches that read expert counts back to the host (.tolist()): under torch.compile the loop
# over those counts is specialized on their values, so the graph recompiles as routing changes.
HOST_SYNC_DISPATCHES = ("grouped", "packed_grouped")
INT4_N_MULTIPLE = 16  # torch's CPU int4 packing tiles output features by 16
FP8_MM_MULTIPLE = 16  # torch._scaled_mm wants both dimensions of the weight in multiples of 16


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


@functools.cache
def cuda_kernel_runs(op: str) -> bool:
    """Whether a tiny call of `op` ("_scaled_mm" row-wise, "_grouped_mm" in bf16) runs on this
    machine's GPU: both need a recent GPU (fp8 tensor cores from compute capability 8.9, row-wise
    scales and grouped GEMM from 9.0 in current torch), which a probe tells more surely than a table."""
    if not torch.cuda.is_available():
        return False
    try:
        if op == "_scaled_mm":
            a = torch.ones(16, 16, device="cuda").to(torch.float8_e4m3fn)
            torch._scaled_mm(a, a.t(), scale_a=torch.ones(16, 1, device="cuda"),
                             scale_b=torch.ones(1, 16, device="cuda"), out_dtype=torch.bfloat16)
        elif op == "_grouped_mm":
            x = torch.ones(32, 16, device="cuda", dtype=torch.bfloat16)
            w = torch.ones(2, 16, 16, device="cuda", dtype=torch.bfloat16)
            torch._grouped_mm(x, w, offs=torch.tensor([16, 32], device="cuda", dtype=torch.int32))
        else:
            raise ValueError(f"no probe for {op!r}")
        torch.cuda.synchronize()
    except (RuntimeError, NotImplementedError):
        return False
    return True


def check(config: SystemConfig, model: ModelConfig, *, workload_kind: str | None = None) -> None:
    """Raise SystemConfigError naming the broken rule if `config` cannot run `model` on its target."""
    if not isinstance(config, SystemConfig):
        raise UserError(f"config: expected a SystemConfig, got {type(config).__name__}")
    require_model_config(model, "model")
    check_workload_kind(workload_kind)
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
    if config.moe_dispatch == "packed_grouped_mm" and routed != "bf16":
        raise SystemConfigError(
            f"moe_dispatch='packed_grouped_mm' with weights_routed={routed!r}: the grouped GEMM multiplies bf16 "
            "expert banks; set weights_routed='bf16'"
        )
    if routed == "fp8_mm" and config.moe_dispatch != "packed_grouped":
        raise SystemConfigError(
            f"weights_routed='fp8_mm' with moe_dispatch={config.moe_dispatch!r}: the fp8 GEMM runs per expert; "
            "use 'packed_grouped'"
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
    _check_fp8_mm_shapes(config, shapes)
    _check_prepacked(config)
    _check_sdpa_backend(config, workload_kind)
    if config.threads is not None and config.threads > (os.cpu_count() or 1):
        raise SystemConfigError(f"threads={config.threads}: this machine has {os.cpu_count()} cores")
    if config.target != "cuda":
        _check_cuda_only(config)
    if config.target != "cpu" and config.compile in CPU_ONLY_COMPILE_MODES:
        raise SystemConfigError(
            f"compile={config.compile!r} with target={config.target!r}: freezing's gain is prepacking weights for "
            "the CPU's oneDNN kernels; use 'default' or 'reduce-overhead' on CUDA"
        )
    if config.target == "cuda":
        if not torch.cuda.is_available():
            raise SystemConfigError("target='cuda': no CUDA device is available to this process")
        if "fp8_mm" in {config.weight_format(s) for s in SCOPES} and not cuda_kernel_runs("_scaled_mm"):
            raise SystemConfigError(
                f"target='cuda' with an fp8_mm scope: torch._scaled_mm with row-wise scales does not run on this "
                f"GPU ({torch.cuda.get_device_name()}); it needs fp8 tensor cores (Hopper); use 'fp8'"
            )
        if config.moe_dispatch == "packed_grouped_mm" and not cuda_kernel_runs("_grouped_mm"):
            raise SystemConfigError(
                f"moe_dispatch='packed_grouped_mm': torch._grouped_mm does not run on this GPU "
                f"({torch.cuda.get_device_name()}); use 'packed_grouped'"
            )
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


def _check_cuda_only(config: SystemConfig) -> None:
    """Knobs that exist for CUDA targets only."""
    if config.compile == "reduce-overhead":
        raise SystemConfigError(
            f"compile='reduce-overhead' with target={config.target!r}: it replays CUDA graphs; use 'default' on "
            "the CPU"
        )
    fp8_scopes = [s for s in SCOPES if config.weight_format(s) == "fp8_mm"]
    if fp8_scopes:
        raise SystemConfigError(
            f"weights_{fp8_scopes[0]}='fp8_mm' with target={config.target!r}: the fp8 GEMM is a GPU tensor-core "
            "kernel; use 'fp8' (e4m3 weights dequantized at use) on the CPU"
        )
    if config.sdpa_backend == "efficient":
        raise SystemConfigError(
            f"sdpa_backend='efficient' with target={config.target!r}: the memory-efficient kernel exists on CUDA "
            "only; use 'flash' or 'math'"
        )


def _check_prepacked(config: SystemConfig) -> None:
    """Vendor-prepacked CPU linears (prepacked.py): opaque weights, so eager only, CPU only, no expert banks."""
    scopes = [s for s in SCOPES if config.weight_format(s) in PREPACKED_FORMATS]
    if not scopes:
        return
    fmt = config.weight_format(scopes[0])
    if "routed" in scopes:
        raise SystemConfigError(
            f"weights_routed={config.weights_routed!r}: prepacked formats replace single linears; routed experts "
            "are stacked banks; use 'int8' with a packed dispatch"
        )
    if config.target != "cpu":
        raise SystemConfigError(
            f"weights_{scopes[0]}={fmt!r} with target={config.target!r}: fbgemm and oneDNN prepacking are CPU "
            "kernels; use 'int8_dq' or 'bf16' on CUDA"
        )
    if config.compile != "eager":
        raise SystemConfigError(
            f"weights_{scopes[0]}={fmt!r} with compile={config.compile!r}: the prepacked weight is opaque to "
            "torch.compile; use compile='eager'"
        )
    formats = {config.weight_format(s) for s in scopes}
    if "int8_fbgemm" in formats and not fbgemm_available():
        raise SystemConfigError("weights 'int8_fbgemm': this torch build has no x86 (fbgemm) quantized engine")
    if "fp32_mkldnn" in formats and not mkldnn_available():
        raise SystemConfigError("weights 'fp32_mkldnn': this torch build has no oneDNN (mkldnn) support")


def _check_sdpa_backend(config: SystemConfig, workload_kind: str | None) -> None:
    if config.sdpa_backend == "auto":
        return
    if config.attention == "eager":
        raise SystemConfigError(
            f"sdpa_backend={config.sdpa_backend!r} with attention='eager': eager attention does not call SDPA; "
            "use attention 'sdpa' or 'chunk_blocked'"
        )
    if config.compile != "eager":
        raise SystemConfigError(
            f"sdpa_backend={config.sdpa_backend!r} with compile={config.compile!r}: the backend is pinned in "
            "eager mode only (a compiled graph picks its own kernel); use compile='eager' or sdpa_backend='auto'"
        )
    if config.sdpa_backend == "flash" and config.target == "cuda":
        if config.attention != "chunk_blocked":
            raise SystemConfigError(
                f"sdpa_backend='flash' with attention={config.attention!r} on CUDA: flash takes no mask, and "
                "only chunk_blocked computes chunked prefill without one"
            )
        if workload_kind is not None and workload_kind != "prefill":
            raise SystemConfigError(
                f"sdpa_backend='flash' with a {workload_kind} workload on CUDA: a decode step attends through "
                "a mask over the cache, which flash does not take; flash suits prefill workloads"
            )


def _check_fp8_mm_shapes(config: SystemConfig, shapes: dict[str, list[tuple[int, int]]]) -> None:
    for scope in SCOPES:
        if config.weight_format(scope) != "fp8_mm" or scope not in shapes:
            continue
        for out_f, in_f in shapes[scope]:
            if out_f % FP8_MM_MULTIPLE or in_f % FP8_MM_MULTIPLE:
                raise SystemConfigError(
                    f"weights_{scope}='fp8_mm': a [{out_f}, {in_f}] weight; torch._scaled_mm needs both "
                    f"dimensions in multiples of {FP8_MM_MULTIPLE}"
                )


def check_workload_kind(kind: object) -> None:
    """A workload kind as given (a typo was read as a latency workload), or None for no workload."""
    if kind is not None and kind not in KINDS:
        raise UserError(f"workload_kind={kind!r}: must be one of {list(KINDS)}, or None")


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
    sdpa_backends: tuple[str, ...] = ("auto",)
    compiles: tuple[str, ...] = ("eager",)
    threads: tuple[int | None, ...] = (None,)
    batch_sizes: tuple[int, ...] = (1,)
    int4_group_sizes: tuple[int, ...] = (128, 32)
    target: str = "cpu"

    def __post_init__(self) -> None:
        check_types(self)
        unknown = sorted(set(self.schemes) - set(WEIGHT_SCHEMES))
        if unknown:
            raise SystemConfigError(f"schemes {unknown}: unknown; choose from {sorted(WEIGHT_SCHEMES)}")
        unknown = [mode for mode in self.compiles if mode not in COMPILE_MODES]
        if unknown:  # else only found when the tuner reaches a compiled trial
            raise SystemConfigError(f"compiles {unknown}: unknown; choose from {list(COMPILE_MODES)}")
        for name, values in (("schemes", self.schemes), ("dispatches", self.dispatches),
                             ("attentions", self.attentions), ("sdpa_backends", self.sdpa_backends),
                             ("compiles", self.compiles), ("threads", self.threads),
                             ("batch_sizes", self.batch_sizes), ("int4_group_sizes", self.int4_group_sizes)):
            if not values:
                raise SystemConfigError(f"SearchSpace.{name} is empty: give at least one value")
            repeated = sorted({repr(v) for i, v in enumerate(values) if v in values[:i]})
            if repeated:  # as the spec's system section refuses: a repeat is a typo for another value
                raise SystemConfigError(f"SearchSpace.{name}: {', '.join(repeated)} repeats; give each value once")
        if self.target not in TARGETS:
            raise SystemConfigError(f"target={self.target!r}: must be one of {list(TARGETS)}")
        # Every value as SystemConfig takes it: an unknown dispatch or attention name made no config valid, so
        # the space came out silently empty, and a bad count failed only once the tuner enumerated it.
        for name, knob in (("dispatches", "moe_dispatch"), ("attentions", "attention"),
                           ("sdpa_backends", "sdpa_backend"), ("threads", "threads"), ("batch_sizes", "batch_size"),
                           ("int4_group_sizes", "int4_group_size")):
            for value in getattr(self, name):
                try:
                    SystemConfig(**{knob: value})
                except SystemConfigError as err:
                    raise SystemConfigError(f"SearchSpace.{name}: {err}") from None

    def configs(self, model: ModelConfig, *, workload_kind: str | None = None) -> list[SystemConfig]:
        """Every valid combination, in a fixed order (the tuner reorders them)."""
        require_model_config(model, "model")
        check_workload_kind(workload_kind)
        out, seen = [], set()
        for scheme, dispatch, attention, backend, mode, threads, batch, group in itertools.product(
            self.schemes, self.dispatches, self.attentions, self.sdpa_backends, self.compiles, self.threads,
            self.batch_sizes, self.int4_group_sizes,
        ):
            weights = WEIGHT_SCHEMES[scheme]
            if "int4" not in weights.values() and group != self.int4_group_sizes[0]:
                continue  # the group size only matters to int4 schemes
            config = SystemConfig(
                **weights, int4_group_size=group, moe_dispatch=dispatch, attention=attention,
                sdpa_backend=backend, compile=mode,
                threads=threads, batch_size=batch, target=self.target,
            )
            key = tuple(sorted(config.to_dict().items()))
            if key not in seen and is_valid(config, model, workload_kind=workload_kind):
                seen.add(key)
                out.append(config)
        return out
