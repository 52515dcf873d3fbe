"""The architecture space the benchmark samples: Llama-4-style decoders from debug to tiny scale, or a
user's space in the search spec's `arch:` syntax."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from sonar import strict_yaml
from sonar.errors import UserError
from sonar.model.config import ModelConfig
from sonar.model.presets import preset
from sonar.search.arch_space import ArchSpace, parse_arch_space
from sonar.search.space import sample_architectures as draw_architectures

ARCHITECTURE_SPACE: dict[str, list] = {
    "num_hidden_layers": [2, 3, 4, 6],
    "hidden_size": [64, 128, 192, 256],
    "num_local_experts": [1, 2, 4, 8],
    "num_experts_per_tok": [1, 2],
    "interleave_moe_layer_step": [1, 2],
    "no_rope_layer_interval": [2, 4],
    "attention_chunk_size": [16, 32, 64],
}
HEAD_DIM = 32  # heads = hidden / 32, so every width keeps the same head size


def architecture(point: dict, *, base: ModelConfig | None = None) -> ModelConfig:
    """A ModelConfig for one point of the space; widths set heads and FFN sizes proportionally."""
    base = base or preset("debug")
    hidden = point["hidden_size"]
    heads = hidden // HEAD_DIM
    return base.replace(
        num_hidden_layers=point["num_hidden_layers"], hidden_size=hidden, num_attention_heads=heads,
        num_key_value_heads=2 if heads % 2 == 0 else 1, head_dim=HEAD_DIM,
        intermediate_size=2 * hidden, intermediate_size_mlp=4 * hidden,
        num_local_experts=point["num_local_experts"],
        num_experts_per_tok=min(point["num_experts_per_tok"], point["num_local_experts"]),
        interleave_moe_layer_step=point["interleave_moe_layer_step"],
        no_rope_layer_interval=point["no_rope_layer_interval"],
        attention_chunk_size=point["attention_chunk_size"],
    )


def sample_architectures(count: int, *, seed: int, space: dict[str, list] | None = None,
                         base: ModelConfig | None = None) -> list[ModelConfig]:
    """`count` distinct configs spread over the space: greedy farthest-point sampling on the grid
    (distance: how many fields differ), starting from a seeded random point, ties broken at random."""
    space = space or ARCHITECTURE_SPACE
    names = list(space)
    grid, seen = [], set()
    for values in itertools.product(*(space[n] for n in names)):
        config = architecture(dict(zip(names, values, strict=True)), base=base)
        if config not in seen:  # top-k clamps to the expert count, so some points coincide
            seen.add(config)
            grid.append((config, values))
    if count > len(grid):
        # `count` is the user's --candidates: asking for more than the grid holds is their error, not a bug
        raise UserError(f"--candidates {count}: the space holds only {len(grid)} distinct architectures")
    rng = np.random.default_rng(seed)
    codes = np.array([[space[n].index(v) for n, v in zip(names, values, strict=True)] for _, values in grid])
    chosen = [int(rng.integers(len(grid)))]
    distance = (codes != codes[chosen[0]]).sum(axis=1).astype(float)
    while len(chosen) < count:
        far = np.flatnonzero(distance == distance.max())
        pick = int(rng.choice(far))
        chosen.append(pick)
        distance = np.minimum(distance, (codes != codes[pick]).sum(axis=1))
    return [grid[i][0] for i in chosen]


def geometric_checkpoints(max_steps: int, *, first: int = 8) -> tuple[int, ...]:
    """first, 2·first, 4·first, ... and max_steps itself (ratio 2, so rungs at any power-of-2 η align)."""
    if max_steps < first:
        raise ValueError(f"max_steps={max_steps}: must be >= the first checkpoint {first}")
    steps, step = [], first
    while step < max_steps:
        steps.append(step)
        step *= 2
    return tuple(steps + [max_steps])


@dataclass(frozen=True)
class TableSpace:
    """Where a table's candidates come from: the built-in grid above, or a space in the search spec's
    `arch:` syntax. `described` is what the table's header records as its architecture_space."""

    described: dict
    arch: ArchSpace | None = None  # None: the built-in grid, farthest-point sampled
    source: str = "built in"

    def sample(self, count: int, *, seed: int) -> list[ModelConfig]:
        if self.arch is None:
            return sample_architectures(count, seed=seed)
        try:
            drawn = draw_architectures(self.arch, seed=seed, count=count)
        except UserError as err:  # said "arch: no valid architecture ...", naming no file, where --space was read
            raise UserError(f"--space {self.source}: {err}") from None
        if len(drawn) < count:
            raise UserError(f"--space {self.source}: holds only {len(drawn)} distinct valid architectures,"
                            f" fewer than --candidates {count}")
        return drawn


def load_table_space(path: str | Path | None) -> TableSpace:
    """The built-in space, or the YAML file at `path`: either the `arch:` section itself or a mapping
    holding one under `arch:` (so a search spec can be reused as it is)."""
    if path is None:
        return TableSpace(described=ARCHITECTURE_SPACE)
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO waited for a writer forever
        raise UserError(f"--space {path}: not a regular file (a FIFO, device or socket); name a YAML file")
    try:
        data = strict_yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"--space {path}: cannot be read ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise UserError(f"--space {path}: not UTF-8 text (undecodable byte at offset {err.start})") from None
    except yaml.YAMLError as err:
        raise UserError(f"--space {path}: not valid YAML ({err})") from None
    if isinstance(data, dict) and isinstance(data.get("arch"), dict):
        data = data["arch"]
    if not isinstance(data, dict) or not data:
        raise UserError(f"--space {path}: expected a mapping in the search spec's arch: syntax")
    arch = parse_arch_space(copy.deepcopy(data), f"{path.name}: arch")  # the parser consumes its input
    return TableSpace(described=data, arch=arch, source=str(path))
