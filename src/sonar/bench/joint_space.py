"""The joint space as a peer library sees it: architecture fields and system knobs as categoricals.

A peer suggests a value for each architecture field and each knob; the suggestion maps to the
nearest recorded candidate (fewest differing fields, then table order) and to that candidate's
nearest measured system config. Values are strings so every library takes them as categories.
"""

from __future__ import annotations

import json

from sonar.bench.table import BenchTable

# The fields the architecture space varies (ModelConfig names).
ARCHITECTURE_FIELDS = (
    "num_hidden_layers", "hidden_size", "num_local_experts", "num_experts_per_tok",
    "interleave_moe_layer_step", "no_rope_layer_interval", "attention_chunk_size",
)
ARCH_PREFIX, KNOB_PREFIX = "arch.", "knob."


def _key(value: object) -> str:
    return json.dumps(value, sort_keys=True)


class JointSpace:
    def __init__(self, table: BenchTable):
        self.table = table
        models = [c.model.to_dict() for c in table.candidates]
        fields: tuple[str, ...] = ARCHITECTURE_FIELDS
        if len({tuple(_key(m[f]) for f in fields) for m in models}) < len(models):
            # A --space may vary fields the built-in grid does not (heads, FFN widths): without them candidates
            # that differ only there looked alike, and every one but the first was out of the peers' reach.
            varied = {name for name in models[0] if len({_key(m[name]) for m in models}) > 1}
            fields = (*fields, *sorted(varied - set(fields)))
        self._arch = [{f: _key(m[f]) for f in fields} for m in models]
        knob_names = sorted({k for c in table.candidates for t in c.tuning for k in t.config})
        self._knobs = {
            c.id: [{k: _key(t.config.get(k)) for k in knob_names} for t in c.tuning] for c in table.candidates
        }
        self.choices: dict[str, list[str]] = {}
        for name in fields:
            values = sorted({row[name] for row in self._arch})
            if len(values) > 1:
                self.choices[ARCH_PREFIX + name] = values
        for name in knob_names:
            values = sorted({row[name] for rows in self._knobs.values() for row in rows})
            if len(values) > 1:
                self.choices[KNOB_PREFIX + name] = values

    def decode(self, params: dict[str, str]) -> tuple[str, int]:
        """(candidate id, index into its tuning trace) nearest to the suggested values."""
        arch = {k[len(ARCH_PREFIX):]: v for k, v in params.items() if k.startswith(ARCH_PREFIX)}
        knobs = {k[len(KNOB_PREFIX):]: v for k, v in params.items() if k.startswith(KNOB_PREFIX)}
        index = _nearest(self._arch, arch)
        candidate = self.table.candidates[index]
        trial = _nearest(self._knobs[candidate.id], knobs) if candidate.tuning else -1
        return candidate.id, trial


def _nearest(rows: list[dict[str, str]], wanted: dict[str, str]) -> int:
    def mismatches(row: dict[str, str]) -> int:
        return sum(row.get(k) != v for k, v in wanted.items())

    return min(range(len(rows)), key=lambda i: (mismatches(rows[i]), i))
