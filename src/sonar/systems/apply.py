"""Apply a SystemConfig to a built model from outside: swap linears and experts for formatted ones,
pick the attention kernel and MoE dispatch, and wrap prefill and decode in torch.compile (or compile the
decode step ahead of time, aot.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from sonar.model.generation import decode_step
from sonar.model.moe import MoE
from sonar.systems import sdpa_backends
from sonar.systems.aot import AotDecode
from sonar.systems.config import SystemConfig
from sonar.systems.experts import PackedExperts
from sonar.systems.linear_layout import InputMajorLinear
from sonar.systems.prepacked import PREPACKED_FORMATS, PrepackedLinear
from sonar.systems.quant import FormattedLinear
from sonar.systems.space import PACKED_DISPATCHES, check

INDUCTOR_OPTIONS = {"freezing": {"freezing": True}, "freezing-cpp-wrapper": {"freezing": True, "cpp_wrapper": True}}


@dataclass
class Prepared:
    """A transformed model and the two entry points a workload times."""

    model: nn.Module
    prefill: Callable[..., object]  # prefill(input_ids, cache=None) -> ModelOutput
    decode: Callable[..., torch.Tensor]  # decode(token_B1, position_1, cache) -> logits [B, V]
    config: SystemConfig


def _linears_by_scope(model) -> dict[str, list[tuple[nn.Module, str]]]:
    """(parent module, attribute name) of every linear, grouped by weight scope; the router is left out."""
    scopes: dict[str, list[tuple[nn.Module, str]]] = {s: [] for s in ("shared", "attention", "dense", "head")}
    for block in model.layers:
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            scopes["attention"].append((block.attn, name))
        ffn = block.ffn
        owner, scope = (ffn.shared_expert, "shared") if isinstance(ffn, MoE) else (ffn, "dense")
        for name in ("gate_proj", "up_proj", "down_proj"):
            scopes[scope].append((owner, name))
    scopes["head"].append((model, "lm_head"))
    return scopes


@torch.no_grad()
def transform(model: nn.Module, config: SystemConfig, *, copy_first: bool = True) -> nn.Module:
    """The model with `config`'s weight formats and kernels; compile is left to `prepare`."""
    check(config, model.config)
    if copy_first:
        model = copy.deepcopy(model)
    model.eval()
    group = config.int4_group_size
    for scope, sites in _linears_by_scope(model).items():
        fmt = config.weight_format(scope)
        if fmt == "fp32":
            continue
        for parent, name in sites:
            if fmt == "fp32_io":
                setattr(parent, name, InputMajorLinear(getattr(parent, name)))
                continue
            if fmt in PREPACKED_FORMATS:
                setattr(parent, name, PrepackedLinear(getattr(parent, name), fmt))
                continue
            setattr(parent, name, FormattedLinear(getattr(parent, name), fmt, group_size=group))
    attention = sdpa_backends.kernel_name(config.attention, config.sdpa_backend, config.target)
    for block in model.layers:
        block.attn.kernel_name = attention
        if isinstance(block.ffn, MoE):
            block.ffn.dispatch_name = config.moe_dispatch
            if config.moe_dispatch in PACKED_DISPATCHES:
                experts = block.ffn.experts
                block.ffn.experts = PackedExperts(
                    experts.gate_up_proj, experts.down_proj, config.weights_routed, group_size=group
                )
    if config.target == "cuda":
        model = model.to("cuda")
    return model


def prepare(model: nn.Module, config: SystemConfig, *, copy_first: bool = True) -> Prepared:
    """Transform, then compile per `config.compile`. Compilation itself happens at the first call,
    so a compile error surfaces there (the harness records it as a failed trial)."""
    model = transform(model, config, copy_first=copy_first)

    def step(token_B1, position_1, cache):
        return decode_step(model, token_B1, position_1, cache)

    if config.compile == "eager":
        return Prepared(model=model, prefill=model, decode=step, config=config)
    torch._dynamo.reset()  # graphs from an earlier trial must not be reused or count against limits
    # Static shapes: the position is a tensor and the cache is preallocated, so one decode graph
    # serves every position; prefill is timed at one fixed length per workload.
    if config.compile == "reduce-overhead":
        # CUDA graphs serve decode, where launches dominate; prefill compiles without them.
        prefill = torch.compile(model, mode="default", dynamic=False)
        return Prepared(model=model, prefill=prefill, decode=graphed_decode(step), config=config)
    if config.compile == "aot":  # the decode step ahead of time (aot.py); prefill as 'default'
        return Prepared(model=model, prefill=torch.compile(model, mode="default", dynamic=False),
                        decode=AotDecode(model), config=config)
    if config.compile in INDUCTOR_OPTIONS:  # Inductor settings, not a named mode
        prefill = torch.compile(model, options=INDUCTOR_OPTIONS[config.compile], dynamic=False)
        decode = torch.compile(step, options=INDUCTOR_OPTIONS[config.compile], dynamic=False)
        return Prepared(model=model, prefill=prefill, decode=decode, config=config)
    prefill = torch.compile(model, mode=config.compile, dynamic=False)
    decode = torch.compile(step, mode=config.compile, dynamic=False)
    return Prepared(model=model, prefill=prefill, decode=decode, config=config)


def graphed_decode(step: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """The decode step compiled with mode reduce-overhead, so one CUDA graph replays it whole. The
    cache's tensors are updated in place on every step: marked as static addresses, the graph writes
    them where they live rather than skipping capture. A replay overwrites its output buffer, so each
    step's logits are copied out before the next one runs."""
    compiled = torch.compile(step, mode="reduce-overhead", dynamic=False)
    marked: set[int] = set()

    def decode(token_B1, position_1, cache):
        if id(cache) not in marked:
            for layer in cache.layers:
                if layer is not None:
                    for t in (layer.k_BKSD, layer.v_BKSD, layer.pos_S):
                        torch._dynamo.mark_static_address(t)
            marked.add(id(cache))
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(token_B1, position_1, cache).clone()

    return decode
