"""What the search tests share: the base spec, simulated runs, a crashing executor, file snapshots.
Imported by name (`from search_support import ...`): `conftest` is a name every test folder has, so
importing it resolves to whichever folder's was loaded last."""

import copy
import hashlib

from sonar.search.engine import run_search, start_search
from sonar.search.executors import SimulatedExecutor
from sonar.search.storage import Storage

BASE_SPEC = {
    "name": "test",
    "seed": 0,
    "eta": 3,
    "scheduler": "sonar",
    "backend": "synthetic",
    "arch": {
        "base": "debug",
        "hidden_size": [32, 64, 96, 128],
        "num_hidden_layers": {"int": [2, 6]},
        "num_attention_heads": [2, 4, 8],
        "num_experts_per_tok": [1, 2],
        "intermediate_size": {"int": [64, 256], "log": True, "step": 32},
        "rules": ["hidden_size // num_attention_heads >= 8"],
    },
    "system": {"schemes": ["fp32", "bf16", "int8", "int4"], "threads": [1, 2]},
    "objective": {"kind": "constraint", "latency_s": 0.004},
    "budget": {"max_steps": 270, "min_steps": 10, "max_trials": 27, "min_trials": 1, "candidates": 18},
    "executor": {"kind": "simulated", "workers": 3},
    "synthetic": {"noise": 0.01, "eval_every": 10},
}


def make_spec(**changes) -> dict:
    raw = copy.deepcopy(BASE_SPEC)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict) and key != "objective":
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


def run_simulated(raw: dict, run_dir, workers: int | None = None):
    start_search(raw, run_dir).close()
    executor = SimulatedExecutor(workers or raw["executor"]["workers"])
    state = run_search(run_dir, executor)
    return state, executor


def recorded_events(run_dir) -> list:
    """A run's events, read without changing it."""
    storage = Storage(run_dir)
    try:
        return storage.events()
    finally:
        storage.close()


class CrashAfter(SimulatedExecutor):
    """Dies (as the engine would under kill -9) when the n-th job is submitted."""

    def __init__(self, workers: int, crash_at: int) -> None:
        super().__init__(workers)
        self.crash_at, self.submitted = crash_at, 0

    def submit(self, payload):
        self.submitted += 1
        if self.submitted == self.crash_at:
            raise KeyboardInterrupt
        return super().submit(payload)


def file_tree(root) -> dict:
    """Every file under root with the hash of its bytes and its mtime: equal before and after a read
    means the read wrote nothing, not even a same-bytes rewrite."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def spec_paths(node, prefix=()):
    """Every (path, value) inside a nested spec, containers included."""
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from spec_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from spec_paths(value, (*prefix, i))
