"""The model-speed benchmark's report: every figure present, greedy tokens agreeing with transformers."""

import pytest

from sonar.systems.config import SystemConfig


@pytest.mark.slow  # loads transformers and generates on both sides (~15 s)
def test_model_speed_reports_tuned_decode_and_prefill_against_the_matmul_peak():
    pytest.importorskip("transformers")
    from sonar.bench.model_speed import run

    tuned = SystemConfig(weights_routed="int8", moe_dispatch="packed_grouped", threads=1)
    result = run("debug", prefill_len=16, prompt_len=8, new_tokens=4, repeats=1, tuned=tuned)
    assert result["tokens_match"]
    assert result["tuned_config"] == tuned.label()
    assert 0 < result["tuned_logits_error"] < 0.05  # int8 experts: close to fp32, not equal
    for key in ("decode_ratio", "decode_ratio_tuned", "prefill_ratio", "prefill_flops_per_s"):
        assert result[key] > 0, key
    assert 0 < result["prefill_fraction_of_matmul_peak"] < 1.5  # a measured peak can be beaten a little, not 1.5x


@pytest.mark.slow  # as above
def test_model_speed_runs_a_trained_checkpoint_on_both_sides(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    import torch

    from sonar.bench import model_speed
    from sonar.bench.model_speed import run

    peaks = iter([1e9, 3e9])  # before and after the timings: a load that came or went between them
    monkeypatch.setattr(model_speed, "cpu_matmul_peak_now", lambda: next(peaks))
    from sonar.checkpoint import save_pretrained
    from sonar.model import build_model, preset
    from sonar.model.params import count_parameters

    model = build_model(preset("debug"), seed=3)
    with torch.no_grad():
        model.lm_head.weight.mul_(4.0)  # not the preset's seed-0 init, so using it is visible
    save_pretrained(model, tmp_path / "model")
    result = run("tiny", prefill_len=16, prompt_len=8, new_tokens=4, repeats=1, checkpoint=str(tmp_path / "model"),
                 tuned=SystemConfig())
    assert result["checkpoint"] == str(tmp_path / "model") and result["preset"] is None
    assert result["params_active"] == count_parameters(preset("debug")).active  # not --preset tiny's
    assert result["tokens_match"] and result["tuned_logits_error"] == 0
    assert result["tuned_tokens_agreeing"] == 4  # every new token
    assert result["matmul_peak_flops_per_s"] == 3e9  # the higher of the two measurements


def test_agreeing_prefix_counts_tokens_before_the_first_difference():
    import torch

    from sonar.bench.model_speed import _agreeing_prefix

    assert _agreeing_prefix(torch.tensor([5, 6, 7]), torch.tensor([5, 6, 7])) == 3
    assert _agreeing_prefix(torch.tensor([5, 9, 7]), torch.tensor([5, 6, 7])) == 1
    assert _agreeing_prefix(torch.tensor([1, 6, 7]), torch.tensor([5, 6, 7])) == 0


@pytest.mark.parametrize("argv, message", [
    (["--tuned-config", "notjson"], "--tuned-config: not JSON"),
    (["--tuned-config", "[" * 100_000], "nested too deeply"),
    (["--tuned-config", '{"threads": 100000}'], "threads=100000: must be between 1 and 1,024"),
    (["--tuned-config", "[1]"], "a JSON object of system knobs is expected"),
    (["--tuned-config", '{"threads": "x"}'], "threads='x': must be a whole number"),
    (["--tuned-config", '{"warp": 9}'], "unknown system knobs"),
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--repeats", "0"], "--repeats 0: must be >= 1"),
    (["--checkpoint", "/nonexistent/model"], "/nonexistent/model"),
])
def test_bad_arguments_are_one_line_errors_before_any_work(argv, message, monkeypatch, capsys):
    from sonar.bench import model_speed

    monkeypatch.setattr("sys.argv", ["model_speed", *argv])
    monkeypatch.setattr(model_speed, "run", lambda *a, **k: pytest.fail("ran despite a bad argument"))
    with pytest.raises(SystemExit) as exit_info:
        model_speed.main()
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
