"""The bad-input suite's sandbox: one directory per case (HOME, SONAR_CACHE and the working directory all
inside it), the valid artefacts a case starts from (a spec, a finished run, a checkpoint, a benchmark
table, a trained run), and a snapshot of the tree that shows every file a case changed or left behind."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

SPEC = {
    "name": "bad-inputs",
    "seed": 0,
    "eta": 3,
    "scheduler": "sonar",
    "backend": "synthetic",
    "arch": {"base": "debug", "hidden_size": [32, 64], "num_hidden_layers": [2, 4],
             "num_attention_heads": [2, 4], "rules": ["hidden_size // num_attention_heads >= 8"]},
    "system": {"schemes": ["fp32", "bf16"], "threads": [1, 2]},
    "workload": {"kind": "decode", "context": 64, "batch": 1},
    "targets": [{"name": "cpu", "device": "cpu"}],
    "data": {"corpus": "builtin"},
    "objective": {"kind": "constraint", "latency_s": 0.004},
    "budget": {"max_steps": 30, "min_steps": 10, "max_trials": 3, "min_trials": 1, "candidates": 3},
    "executor": {"kind": "simulated", "workers": 1},
    "synthetic": {"noise": 0.01, "eval_every": 10},
}
# A real-backend spec that stays cheap even where a bad value slips through: two candidates, four steps.
REAL_SPEC_CHANGES = {
    "backend": "real", "executor": {"kind": "inprocess", "workers": 1},
    "budget": {"max_steps": 4, "min_steps": 2, "max_trials": 1, "min_trials": 1, "candidates": 2, "cost_s": 60},
    "training": {"batch_size": 2, "seq_len": 16, "eval_every": 2},
}
WORDS = "the king queen lord lady love death night day sword crown heart blood fair sweet".split()


def spec_with(changes: dict | None = None, *, drop: tuple[str, ...] = ()) -> dict:
    """The base spec with whole top-level sections replaced (or a dotted key `arch.hidden_size` set)."""
    raw = copy.deepcopy(SPEC)
    for key, value in (changes or {}).items():
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    for key in drop:
        raw.pop(key)
    return raw


def write_corpus(root: Path) -> Path:
    root.mkdir(parents=True)
    rng = random.Random(1)
    for i in range(4):
        (root / f"d{i}.txt").write_text("\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(60)))
    return root


@dataclass(frozen=True)
class Artefacts:
    """Valid inputs built once per session; a case copies what it needs into its own sandbox."""
    run: Path
    checkpoint: Path
    table: Path
    train_run: Path
    corpus: Path


class Sandbox:
    """One case's world. Paths a case names are relative to `root`, which is also the working directory."""

    def __init__(self, root: Path, artefacts: Artefacts) -> None:
        self.root, self.artefacts = root, artefacts
        (root / "home").mkdir()
        (root / "cache").mkdir()
        (root / "home" / "notes.txt").write_text("a user's file that must survive every case\n")

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.root / "home"), "SONAR_CACHE": str(self.root / "cache")}

    def file(self, name: str, content: str | bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return name

    def spec(self, changes: dict | None = None, *, drop: tuple[str, ...] = (), name: str = "spec.yaml",
             raw: object = None) -> str:
        data = spec_with(changes, drop=drop) if raw is None else raw
        return self.file(name, yaml.safe_dump(data, sort_keys=False))

    def run(self, name: str = "run") -> str:
        shutil.copytree(self.artefacts.run, self.root / name)
        return name

    def checkpoint(self, name: str = "ckpt") -> str:
        shutil.copytree(self.artefacts.checkpoint, self.root / name)
        return name

    def table(self, name: str = "table.jsonl") -> str:
        shutil.copyfile(self.artefacts.table, self.root / name)
        return name

    def train_run(self, name: str = "trained") -> str:
        shutil.copytree(self.artefacts.train_run, self.root / name)
        return name

    def corpus(self, name: str = "corpus") -> str:
        shutil.copytree(self.artefacts.corpus, self.root / name)
        return name

    def edit_json(self, name: str, edit) -> str:
        path = self.root / name
        path.write_text(json.dumps(edit(json.loads(path.read_text()))))
        return name


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and directory under root: kind, size, mtime and content hash."""
    tree: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            tree[os.path.relpath(os.path.join(dirpath, name), root)] = ("dir",)
        for name in filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else ""
            tree[os.path.relpath(path, root)] = ("file", info.st_size, info.st_mtime_ns, digest)
    return tree


def changes(before: dict, after: dict, allowed: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(lost, stray): files that existed and were changed or removed, and new files, outside `allowed`."""
    def inside(path: str) -> bool:
        return any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed)

    lost = sorted(p for p, entry in before.items() if not inside(p) and after.get(p) != entry)
    stray = sorted(p for p in after.keys() - before.keys() if not inside(p))
    return lost, stray


def build_artefacts(root: Path) -> Artefacts:
    """The valid starting points, each made the way a user makes it (cheap settings)."""
    from typer.testing import CliRunner

    from sonar.bench.synthetic import synthetic_table
    from sonar.bench.table import write_table
    from sonar.checkpoint import save_pretrained
    from sonar.cli import app
    from sonar.model import build_model, preset
    from sonar.search.engine import run_search, start_search
    from sonar.search.executors import SimulatedExecutor

    root.mkdir(parents=True, exist_ok=True)
    run = root / "run"
    start_search(spec_with(), run).close()
    run_search(run, SimulatedExecutor(1))
    checkpoint = root / "ckpt"
    save_pretrained(build_model(preset("debug")), checkpoint)
    table = root / "table.jsonl"
    built = synthetic_table(candidates=4, max_steps=32, max_trials=4, seed=0)
    write_table(table, built.header, built.candidates)
    corpus = write_corpus(root / "corpus")
    train_run = root / "trained"
    result = CliRunner().invoke(app, ["train", "--preset", "debug", "--steps", "2", "--corpus", str(corpus),
                                      "--vocab", "300", "--out", str(train_run), "--threads", "1"],
                                env={"SONAR_CACHE": str(root / "cache")})
    assert result.exit_code == 0, result.output
    return Artefacts(run=run, checkpoint=checkpoint, table=table, train_run=train_run, corpus=corpus)
