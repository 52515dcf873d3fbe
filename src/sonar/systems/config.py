"""SystemConfig: how to run a model (weight formats, kernels, compile, threads), validated on its own.

Whether a config suits a particular model and target (packing sizes, CUDA-only knobs) is decided by
sonar.systems.space, which sees both; this file only checks that each knob holds a known value.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from sonar import strict_json
from sonar.errors import UserError
from sonar.model.attention_kernels import ATTENTION_KERNELS
from sonar.model.moe_dispatch import MOE_DISPATCHES
from sonar.train.runtime import MAX_THREADS

# Weight formats, all weight-only: activations stay fp32 between layers; low-precision linears run
# their matmul with bf16 activations (the only vectorized path of torch's CPU int8/int4 kernels).
FORMATS = ("fp32", "fp32_io", "bf16", "int8", "int8_dq", "int4", "fp8", "fp8_mm", "int8_fbgemm", "fp32_mkldnn")
FORMAT_HELP = {
    "fp32": "fp32 weights as the model stores them (build_model: the wide linears input-major, the rest [out, in])",
    "fp32_io": "fp32 linear weights stored [in, out] (faster batch-1 GEMV on some CPUs); not for routed experts,"
               " which are stored that way already",
    "bf16": "bf16 weights stored [out, in], bf16 matmul",
    "int8": "int8 per-output-channel scales, torch._weight_int8pack_mm",
    "int8_dq": "int8 per-channel, dequantized in the graph (compile rewrites it into the int8 kernel)",
    "int4": "int4 group-wise asymmetric scales, torch._weight_int4pack_mm_for_cpu",
    "fp8": "float8 e4m3 per-row scales, dequantized to bf16 at use",
    "fp8_mm": "float8 e4m3 weights and activations (per-row scales) through torch._scaled_mm: the fp8 tensor-core"
              " GEMM of Hopper-class GPUs (compute capability 8.9+); CUDA targets only",
    "int8_fbgemm": "int8 per-channel weights prepacked by fbgemm, fp32 activations quantized per call"
                   " (dynamic int8); CPU, eager, not routed experts",
    "fp32_mkldnn": "fp32 weights prepacked in oneDNN's blocked layout (mkldnn _linear_pointwise); CPU, eager,"
                   " not routed experts",
}
# Bytes each weight element occupies in memory, scales excluded: the roofline and the cost model use it.
FORMAT_BYTES = {"fp32": 4.0, "fp32_io": 4.0, "bf16": 2.0, "int8": 1.0, "int8_dq": 1.0, "int4": 0.5, "fp8": 1.0,
                "fp8_mm": 1.0, "int8_fbgemm": 1.0, "fp32_mkldnn": 4.0}
SCOPES = ("routed", "shared", "attention", "dense", "head")
# reduce-overhead: CUDA graphs replay the whole compiled decode step in one launch (CUDA targets only).
# freezing: Inductor treats the weights as constants, folds them and prepacks the linears for oneDNN
# (CPU only); freezing-cpp-wrapper also replaces the Python wrapper around the kernels by C++.
# aot: the decode step exported and built ahead of time by AOTInductor, so a step runs without Dynamo's guards
# or a Python wrapper (systems/aot.py); prefill compiles as 'default'.
COMPILE_MODES = ("eager", "default", "max-autotune-no-cudagraphs", "reduce-overhead", "freezing",
                 "freezing-cpp-wrapper", "aot")
CPU_ONLY_COMPILE_MODES = ("freezing", "freezing-cpp-wrapper")
# Which fused attention kernel SDPA may use: auto (torch's choice), flash, efficient (memory-efficient), math.
SDPA_BACKENDS = ("auto", "flash", "efficient", "math")
INT4_GROUP_SIZES = (32, 64, 128, 256)
TARGETS = ("cpu", "cuda")


class SystemConfigError(UserError):
    """A system knob holds a value it cannot take; the message names the value and the rule."""


@dataclass(kw_only=True, frozen=True)
class SystemConfig:
    """One way to run a model. Weight scopes: `routed` experts, MoE `shared` expert, `attention`
    projections, `dense` FFN layers, and the `head` (lm_head). The router stays fp32 always:
    a flipped top-k choice changes the function, not just its precision."""

    weights_routed: str = "fp32"
    weights_shared: str = "fp32"
    weights_attention: str = "fp32"
    weights_dense: str = "fp32"
    weights_head: str = "fp32"
    int4_group_size: int = 128
    moe_dispatch: str = "grouped"
    attention: str = "chunk_blocked"
    sdpa_backend: str = "auto"
    compile: str = "eager"
    threads: int | None = None  # None: leave torch's intra-op thread count as found
    batch_size: int = 1  # rows decoded together in a throughput workload
    target: str = "cpu"

    def __post_init__(self) -> None:
        # Types first: a config read from JSON or YAML may hold "2" or 1.5 where a count belongs, and
        # the range checks below would fail on it with a TypeError instead of naming it.
        for name in ("moe_dispatch", "attention", "sdpa_backend", "compile", "target"):
            if not isinstance(getattr(self, name), str):
                raise SystemConfigError(f"{name}={getattr(self, name)!r}: must be a name (a string)")
        for name, optional in (("threads", True), ("batch_size", False), ("int4_group_size", False)):
            value = getattr(self, name)
            if not (optional and value is None) and (isinstance(value, bool) or not isinstance(value, int)):
                raise SystemConfigError(f"{name}={value!r}: must be a whole number{' or None' if optional else ''}")
        for scope in SCOPES:
            value = getattr(self, f"weights_{scope}")
            if value not in FORMATS:
                raise SystemConfigError(f"weights_{scope}={value!r}: must be one of {list(FORMATS)}")
        if self.int4_group_size not in INT4_GROUP_SIZES:
            raise SystemConfigError(f"int4_group_size={self.int4_group_size}: must be one of {list(INT4_GROUP_SIZES)}")
        if self.sdpa_backend not in SDPA_BACKENDS:
            raise SystemConfigError(f"sdpa_backend={self.sdpa_backend!r}: must be one of {list(SDPA_BACKENDS)}")
        if self.compile not in COMPILE_MODES:
            raise SystemConfigError(f"compile={self.compile!r}: must be one of {list(COMPILE_MODES)}")
        if self.threads is not None and not 1 <= self.threads <= MAX_THREADS:
            # torch's thread pool ends the process (a segfault) on a count like 100000
            raise SystemConfigError(f"threads={self.threads}: must be between 1 and {MAX_THREADS:,}, or None")
        if self.batch_size < 1:
            raise SystemConfigError(f"batch_size={self.batch_size}: must be >= 1")
        if self.target not in TARGETS:
            raise SystemConfigError(f"target={self.target!r}: must be one of {list(TARGETS)}")
        # Dispatch and attention names are looked up in the live registries as this config is built, since
        # entries are registered after import (the packed dispatches when sonar.systems loads, a test's own).
        # An unknown name was once accepted here and only failed later, or was silently dropped from a space.
        # Looked up, not listed: a tuner builds a config per combination of its space.
        for name, registry in (("moe_dispatch", MOE_DISPATCHES), ("attention", ATTENTION_KERNELS)):
            value = getattr(self, name)
            if value not in registry or "@" in value:
                raise SystemConfigError(f"{name}={value!r}: unknown; known: {', '.join(known_names(registry))}")

    def weight_format(self, scope: str) -> str:
        return getattr(self, f"weights_{scope}")

    def replace(self, **changes) -> SystemConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, text: str, where: str = "config") -> SystemConfig:
        """A config from a JSON object of knobs given on a command line; every malformation a SystemConfigError."""
        try:
            data = strict_json.loads(text)
        except json.JSONDecodeError as err:
            raise SystemConfigError(f"{where}: not JSON ({err})") from None
        if not isinstance(data, dict):
            raise SystemConfigError(f"{where}: a JSON object of system knobs is expected, got {type(data).__name__}")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> SystemConfig:
        if not isinstance(data, dict):
            raise SystemConfigError(f"a dict of system knobs is expected, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SystemConfigError(f"unknown system knobs {unknown}; known: {sorted(known)}")
        return cls(**data)

    def label(self) -> str:
        """A short human-readable name: the weight scheme, then the non-weight knobs."""
        formats = [self.weight_format(s) for s in SCOPES]
        weights = formats[0] if len(set(formats)) == 1 else "/".join(formats)
        threads = "" if self.threads is None else f" t{self.threads}"
        batch = "" if self.batch_size == 1 else f" b{self.batch_size}"
        attention = self.attention if self.sdpa_backend == "auto" else f"{self.attention}@{self.sdpa_backend}"
        return f"{weights} {self.moe_dispatch} {attention} {self.compile}{threads}{batch}"


def known_names(registry: dict) -> list[str]:
    """A registry's names a config may hold: not the attention kernels pinned to an SDPA backend, which
    sdpa_backends.py registers ('sdpa@flash:cpu') once used and the sdpa_backend knob picks."""
    return sorted(name for name in registry if "@" not in name)


def uniform_weights(fmt: str) -> dict:
    """Keyword arguments setting every scope to one format."""
    return {f"weights_{scope}": fmt for scope in SCOPES}


# Mixed schemes after Meta's llama-models quantization modes: int4_mixed quantizes the MoE experts
# (routed and shared) to int4 and keeps the rest bf16; fp8_mixed quantizes only the routed experts.
WEIGHT_SCHEMES: dict[str, dict] = {
    "fp32": uniform_weights("fp32"),
    "bf16": uniform_weights("bf16"),
    "int8": uniform_weights("int8"),
    "int8_dq": uniform_weights("int8_dq"),
    "int4": uniform_weights("int4"),
    "fp8": uniform_weights("fp8"),
    "int4_mixed": {**uniform_weights("bf16"), "weights_routed": "int4", "weights_shared": "int4"},
    "fp8_mixed": {**uniform_weights("bf16"), "weights_routed": "fp8"},
    "int8_experts": {**uniform_weights("bf16"), "weights_routed": "int8", "weights_shared": "int8"},
    # The MoE experts hold most of the bytes a token reads; leaving attention and the head in fp32
    # keeps the residual path at full precision for a small part of the traffic.
    "int8_moe": {**uniform_weights("fp32"), "weights_routed": "int8", "weights_shared": "int8"},
    "fp32_io": {**uniform_weights("fp32_io"), "weights_routed": "fp32"},
    "fp8_mm": uniform_weights("fp8_mm"),  # CUDA targets only (space.py); the CPU space drops it
    # Prepacked CPU linears (prepacked.py) everywhere but the routed experts, which stay fp32 or take
    # the packed-bank int8 kernel; eager only (space.py).
    "int8_fbgemm": {**uniform_weights("int8_fbgemm"), "weights_routed": "fp32"},
    # Dynamic int8 on the FFN linears only: per-tensor activation quantization costs most accuracy
    # at the attention projections and the head, whose outputs are the logits.
    "int8_fbgemm_ffn": {**uniform_weights("fp32_io"), "weights_dense": "int8_fbgemm",
                        "weights_shared": "int8_fbgemm", "weights_routed": "int8"},
    "fp32_mkldnn": {**uniform_weights("fp32_mkldnn"), "weights_routed": "fp32"},
}
