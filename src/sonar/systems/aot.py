"""compile='aot': the decode step exported whole (torch.export) and compiled ahead of time by AOTInductor.

Why: a torch.compile'd decode step pays on every call for Dynamo's guard check over the graph's inputs
and for a Python wrapper that calls each generated kernel in turn. At batch 1 on a CPU these are a third
to a half of a step (docs/decode-profile.md). An AOTInductor package has neither: one C++ call runs the
whole step, with the same kernels.

The price:
- one export and C++ build per cache shape, tens of seconds on a CPU, at the first decode call;
- the package freezes the weights and kernels of the Prepared model it was built from, as its first call
  found them: a prepared model edited afterwards keeps decoding with the old ones (prepare a new one);
- the package holds its own copy of the weights (`python -m sonar.bench.compile_modes` reports what the first
  call leaves held). Pointing it at the model's own tensors instead (AOTInductor's user-managed constants,
  built without constants in the shared library) made each step slower on small's fp32 weights, so the copy
  stays (docs/decode-profile.md).

The cache's tensors are inputs of the package and are written in place, as the eager step writes them,
so a KVCache filled by prefill (or by any other step) carries on unchanged.
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from sonar.model.cache import KVCache, LayerCache
from sonar.model.generation import decode_step


def _layer_over(k_BKSD: torch.Tensor, v_BKSD: torch.Tensor, pos_S: torch.Tensor, *, ring: bool,
                slots: int) -> LayerCache:
    """A LayerCache over existing tensors (the traced ones), with no allocation."""
    layer = LayerCache.__new__(LayerCache)
    layer.ring, layer.slots = ring, slots
    layer.k_BKSD, layer.v_BKSD, layer.pos_S = k_BKSD, v_BKSD, pos_S
    return layer


def _flat(cache: KVCache) -> list[torch.Tensor]:
    return [t for layer in cache.layers if layer is not None for t in (layer.k_BKSD, layer.v_BKSD, layer.pos_S)]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _inputs(token_B1: torch.Tensor, position_1: torch.Tensor) -> tuple:
    return token_B1.shape, token_B1.dtype, token_B1.device, position_1.shape, position_1.dtype, position_1.device


def _signature(token_B1: torch.Tensor, position_1: torch.Tensor, cache: KVCache) -> tuple:
    """What a package is specialised to: every input's shape, dtype and device, and the cache's layout."""
    def of(t: torch.Tensor) -> tuple:
        return tuple(t.shape), t.dtype, str(t.device)

    layers = tuple(None if layer is None else (layer.ring, layer.slots, of(layer.k_BKSD), of(layer.v_BKSD),
                                               of(layer.pos_S)) for layer in cache.layers)
    return of(token_B1), of(position_1), cache.max_len, layers


class _Step(nn.Module):
    """decode_step over a flat list of cache tensors: the form torch.export can take as inputs."""

    def __init__(self, model: nn.Module, cache: KVCache) -> None:
        super().__init__()
        self.model = model
        self.layout = [None if layer is None else (layer.ring, layer.slots) for layer in cache.layers]
        self.max_len = cache.max_len

    def forward(self, token_B1: torch.Tensor, position_1: torch.Tensor, *flat: torch.Tensor) -> torch.Tensor:
        layers, i = [], 0
        for kind in self.layout:
            if kind is None:
                layers.append(None)
                continue
            layers.append(_layer_over(flat[i], flat[i + 1], flat[i + 2], ring=kind[0], slots=kind[1]))
            i += 3
        return decode_step(self.model, token_B1, position_1, KVCache(layers, self.max_len))


class AotDecode:
    """decode(token_B1, position_1, cache) -> logits [B, V], one AOTInductor package per cache signature."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.runners: dict[tuple, object] = {}
        self._cache: KVCache | None = None  # the last cache seen, and its flattened tensors and runner
        self._flat: list[torch.Tensor] = []
        self._inputs: tuple = ()
        self._runner = None

    def __call__(self, token_B1: torch.Tensor, position_1: torch.Tensor, cache: KVCache) -> torch.Tensor:
        if not isinstance(cache, KVCache):
            raise TypeError(f"compile='aot' decodes with a KVCache, got {type(cache).__name__}")
        flat, inputs = _flat(cache), _inputs(token_B1, position_1)
        if cache is not self._cache or not _same(self._flat, flat) or self._inputs != inputs:
            # a new cache (or new tensors in it): find or build its package; the same cache again costs
            # only the identity checks above
            signature = _signature(token_B1, position_1, cache)
            if signature not in self.runners:
                self.runners[signature] = self._build(token_B1, position_1, cache)
            self._cache, self._flat, self._inputs, self._runner = cache, flat, inputs, self.runners[signature]
        return self._runner(token_B1, position_1, *flat)

    @torch.no_grad()
    def _build(self, token_B1: torch.Tensor, position_1: torch.Tensor, cache: KVCache):
        # Traced on copies: tracing runs the step, which would write the caller's cache.
        flat = [t.clone() for t in _flat(cache)]
        step = _Step(self.model, cache)
        with warnings.catch_warnings():  # torch's own deprecation notices from inside export and packaging
            warnings.simplefilter("ignore", FutureWarning)
            program = torch.export.export(step, (token_B1.clone(), position_1.clone(), *flat), strict=False)
            package = io.BytesIO()  # in memory: nothing written beside the user's files
            torch._inductor.aoti_compile_and_package(program, package_path=package)
            package.seek(0)
            return torch._inductor.aoti_load_package(package)
