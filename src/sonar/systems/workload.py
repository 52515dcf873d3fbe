"""Workloads: what one timed call does. An objective names one workload; its latency is minimized.

- prefill:b=B,t=T      one forward over [B, T] fresh tokens; seconds per call.
- decode:ctx=C,b=B     one decode step at context C with B rows; seconds per step.
- throughput:ctx=C     decode steps with `batch_size` rows (a system knob); seconds per token
                       (the reciprocal of tokens/s), so every objective is minimized.
  throughput:ctx=C,step_ms=L  the same under a latency bound: a batch whose decode step takes longer
                       than L milliseconds fails its trial, so batching buys throughput only while
                       each user's next token still comes within L.
Decode positions cycle through C..C+W-1 in a cache sized C+W: rewriting a position replaces its
slot and later positions stay masked, so every step attends to a context of about C keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.model.cache import KVCache

KINDS = ("prefill", "decode", "throughput")
_KEYS = {"prefill": {"b", "t"}, "decode": {"b", "ctx"}, "throughput": {"ctx", "step_ms"}}
DECODE_WINDOW = 32  # distinct positions cycled through by timed decode steps
# Upper bounds on a workload's sizes, wherever it is given (a spec's `workload:`, `--workload`): a typo such
# as b=100000 would otherwise time one call for hours, or ask for a cache of hundreds of GB.
LIMITS = {"batch": 4096, "tokens": 2**20, "context": 2**20, "step_ms": 10**7}


@dataclass(kw_only=True, frozen=True)
class Workload:
    kind: str
    batch: int = 1
    tokens: int = 128  # prefill length T
    context: int = 256  # decode context C
    step_ms: int | None = None  # throughput: the bound on one decode step's latency, milliseconds

    def __post_init__(self) -> None:
        check_types(self)
        if self.kind not in KINDS:
            raise UserError(f"workload kind {self.kind!r}: must be one of {list(KINDS)}")
        for name in ("batch", "tokens", "context"):
            if getattr(self, name) < 1:
                raise UserError(f"workload {name}={getattr(self, name)}: must be >= 1")
        for name, high in LIMITS.items():
            if (getattr(self, name) or 0) > high:
                raise UserError(f"workload {name}={getattr(self, name)}: must be <= {high:,}")
        if self.step_ms is not None and (self.kind != "throughput" or self.step_ms < 1):
            raise UserError(f"workload step_ms={self.step_ms}: a throughput workload's step bound, >= 1 ms")

    @classmethod
    def parse(cls, text: str) -> Workload:
        """'decode:ctx=256', 'decode:ctx=256,b=4', 'prefill:b=1,t=512', 'throughput:ctx=256'."""
        if not isinstance(text, str):
            raise UserError(f"workload {text!r}: must be text such as 'decode:ctx=256'")
        kind, _, rest = text.strip().partition(":")
        if kind not in KINDS:
            raise UserError(f"workload {text!r}: kind {kind!r} must be one of {list(KINDS)}")
        values: dict[str, int] = {}
        for item in filter(None, rest.split(",")):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or key not in _KEYS[kind]:
                raise UserError(f"workload {text!r}: {item!r} is not one of {sorted(_KEYS[kind])} as key=value")
            if key in values:
                raise UserError(f"workload {text!r}: {key} is given twice; give each key once")
            try:
                if not value.strip().isascii():  # int() would take other scripts' digits
                    raise ValueError(value)
                values[key] = int(value)
            except ValueError:
                raise UserError(f"workload {text!r}: {key}={value!r} must be an integer") from None
        return cls(kind=kind, batch=values.get("b", 1), tokens=values.get("t", 128), context=values.get("ctx", 256),
                   step_ms=values.get("step_ms"))

    def positions(self) -> int:
        """The most positions a timed call reads: the prefill length, or the context plus the decode window."""
        return self.tokens if self.kind == "prefill" else self.context + DECODE_WINDOW

    def check_fits(self, config, where: str) -> None:
        """That the model (`config`, a ModelConfig) reads this many positions: a context past its
        max_position_embeddings is no setting it is served at, and a typo there runs for hours."""
        if self.positions() > config.max_position_embeddings:
            reads = f"prefill of {self.tokens:,}" if self.kind == "prefill" else \
                f"context {self.context:,} + {DECODE_WINDOW} decode steps"
            raise UserError(f"workload {self.label()!r}: {where} reads at most {config.max_position_embeddings:,} "
                            f"positions (max_position_embeddings), the workload {self.positions():,} ({reads})")

    def label(self) -> str:
        if self.kind == "prefill":
            return f"prefill:b={self.batch},t={self.tokens}"
        if self.kind == "decode":
            return f"decode:ctx={self.context},b={self.batch}"
        bound = "" if self.step_ms is None else f",step_ms={self.step_ms}"
        return f"throughput:ctx={self.context}{bound}"

    def step_bound_failure(self, step_s: float, rows: int) -> str | None:
        """Why a measured step breaks the step_ms bound, or None when it keeps it (or none is set)."""
        if self.step_ms is None or step_s * 1000 <= self.step_ms:
            return None
        return f"latency bound: a decode step of batch {rows} takes {step_s * 1000:.3g} ms > step_ms={self.step_ms}"

    def rows(self, batch_size: int) -> int:
        return batch_size if self.kind == "throughput" else self.batch

    def tokens_per_call(self, batch_size: int) -> int:
        return self.batch * self.tokens if self.kind == "prefill" else self.rows(batch_size)


class Session:
    """Inputs for one workload, fixed by a seed, and the call it times; `call()` returns the logits."""

    def __init__(self, prepared, workload: Workload, *, batch_size: int = 1, seed: int = 0,
                 vocab_size: int | None = None) -> None:
        self.prepared = prepared
        self.workload = workload
        model = prepared.model
        vocab = vocab_size or model.config.vocab_size
        device = next(model.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        B = workload.rows(batch_size)
        self.rows = B
        if workload.kind == "prefill":
            self.input_ids = torch.randint(0, vocab, (B, workload.tokens), generator=gen).to(device)
            return
        C = workload.context
        prompt = torch.randint(0, vocab, (B, C), generator=gen).to(device)
        self.step_tokens = torch.randint(0, vocab, (DECODE_WINDOW, B, 1), generator=gen).to(device)
        self.positions = torch.arange(C, C + DECODE_WINDOW, device=device).view(DECODE_WINDOW, 1)
        self.cache = KVCache.allocate(model, batch=B, max_len=C + DECODE_WINDOW, dtype=torch.float32)
        with torch.inference_mode():
            model(prompt, cache=self.cache)  # eager, untimed: the context every step attends to
        self.cache.next_position = C
        self.calls = 0

    @torch.inference_mode()
    def call(self) -> torch.Tensor:
        if self.workload.kind == "prefill":
            return self.prepared.prefill(self.input_ids).logits
        i = self.calls % DECODE_WINDOW
        self.calls += 1
        return self.prepared.decode(self.step_tokens[i], self.positions[i], self.cache)

    def quality_outputs(self) -> torch.Tensor:
        """The outputs the quality check compares, stacked on a leading dim: decode and throughput, every
        step of the window in order (positions C..C+W-1), since one step can sit well inside a limit that
        the next ones miss; prefill, its one call. Restarts the window before and after."""
        calls = 1 if self.workload.kind == "prefill" else DECODE_WINDOW
        self.calls = 0
        outputs = torch.stack([self.call().detach().clone() for _ in range(calls)])
        self.calls = 0
        return outputs

    def first_output(self) -> torch.Tensor:
        """The output of the workload's first call (decode: the step at position C), for quality checks."""
        if self.workload.kind != "prefill":
            self.calls = 0
        out = self.call()
        if self.workload.kind != "prefill":
            self.calls = 0
        return out
