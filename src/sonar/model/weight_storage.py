"""Where a linear weight's numbers lie in memory: input-major for the wide linears.

A bias-free linear computes x @ W.T with W shaped [out, in]. At batch 1 (decode) that product is a GEMV
bound by reading W, and on AVX2 CPUs MKL reads it faster when W.T, not W, is the contiguous one wherever
out_features > in_features (batch-1 fp32, 1 and 2 threads: 2048x512 73 against 91 us, 4096x1024 365-392
against 496-620 us), and slower where out < in (512x2048 85-92 against 72-74 us). Whole greedy decode on the
tiny and small presets measured 1.12-1.17x faster with only the wide linears restrided, against 1.09-1.14x
with every linear restrided, tokens equal (docs/decode-profile.md; `python -m sonar.bench.model_speed`
reports the default against the row-major layout).

Only strides change: each weight keeps its [out, in] shape, its name, its values and its Parameter object,
so state dicts, checkpoints, optimizers, autograd (gradients follow the weight's strides) and every transform
in sonar.systems see an ordinary nn.Linear. Training steps are no slower (matmul takes either operand
layout) and give bit-identical losses. Checkpoints are written contiguous, in the transformers layout.
"""

from __future__ import annotations

import torch
from torch import nn

from sonar.errors import UserError

LINEAR_STORAGES = ("wide_input_major", "canonical")


def check_linear_storage(linear_storage: object) -> str:
    if linear_storage not in LINEAR_STORAGES:
        raise UserError(f"linear_storage={linear_storage!r}: expected one of {', '.join(LINEAR_STORAGES)}")
    return linear_storage


def is_input_major(weight: torch.Tensor) -> bool:
    """True when the [out, in] weight's transpose is the contiguous one (and it is not trivially both)."""
    return weight.dim() == 2 and weight.t().is_contiguous() and not weight.is_contiguous()


@torch.no_grad()
def store_linears(model: nn.Module, linear_storage: str = "wide_input_major") -> nn.Module:
    """Restride every bias-free nn.Linear in `model` in place for `linear_storage`; returns model.

    wide_input_major: input-major where out_features > in_features, row-major elsewhere (and for a weight
    tied to an embedding).
    canonical: row-major everywhere (the transformers layout, what torch allocates).
    """
    check_linear_storage(linear_storage)
    # A weight tied to an embedding keeps the embedding's row-major rows (the lookup reads rows).
    tied = {id(p) for m in model.modules() if type(m) is not nn.Linear for p in m.parameters(recurse=False)}
    for module in model.modules():
        if type(module) is not nn.Linear or module.bias is not None or id(module.weight) in tied:
            continue
        want_input_major = linear_storage == "wide_input_major" and module.out_features > module.in_features
        weight = module.weight
        if want_input_major and not is_input_major(weight):
            weight.data = weight.data.t().contiguous().t()
        elif not want_input_major and not weight.is_contiguous():
            weight.data = weight.data.contiguous()
    return model
