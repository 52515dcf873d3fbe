"""Every section of a spec is checked before any compute; each error starts with the key and says the rule."""

import copy
from pathlib import Path

import pytest
import yaml
from search_support import make_spec

from sonar.model.presets import PRESETS
from sonar.search.spec import SpecError, load_spec, parse_spec
from sonar.search.spec_checks import check_real_inputs

DEBUG = PRESETS["debug"]().to_dict()

DEFAULT_SPEC = Path(__file__).parents[2] / "src/sonar/search/default_search.yaml"


def _error(raw) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    return str(info.value)


def _real(**changes) -> dict:
    """The shipped default spec (real backend, built-in corpus) with some sections replaced."""
    raw = yaml.safe_load(DEFAULT_SPEC.read_text())
    for key, value in changes.items():
        raw[key] = {**raw[key], **value} if key == "arch" else value
    return raw


# (changes to the synthetic test spec, the start of the error)
SYNTHETIC_CASES = [
    # the cases a user found to fail every job, or to be accepted silently
    ({"synthetic": {"eval_every": 0}}, "synthetic.eval_every: eval_every=0: must be >= 1"),
    ({"objective": {"kind": "constraint", "latency_s": float("inf")}}, "objective.latency_s: inf must be a finite"),
    ({"objective": {"kind": "constraint", "latency_s": "1e999"}}, "objective.latency_s: inf must be a finite"),
    ({"system": {"threads": ["many"]}}, "system.threads[0]: 'many' is not an integer"),
    ({"targets": [{"name": "t", "device": "tpu"}]}, "targets[0].device: 'tpu' is not one of cpu, cuda"),
    ({"name": {"a": 1}}, "name: {'a': 1} is not a non-empty string"),
    ({"arch": {"num_hidden_layers": [1000000000000]}},
     "arch.num_hidden_layers.choices[0]: num_hidden_layers=1000000000000: must be <= 4,096"),
    ({"arch": {"num_hidden_layers": {"int": [2, 10**12]}}}, "arch.num_hidden_layers.int[1]: num_hidden_layers="),
    ({"arch": {"rules": ["hidden_size ** 10 ** 9 > 0"]}}, "arch.rules[0]: 'hidden_size ** 10 ** 9 > 0': exponent"),
    ({"arch": {"rules": ["'ab' * 10 ** 9 == 'x'"]}}, "arch.rules[0]:"),
    # sizes and experts
    ({"arch": {"hidden_size": [2**21]}}, "arch.hidden_size.choices[0]: hidden_size=2097152: must be <= 1,048,576"),
    ({"arch": {"num_local_experts": [2048]}}, "arch.num_local_experts.choices[0]: num_local_experts=2048: must be <="),
    ({"arch": {"rope_theta": {"float": [1.0, float("inf")]}}}, "arch.rope_theta.float[1]: inf must be a finite"),
    ({"arch": {"num_hidden_layers": {"float": [2, 6]}}}, "arch.num_hidden_layers.float: num_hidden_layers is int"),
    ({"arch": {"base": ["debug"]}}, "arch.base: ['debug'] is not one of"),
    ({"arch": {"hidden_size": {"choices": [64], "when": 5}}}, "arch.hidden_size.when: expected an expression string"),
    ({"arch": {"a\nb": [1]}}, "arch.'a\\nb': not a ModelConfig field"),
    ({"x\ny": 1}, "'x\\ny': unknown key"),
    ({"arch": {"rules": ["x" * 2000]}}, "arch.rules[0]:"),
    ({"arch": {"rules": [" + ".join(["hidden_size"] * 150) + " > 0"]}}, "arch.rules[0]:"),
    ({"arch": {"hidden_size": [32, 64, 32]}}, "arch.hidden_size.choices[2]: 32 repeats"),
    # the rest of the system space
    ({"system": {"threads": [0]}}, "system.threads[0]: 0 must be >= 1"),
    ({"system": {"threads": [2**40]}}, "system.threads[0]: 1099511627776 must be <= 1,024"),
    ({"system": {"threads": [1, 1]}}, "system.threads[1]: 1 repeats"),
    ({"system": {"dispatches": ["warp"]}}, "system.dispatches[0]: 'warp' is not one of"),
    ({"system": {"attentions": ["flash9"]}}, "system.attentions[0]: 'flash9' is not one of"),
    ({"system": {"compiles": ["fast"]}}, "system.compiles[0]: compile='fast': must be one of"),
    ({"system": {"int4_group_sizes": [48]}}, "system.int4_group_sizes[0]: int4_group_size=48: must be one of"),
    ({"system": {"batch_sizes": [True]}}, "system.batch_sizes[0]: True is not an integer"),
    ({"system": {"schemes": [["fp32"]]}}, "system.schemes[0]: ['fp32'] is not a weight scheme"),
    # targets, objective, budget, executor and the top-level scalars
    ({"targets": [{"name": "a"}, {"name": "a"}]}, "targets[1].name: 'a' repeats"),
    ({"targets": [{"name": 7}]}, "targets[0].name: 7 is not a non-empty string"),
    ({"targets": [{"name": "a", "resources": {"gpu": float("nan")}}]}, "targets[0].resources.gpu: nan must be"),
    ({"objective": {"kind": "constraint", "latency_s": 0.01, "memory_bytes": float("inf")}},
     "objective.memory_bytes: inf must be a finite"),
    ({"objective": {"kind": "scalarized", "weights": {"latency_s": float("nan")}}}, "objective.weights.latency_s: nan"),
    ({"objective": {"kind": "constraint", "latency_s": 0.01, "colour": 1}}, "objective.colour: unknown key"),
    ({"objective": {"kind": "pareto", "latency_s": 0.01}}, "objective.latency_s: a bound applies in constraint mode"),
    ({"objective": {"kind": "scalarized", "latency_s": 0.01, "weights": {"latency_s": 1}}},
     "objective.latency_s: a bound applies in constraint mode"),
    ({"budget": {"cost_s": float("inf")}}, "budget.cost_s: inf must be a finite"),
    ({"budget": {"candidates": 10**9}}, "budget.candidates: 1000000000 must be <= 10,000"),
    ({"budget": {"max_steps": 10**12}}, "budget.max_steps: 1000000000000 must be <= 1,000,000,000"),
    ({"budget": {"speed": 1}}, "budget.speed: unknown key"),
    ({"executor": {"kind": "pool", "workers": 10**6}}, "executor.workers: 1000000 must be <= 1,024"),
    ({"executor": {"kind": "ray", "address": ["x"]}}, "executor.address: ['x'] is not a non-empty string"),
    ({"executor": {"kind": "pool", "threads": 2}}, "executor.threads: unknown key"),
    ({"backend": "quantum"}, "backend: 'quantum' is not one of real, synthetic"),
    ({"backend": ["real"]}, "backend: ['real'] is not one of"),
    ({"scheduler": None}, "scheduler: None is not one of"),
    ({"eta": 10**9}, "eta: 1000000000 must be <= 1,000"),
    ({"seed": -1}, "seed: -1 must be >= 0"),
    ({"seed": 2**64}, "seed: 18446744073709551616 must be <="),
    ({"name": ""}, "name: '' is not a non-empty string"),
    ({"name": "a\nb"}, "name: 'a\\nb' holds control characters"),
    ({"workload": {"kind": "decode", "context": "1,b=5"}}, "workload.context: '1,b=5' is not an integer"),
    ({"workload": {"kind": "decode", "context": 2**40}}, "workload.context: 1099511627776 must be <="),
    ({"workload": {"kind": 5}}, "workload.kind: 5 is not a non-empty string"),
    # the synthetic backend's settings
    ({"synthetic": {"noise": -1}}, "synthetic.noise: noise=-1.0: must be >= 0"),
    ({"synthetic": {"noise": "loud"}}, "synthetic.noise: 'loud' is not a number"),
    ({"synthetic": {"sleep_s": 10**9}}, "synthetic.sleep_s: 1000000000 must be <= 3600"),
    ({"synthetic": {"noize": 0.1}}, "synthetic.noize: unknown key (known: eval_every, fail, noise"),
    ({"synthetic": {"fail": {"c000": "boom"}}}, "synthetic.fail.c000: 'boom' is not one of oom, nan, crash, exit"),
    ({"synthetic": {"fail": ["c0"]}}, "synthetic.fail: expected a mapping"),
    # training and data are checked whatever the backend: a later --backend real reads them
    ({"training": {"batchsize": 4}}, "training.batchsize: unknown key (known: attention_kernel, batch_size,"),
    ({"training": {"batch_size": 0}}, "training.batch_size: batch_size=0: must be an integer >= 1"),
    ({"training": {"batch_size": 2**40}}, "training.batch_size: 1099511627776 must be <= 65,536"),
    ({"training": {"lr": "fast"}}, "training.lr: 'fast' is not a number"),
    ({"training": {"lr": float("nan")}}, "training.lr: nan must be a finite number"),
    ({"training": {"schedule": "linear"}}, "training.schedule: schedule='linear': choose one of"),
    ({"training": {"moe_dispatch": "warp"}}, "training.moe_dispatch: moe_dispatch='warp': choose one of"),
    ({"training": {"data": {"corpus": "x"}}}, "training.data: unknown key"),
    ({"training": ["batch_size", 4]}, "training: expected a mapping"),
    ({"data": {"tokenizer": "words"}}, "data.tokenizer: tokenizer='words': choose one of"),
    ({"data": {"val_fraction": 1.5}}, "data.val_fraction: val_fraction=1.5: must be strictly between 0 and 1"),
    ({"data": {"vocab_size": 1000}}, "data.vocab_size: unknown key"),
    ({"data": {"corpus": 5}}, "data.corpus: 5 is not a non-empty string"),
    ({"data": {"corpus": "a.txt", "path": "a.txt"}}, "data.path: give corpus or path"),
    ({"data": "builtin"}, "data: expected a mapping"),
    ({"data": {"path": "/no/such/corpus.txt"}}, "data.path: corpus path '/no/such/corpus.txt' does not exist"),
]


@pytest.mark.parametrize(("change", "message"), SYNTHETIC_CASES, ids=lambda v: str(v)[:60])
def test_each_bad_value_is_named_with_its_rule(change, message):
    raw = make_spec(**copy.deepcopy(change))
    assert _error(raw).startswith(message)


@pytest.mark.parametrize(("change", "message"), [
    ({"num_hidden_layers": 10**9}, "arch.pool[0]: num_hidden_layers=1000000000: must be"),
    ({"rope_scaling": 5}, "arch.pool[0]: rope_scaling=5: must be a RopeScaling"),
    ({"rope_scaling": {"factor": "x"}}, "arch.pool[0]: rope_scaling.factor='x'"),
    ({"eos_token_id": [[1]]}, "arch.pool[0]: eos_token_id=([1],): must hold integers"),
    ({"hidden_size": "64"}, "arch.pool[0]: hidden_size='64': must be an integer >= 1"),
], ids=lambda v: str(v)[:40])
def test_pool_architectures_are_checked_by_model_config(change, message):
    raw = make_spec()
    raw["arch"] = {"pool": [{**DEBUG, **change}]}
    assert _error(raw).startswith(message)


def test_every_key_of_the_valid_sections_is_accepted():
    spec = parse_spec(make_spec(
        training={"batch_size": 4, "seq_len": 64, "lr": 1e-3, "schedule": "wsd", "threads": None},
        data={"corpus": "builtin", "tokenizer": "bpe", "val_fraction": 0.2, "text_field": "body"},
        synthetic={"noise": 0.0, "eval_every": 5, "step_cost_s": 0, "trial_cost_s": 1, "sleep_s": 0,
                   "fail": {"c000": "oom"}},
        system={"schemes": ["fp32"], "threads": [None, 1], "compiles": ["eager"], "int4_group_sizes": [32]},
        targets=[{"name": "gpu", "device": "cuda", "resources": {"gpu_node": 1}}],
        workload={"kind": "decode", "context": 64, "batch": 1},
    ))
    assert spec.training["schedule"] == "wsd" and spec.targets[0].device == "cuda"
    assert spec.synthetic["fail"] == {"c000": "oom"}


def test_data_path_is_read_as_the_corpus(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be\n")
    spec = parse_spec(make_spec(data={"path": str(corpus)}))
    assert spec.data == {"corpus": str(corpus)}  # the form the trainer's DataConfig reads


# --- the real backend: the corpus and the tokenizer are checked before the first job --------------------------

def test_the_default_spec_is_valid_for_the_real_backend():
    spec = load_spec(DEFAULT_SPEC)
    assert spec.backend == "real" and spec.data == {"corpus": "builtin"}


@pytest.mark.parametrize(("change", "message"), [
    ({"data": {"tokenizer": "byte"}},
     "data.tokenizer: byte gives 257 tokens, but a candidate has vocab_size=512"),
    ({"arch": {"vocab_size": [512, 1024]}},
     "data.tokenizer: bpe is trained to the base preset's vocab_size (512), but a candidate has vocab_size=1024"),
    ({"arch": {"base": "debug", "vocab_size": [200]}}, "data.tokenizer: bpe is trained"),
    ({"data": {"corpus": "/no/such/dir/corpus.txt"}}, "data.corpus: corpus path '/no/such/dir/corpus.txt' does not"),
    ({"data": {"corpus": "/no/such/*.txt"}}, "data.corpus: corpus glob '/no/such/*.txt' matches no files"),
    ({"training": {"batchsize": 4}}, "training.batchsize: unknown key"),
    ({"training": {"eval_every": 0}}, "training.eval_every: eval_every=0: must be an integer >= 1"),
], ids=lambda v: str(v)[:50])
def test_real_backend_inputs_are_checked_up_front(change, message):
    assert _error(_real(**change)).startswith(message)


def test_byte_tokenizer_is_accepted_with_its_vocabulary():
    spec = parse_spec(_real(data={"tokenizer": "byte"}, arch={"vocab_size": [257]}))
    assert spec.data["tokenizer"] == "byte"


@pytest.mark.parametrize(("content", "message"), [
    (b"caf\xe9 au lait\n", "is not UTF-8: undecodable byte 0xe9 at offset 3"),
    (b"   \n\n", "is empty"),
], ids=["latin1", "blank"])
def test_unreadable_corpus_files_are_refused(tmp_path, content, message):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    error = _error(_real(data={"path": str(corpus)}))
    assert error.startswith("data.path: corpus") and message in error


def test_corpus_directory_without_text_is_refused(tmp_path):
    (tmp_path / "notes.bin").write_bytes(b"\x00")
    assert _error(_real(data={"corpus": str(tmp_path)})).startswith(f"data.corpus: corpus directory {str(tmp_path)!r}")


def test_a_readable_corpus_passes(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be\n" * 10)
    assert parse_spec(_real(data={"path": str(corpus)})).data["corpus"] == str(corpus)


def test_a_synthetic_spec_switched_to_the_real_backend_is_checked_on_request():
    spec = parse_spec(make_spec(data={"tokenizer": "byte"}))  # the synthetic backend never reads the data
    with pytest.raises(SpecError, match=r"^data\.tokenizer: byte gives 257 tokens"):
        check_real_inputs(spec)
