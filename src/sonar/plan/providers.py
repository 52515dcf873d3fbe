"""Hosted providers' published context windows (`providers.yaml`, dated), and which limit binds.

The binding limit of a deployment is the smallest of: memory (the exact planner's maximum), the
engine (its profile's KV budget), the model (max_position_embeddings) and the provider's window.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from sonar.errors import UserError

# On a tie the limit a user meets first is named: the provider's window, then the model's, then the engine's.
LIMIT_ORDER = ("provider", "model", "engine", "memory")


@dataclass(kw_only=True, frozen=True)
class Provider:
    key: str
    name: str
    windows: dict[str, int]  # preset name -> tokens
    certain: bool
    where: str
    as_of: str

    def window(self, model: str) -> int:
        if model not in self.windows:
            raise UserError(f"--provider {self.key!r}: publishes no window for {model!r} "
                            f"(it lists {sorted(self.windows)}, as of {self.as_of})")
        return self.windows[model]


@cache
def providers() -> dict[str, Provider]:
    data = yaml.safe_load(resources.files("sonar.plan").joinpath("providers.yaml").read_text(encoding="utf-8"))
    as_of = str(data["as_of"])
    return {key: Provider(key=key, name=p["name"], windows={m: int(t) for m, t in p["windows"].items()},
                          certain=bool(p["certain"]), where=p["where"], as_of=as_of)
            for key, p in data["providers"].items()}


def get_provider(name: str) -> Provider:
    key = name.strip().lower()
    if key not in providers():
        raise UserError(f"--provider {name!r}: unknown; choose one of {sorted(providers())}")
    return providers()[key]


def binding_limit(limits: dict[str, int | None]) -> tuple[str, int | None]:
    """(name, tokens) of the smallest limit; None values are unbounded. All unbounded: (memory, None)."""
    bounded = [(limits[name], LIMIT_ORDER.index(name), name) for name in LIMIT_ORDER
               if limits.get(name) is not None]
    if not bounded:
        return "memory", None
    tokens, _, name = min(bounded)
    return name, tokens
