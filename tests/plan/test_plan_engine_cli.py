"""`sonar plan --engine/--provider/--calibration-table` from the command line."""

import json

import pytest
from typer.testing import CliRunner

from sonar.cli import app

runner = CliRunner()
SCOUT_8X = ["plan", "--model", "scout", "--weights", "bf16", "--gpus", "8", "--context", "1M"]


def run_json(*extra):
    result = runner.invoke(app, [*SCOUT_8X, *extra, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_exact_is_the_default_and_keeps_its_verdict():
    data = run_json()
    assert data["engine"] == "exact" and "exact" not in data
    assert data["fits"] is True and data["max_context"] == 7_890_962
    assert data["binding_limit"] == "memory"


def test_an_engine_replaces_the_verdict_and_says_which_assumptions_bit():
    data = run_json("--engine", "vllm", "--engine-version", "0.8.3")
    assert data["exact"]["max_context"] == 7_890_962
    assert 1_000_000 < data["max_context"] < 1_300_000
    assert data["fits"] is True  # 1M (binary, 1,048,576) is below the engine's maximum for one sequence
    bit = data["engine"]["assumptions_that_bit"]
    assert {"unmodelled_overhead", "chunked_kv_not_capped", "memory_utilization"} <= set(bit)
    assert data["binding_limit"] == "engine"


def test_a_provider_window_binds_when_smallest():
    data = run_json("--provider", "groq")
    assert data["binding_limit"] == "provider" and data["provider"]["window"] == 131_072
    assert data["provider"]["as_published"] == "2025-04"


def test_serving_reports_sequences_and_a_bound():
    data = run_json("--batch", "1")
    assert data["serving"]["sequences_that_fit_at_context"] >= 1
    assert "not a promise" in data["serving"]["decode_roofline"]["note"]


def test_the_calibration_table_lists_every_fact():
    result = runner.invoke(app, ["plan", "--calibration-table"])
    assert result.exit_code == 0
    assert "vllm-scout-bf16-8xh200" in result.output and "sglang-scout-bf16-8xh200" in result.output


def test_the_calibration_table_refuses_options_it_would_ignore():
    result = runner.invoke(app, ["plan", "--calibration-table", "--model", "llama5", "--gpus", "4"])
    assert result.exit_code == 2 and "drop --model, --gpus" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "tgi"], "--engine 'tgi': unknown"),
    (["--engine", "vllm", "--engine-version", "0.1"], "--engine-version '0.1'"),
    (["--provider", "nowhere"], "--provider 'nowhere'"),
    (["--hbm-tbps", "-3"], "--hbm-tbps -3.0"),
])
def test_bad_inputs_are_one_line_errors(args, message):
    result = runner.invoke(app, [*SCOUT_8X, *args])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
