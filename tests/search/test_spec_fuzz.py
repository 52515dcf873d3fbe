"""Mutation fuzzing of the search spec and of `sonar plan`'s inputs: the mutants a field-by-field fuzz found
handled wrongly (a traceback, a parse of tens of seconds, nonsense accepted that changed the result, an
error that did not name its key), each now one UserError naming the field; and a seeded mini-fuzz that
every mutant of the shipped specs is accepted or refused with one UserError line, never anything else."""

import copy
import json
import math
import random
import time
from pathlib import Path

import pytest
import yaml
from search_support import spec_paths

from sonar.errors import UserError
from sonar.plan.gpus import parse_gpu
from sonar.plan.source import MAX_CONFIG_BYTES, load_model_spec
from sonar.plan.units import parse_tokens
from sonar.search.space import sample_architectures
from sonar.search.spec import SpecError, parse_spec, read_spec_file
from time_limit import Hang, alarm

ROOT = Path(__file__).parents[2]
SYNTHETIC_TEXT = (ROOT / "examples/search-synthetic.yaml").read_text()
SYNTHETIC = yaml.safe_load(SYNTHETIC_TEXT)
DEFAULT = yaml.safe_load((ROOT / "src/sonar/search/default_search.yaml").read_text())
SEED_SPECS = [yaml.safe_load(path.read_text()) for path in (
    ROOT / "src/sonar/search/default_search.yaml", ROOT / "examples/search-synthetic.yaml",
    ROOT / "examples/search-long-context.yaml", ROOT / "examples/search-multi-target.yaml")]
HUGE = 10**5000  # past Python's 4,300-digit str(int) limit: YAML reads `0x` + 4,200 hex digits as one
BIG = 10**400  # past float's range: float(BIG) overflows




def _edited(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# (id, the spec file's text, what the one-line error must say). Before: a Python traceback (PyYAML's scalar
# constructors raise bare ValueError / KeyError / AttributeError), or, for the flow list, 22 s of parsing.
YAML_CASES = [
    ("int-5000-digits", _edited(SYNTHETIC_TEXT, "seed: 0\n", "seed: " + "1" * 5000 + "\n"),
     "seed: an integer of 5,000 digits; at most 4,300"),
    ("int-tag-on-float", _edited(SYNTHETIC_TEXT, "seed: 0\n", "seed: !!int 1.5\n"),
     "seed: '1.5' is not a valid YAML int"),
    ("impossible-date", _edited(SYNTHETIC_TEXT, "name: synthetic-joint\n", "name: 2001-02-30\n"),
     "name: '2001-02-30' is not a valid YAML timestamp; quote it"),
    ("bool-tag", _edited(SYNTHETIC_TEXT, "eta: 3\n", "eta: !!bool maybe\n"), "eta: 'maybe' is not a valid YAML bool"),
    ("float-tag", _edited(SYNTHETIC_TEXT, "eta: 3\n", "eta: !!float abc\n"), "eta: 'abc' is not a valid YAML float"),
    ("timestamp-tag-nested", _edited(SYNTHETIC_TEXT, "  max_steps: 810\n", "  max_steps: !!timestamp soon\n"),
     "budget.max_steps: 'soon' is not a valid YAML timestamp"),
    ("timestamp-in-list", _edited(SYNTHETIC_TEXT, "hidden_size: [32, 64, 96, 128]", "hidden_size: [32, 2001-13-45]"),
     "arch.hidden_size[1]: '2001-13-45' is not a valid YAML timestamp"),
    ("hex-past-str-limit", _edited(SYNTHETIC_TEXT, "eta: 3\n", "eta: 0x" + "f" * 4000 + "\n"),
     "eta: an integer of about 4,817 digits must be <= 1,000"),
    ("duplicate-key-nested", _edited(SYNTHETIC_TEXT, "  max_steps: 810\n", "  max_steps: 810\n  max_steps: 27\n"),
     "budget: key 'max_steps' appears twice in one mapping"),
    ("million-flow-items", SYNTHETIC_TEXT + "filler: [" + "1," * 500_000 + "]\n",
     "lines and commas; a YAML file sonar reads may have at most 50,000"),
]


@pytest.mark.parametrize(("text", "message"), [case[1:] for case in YAML_CASES], ids=[c[0] for c in YAML_CASES])
def test_yaml_mutants_that_were_tracebacks_are_one_error_naming_the_key(tmp_path, text, message):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    with alarm(10), pytest.raises(SpecError) as info:
        parse_spec(read_spec_file(path))
    assert time.monotonic() - started < 5
    assert message in str(info.value) and "\n" not in str(info.value)


def _set(raw: dict, path: str, value) -> dict:
    raw = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return raw


# (id, mutant, the key the error must start with). Before, each was handled wrongly as noted.
DICT_CASES = [
    # a traceback: float(int) overflows past 1e308 in math.isfinite, str(int) fails past 4,300 digits
    ("latency-past-float", _set(SYNTHETIC, "objective.latency_s", BIG), "objective.latency_s: an integer of about"),
    ("cost-huge", _set(SYNTHETIC, "budget.cost_s", HUGE), "budget.cost_s: "),
    ("seed-huge", _set(SYNTHETIC, "seed", HUGE), "seed: an integer of about 5,001 digits must be <= 4,294,967,295"),
    ("negative-huge", _set(SYNTHETIC, "budget.max_steps", -HUGE), "budget.max_steps: a negative integer"),
    ("bool-field-huge", _set(SYNTHETIC, "arch.use_qk_norm", [HUGE]), "arch.use_qk_norm.choices[0]: an integer of"),
    ("log-huge", _set(SYNTHETIC, "arch.intermediate_size.log", HUGE), "arch.intermediate_size.log: an integer of"),
    ("data-huge", _set(SYNTHETIC, "data", HUGE), "data: expected a mapping"),
    ("scheme-huge", _set(SYNTHETIC, "system.schemes", [HUGE]), "system.schemes[0]: an integer of"),
    ("rule-huge", _set(SYNTHETIC, "arch.rules", [HUGE]), "arch.rules[0]: expected an expression string"),
    ("workload-huge", _set(SYNTHETIC, "workload.context", HUGE), "workload.context: an integer of"),
    ("resources-huge", _set(SYNTHETIC, "targets", [{"name": "cpu", "resources": {"x": BIG}}]),
     "targets[0].resources.x: an integer of"),
    # accepted, and wrong: `is` compares objects, so `hidden_size is 512` never holds (CPython shares ints to 256)
    ("is-on-numbers", _set(_set(SYNTHETIC, "arch.hidden_size", [256, 512]), "arch.num_local_experts",
                           {"choices": [2, 8], "when": "hidden_size is 512"}),
     "arch.num_local_experts.when: 'hidden_size is 512': `is` compares identity"),
    # accepted, and wrong: no ModelConfig field holds text or equals a number when it is a list
    ("text-literal", _set(SYNTHETIC, "arch.num_local_experts", {"choices": [2, 8], "when": "hidden_size == '64'"}),
     "arch.num_local_experts.when: the text '64' matches no ModelConfig field"),
    ("list-field-vs-number", _set(SYNTHETIC, "arch.num_local_experts", {"choices": [2, 8], "when": "moe_layers == 2"}),
     "arch.num_local_experts.when: moe_layers is tuple[int, ...] | None, not a number"),
    ("when-cycle", _set(_set(SYNTHETIC, "arch.hidden_size", {"choices": [32, 64], "when": "num_attention_heads > 2"}),
                        "arch.num_attention_heads", {"choices": [2, 4], "when": "hidden_size > 32"}),
     "arch: the conditions (when) of hidden_size, num_attention_heads read each other in a cycle"),
    # accepted, then every search stopped with a traceback: losses below 0 break the curve fits
    ("noise-negative-losses", _set(SYNTHETIC, "synthetic.noise", 1.0), "synthetic.noise: 1.0 must be <= 0.1"),
]


@pytest.mark.parametrize(("raw", "message"), [case[1:] for case in DICT_CASES], ids=[c[0] for c in DICT_CASES])
def test_spec_mutants_handled_wrongly_before_are_one_error_naming_the_key(raw, message):
    with alarm(10), pytest.raises(UserError) as info:
        parse_spec(raw)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_a_condition_reads_the_drawn_value_whatever_the_key_order():
    """A run draws from its stored spec, whose keys JSON sorted: fields were drawn by name, so in the default
    spec `num_experts_per_tok` (when num_local_experts > 2) read the preset's num_local_experts (4) and was
    searched for every candidate, and the candidates the spec was checked with were not the ones the run drew."""
    stored = json.loads(json.dumps(DEFAULT, sort_keys=True))
    written, run = (sample_architectures(parse_spec(raw).arch, seed=0, count=9) for raw in (DEFAULT, stored))
    assert written == run
    assert {c.num_local_experts for c in run if c.num_experts_per_tok == 2} == {4}
    assert any(c.num_local_experts == 2 for c in run)


def test_a_number_yaml_reads_as_text_reaches_the_trainer_as_a_number(tmp_path):
    """PyYAML reads `lr: 3e-4` as the string '3e-4'. The spec accepted it, but handed the string on, and
    every job's TrainConfig refused it (the CLI's device check said `lr='3e-4': must be a number`, no key)."""
    from sonar.search.backends import train_config

    path = tmp_path / "spec.yaml"
    path.write_text(_edited(yaml.safe_dump(DEFAULT, sort_keys=False), "lr: 0.003", "lr: 3e-4"))
    spec = parse_spec(read_spec_file(path))
    assert spec.training["lr"] == 3e-4 and train_config(spec).lr == 3e-4


# `sonar plan`: a fraction silently truncated (1.5 tokens -> 1, 1.5 bytes -> 1), a bare number read as bytes
# (`--gpu 80`: an 80-byte GPU, "DOES NOT FIT"), a read error as a traceback.
@pytest.mark.parametrize(("call", "message"), [
    (lambda: parse_tokens("1.5"), "--context '1.5': 1.5 tokens is not a whole number"),
    (lambda: parse_tokens("1.1K"), "--context '1.1K': 1126.4 tokens is not a whole number"),
    (lambda: parse_gpu("80"), "GPU capacity '80': 80 bytes, less than any GPU; for gigabytes write 80GB"),
    (lambda: parse_gpu("1.5"), "GPU capacity '1.5': a byte count is a whole number"),
], ids=["fraction-of-a-token", "fraction-of-a-token-in-K", "bytes-meant-as-GB", "fraction-of-a-byte"])
def test_plan_inputs_accepted_wrongly_before(call, message):
    with pytest.raises(UserError) as info:
        call()
    assert str(info.value).startswith(message)


def test_plan_config_that_cannot_be_read_or_is_huge(tmp_path):
    if Path("/proc/self/mem").is_file():  # reading it fails with EIO: a traceback before
        with pytest.raises(UserError, match=r"--model '/proc/self/mem': cannot read"):
            load_model_spec("/proc/self/mem")
    big = tmp_path / "config.json"
    big.write_bytes(b" " * (MAX_CONFIG_BYTES + 1))  # read whole before: a weights file named by mistake
    with pytest.raises(UserError, match="is larger than 16,777,216 bytes"):
        load_model_spec(str(big))
    assert parse_tokens("1.5K") == 1536 and parse_gpu("1.5GB").memory_bytes == 1_500_000_000


# The seeded mini-fuzz: the full fuzz ran every path of the shipped specs against all these values.
VALUES = [None, "", [], {}, "abc", "12", "1e999", "nan", "a\x00b", "a\nb", "x" * 5000, True, False, 0, -1, 1, 2,
          0.5, 1e308, 10**30, -(10**30), BIG, HUGE, math.nan, math.inf, -math.inf, [None], {"a": 1}, [1, 2], [2, 1],
          ["a"], 2**64, b"abc"]
EXPRESSIONS = ["__import__('os').system('true')", "hidden_size.__class__", "10**10**10 > 0", "hidden_size / 0 > 1",
               "hidden_size is 32", "hidden_size == 'a'", "moe_layers > 0", "(" * 200 + "1" + ")" * 200,
               "'a' * 10**9 == 'b'", "hidden_size", "unknown > 1", "x := 1", "hidden_size ** -100 > 0"]


def _mutant(rng: random.Random) -> tuple[dict, str]:
    raw = copy.deepcopy(rng.choice(SEED_SPECS))
    raw["backend"] = "synthetic"  # the corpus and tokenizer checks of the real backend are tested apart
    path, value = rng.choice([(p, v) for p, v in spec_paths(raw) if p])
    parent = raw
    for part in path[:-1]:
        parent = parent[part]
    action = rng.choice(["value", "value", "remove", "key", "typo", "expression"])
    if action == "remove":
        del parent[path[-1]]
    elif action == "key" and isinstance(value, dict):
        value[rng.choice(["bogus", 1, None, ""])] = rng.choice(VALUES)
    elif action == "typo" and isinstance(path[-1], str) and len(path[-1]) > 3:
        parent[path[-1][:-1]] = parent.pop(path[-1])
    elif action == "expression":
        parent[path[-1]] = rng.choice(EXPRESSIONS)
    else:
        parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
    return raw, f"{action} at {'.'.join(map(str, path))}"


def test_two_hundred_random_mutants_are_accepted_or_one_user_error():
    rng = random.Random(20261201)
    started = time.monotonic()
    refused = 0
    for _ in range(200):
        raw, what = _mutant(rng)
        try:
            with alarm(10):
                parse_spec(raw)
        except UserError as err:
            refused += 1
            assert str(err) and "\n" not in str(err), what
        except Hang:
            pytest.fail(f"{what}: no answer within 10 s")
    assert refused > 100  # most single edits of a valid spec are refused
    assert time.monotonic() - started < 20
