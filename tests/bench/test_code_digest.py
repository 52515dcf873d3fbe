"""The code digest a suite row records: a policy change reruns SONAR's rows and keeps the peers'; and the
static closure really covers every sonar module a method's replay loads."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sonar.bench import code_digest as cd
from sonar.bench.synthetic import synthetic_table
from sonar.bench.table import write_table

# Each module that defines replay methods, and how to build its methods without the registry (which imports
# every method, and so would hide what one method loads).
FACTORIES = {
    "sonar.bench.methods": "[BruteForce(), RandomSearch(), RandomFeasible()]",
    "sonar.bench.hyperband": "[HyperbandJoint()]",
    "sonar.bench.engine_method": "engine_methods()",
    "sonar.bench.optuna_peer": "optuna_peers()",
    "sonar.bench.synetune_peer": "synetune_peers()",
}
NEEDS = {"sonar.bench.optuna_peer": "optuna", "sonar.bench.synetune_peer": "syne_tune"}

RUN_ONE_MODULE = """
import json, sys
from sonar.bench.table import load_table
from sonar.bench.regret import Scorer, objective_from_table
from sonar.bench.runner import run_method_rules, seed_criteria
from sonar.bench.suite import run_cells  # the suite's own row path is loaded as in a real run
from {module} import *

table = load_table({table!r})
objective = objective_from_table(table, latency_limit_quantile=0.5)
for method in {factory}:
    traces = run_method_rules(table, objective, method, 0, Scorer(table, objective), rules=("completed", "checkpoint"))
    seed_criteria(traces["completed"], table.brute_force_seconds)
print(json.dumps(sorted(m for m in sys.modules if m == "sonar" or m.startswith("sonar."))))
"""


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "t.jsonl"
    t = synthetic_table(candidates=8, max_steps=32, max_trials=4, seed=5)
    write_table(path, t.header, t.candidates)
    return str(path)


@pytest.mark.parametrize("module", sorted(FACTORIES))
def test_every_sonar_module_a_method_loads_is_in_its_closure(module, table_file):
    if module in NEEDS and importlib.util.find_spec(NEEDS[module]) is None:
        pytest.skip(f"{NEEDS[module]} is not installed")
    script = RUN_ONE_MODULE.format(module=module, factory=FACTORIES[module], table=table_file)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # a directory without __init__.py (sonar.search) is a namespace package: it holds no code
    loaded = {m for m in json.loads(done.stdout.strip().splitlines()[-1]) if cd.module_file(m) is not None}
    missing = loaded - set(cd.closure((module, *cd.SCORING_MODULES)))
    assert not missing, f"{module}'s replays load sonar modules its digest does not cover: {sorted(missing)}"


def test_the_peers_closure_holds_no_search_policy_and_sonars_does():
    peer = cd.closure(("sonar.bench.optuna_peer", *cd.SCORING_MODULES))
    engine = cd.closure(("sonar.bench.engine_method", *cd.SCORING_MODULES))
    assert not [m for m in peer if m.startswith("sonar.search.schedulers")]
    # nor the model, the tuner or training: their packages export lazily (sonar/lazy_exports.py)
    assert not {"sonar.model.transformer", "sonar.systems.tuner", "sonar.train.trainer"} & set(peer)
    assert {"sonar.search.schedulers.policy", "sonar.search.engine", "sonar.bench.engine_method"} <= set(engine)
    assert {"sonar.bench.replay", "sonar.bench.regret", "sonar.bench.recommend"} <= set(peer)


def test_a_policy_edit_changes_sonars_digest_only_and_a_replay_edit_changes_both(tmp_path, monkeypatch, request):
    request.addfinalizer(cd.code_digest.cache_clear)  # no digest of the copy outlives the test, pass or fail
    copy = tmp_path / "sonar"
    shutil.copytree(cd.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cd, "PACKAGE_ROOT", copy)

    def digests():
        cd.code_digest.cache_clear()
        return cd.code_digest("sonar.bench.hyperband"), cd.code_digest("sonar.bench.engine_method")

    peer, engine = digests()
    assert peer != engine
    with open(copy / "search" / "schedulers" / "policy.py", "a") as f:
        f.write("\nAN_EDIT = 1\n")
    peer_after, engine_after = digests()
    assert peer_after == peer and engine_after != engine
    with open(copy / "bench" / "replay.py", "a") as f:
        f.write("\nAN_EDIT = 1\n")
    assert all(a != b for a, b in zip(digests(), (peer_after, engine_after), strict=True))


def test_comments_docstrings_and_layout_change_no_digest(tmp_path, monkeypatch, request):
    request.addfinalizer(cd.code_digest.cache_clear)
    copy = tmp_path / "sonar"
    shutil.copytree(cd.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cd, "PACKAGE_ROOT", copy)
    cd.code_digest.cache_clear()
    before = cd.code_digest("sonar.bench.engine_method")
    policy = copy / "search" / "schedulers" / "policy.py"
    text = policy.read_text()
    edited = text.replace('"""The SONAR policy', '"""An edited docstring. The SONAR policy', 1)
    edited = edited.replace("class Rules:", "class Rules:  # an edited comment\n\n", 1)
    assert edited != text
    policy.write_text(edited + "\n\n# a comment at the end\n")
    cd.code_digest.cache_clear()
    assert cd.code_digest("sonar.bench.engine_method") == before
    policy.write_text(edited.replace("forecast: bool = True", "forecast: bool = False", 1))
    cd.code_digest.cache_clear()
    assert cd.code_digest("sonar.bench.engine_method") != before  # a change of code still counts


def test_code_text_keeps_a_string_that_is_not_a_docstring(tmp_path):
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    one.write_text('def f():\n    """Doc."""\n    return "a"\n')
    two.write_text('def f():\n    """Other doc."""\n    return "b"\n')
    assert cd.code_text(one) != cd.code_text(two)
    two.write_text('def f():  # comment\n    """Other doc."""\n\n    return "a"\n')
    assert cd.code_text(one) == cd.code_text(two)


def test_module_files_resolve_modules_and_packages_only_inside_sonar():
    assert cd.module_file("sonar.bench.replay") == cd.PACKAGE_ROOT / "bench" / "replay.py"
    assert cd.module_file("sonar.bench") == cd.PACKAGE_ROOT / "bench" / "__init__.py"
    assert cd.module_file("sonar.bench.replay.ReplaySession") is None  # a name, not a module
    assert cd.module_file("numpy") is None
    assert Path(cd.module_file("sonar")).name == "__init__.py"


def test_a_from_import_of_a_lazy_export_is_followed_to_its_module():
    assert cd.exported_from("sonar.model", "build_model") == {"sonar.model.transformer"}
    assert cd.exported_from("sonar", "build_model") == {"sonar.model.transformer"}
    assert cd.exported_from("sonar.model", "not_exported") == set()
    # model_speed reads `from sonar.model import build_model`
    assert "sonar.model.transformer" in cd.closure(("sonar.bench.model_speed",))
