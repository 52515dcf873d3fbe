"""`sonar plan` from the command line: JSON keys, the rich tables, one-line errors."""

import json
import re
import sys

import pytest
from typer.testing import CliRunner

from sonar.cli import app, main

runner = CliRunner()
EXAMPLE = ["plan", "--model", "scout", "--weights", "int4_mixed", "--gpu", "h100-80gb", "--gpus", "1",
           "--context", "131072"]


def test_json_has_the_issue_keys():
    result = runner.invoke(app, [*EXAMPLE, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("fits", "max_context", "params_total", "params_active", "weight_bytes", "kv_bytes_per_token"):
        assert key in data
    assert data["fits"] is True
    assert data["max_context"] >= 131_072
    assert 108e9 < data["params_total"] < 109.5e9
    assert data["kv_bytes_per_token"]["global_layers"] == 48 * 1024
    assert data["context"] == 131_072


def test_context_accepts_binary_suffixes():
    result = runner.invoke(app, ["plan", "--model", "scout", "--weights", "bf16", "--gpus", "8",
                                 "--context", "10M", "--json"])
    data = json.loads(result.output)
    assert data["context"] == 10_485_760 and data["fits"] is False


def test_the_headline_counts_a_small_model_in_its_own_unit():
    # the debug preset has a few million parameters: in billions it read "0.00B parameters"
    result = runner.invoke(app, ["plan", "--model", "debug", "--gpu", "h100-80gb", "--context", "1K"])
    assert result.exit_code == 0, result.output
    assert "0.00B" not in result.output
    assert re.search(r"debug: [\d.]+[KM] parameters, [\d.]+[KM] active per token", result.output), result.output


def test_rich_output_shows_both_kv_figures():
    result = runner.invoke(app, ["plan", "--model", "scout", "--weights", "bf16", "--gpus", "8", "--context", "10M"])
    assert result.exit_code == 0, result.output
    assert "chunk-aware total" in result.output and "if chunking were ignored" in result.output
    assert "515.40 GB" in result.output  # the 12 global layers
    assert "2.06 TB" in result.output  # what a chunk-blind planner would count
    assert "DOES NOT FIT" in result.output


def test_table_prints_presets_by_formats_by_gpu_counts():
    result = runner.invoke(app, ["plan", "--table"])
    assert result.exit_code == 0, result.output
    for word in ("scout", "maverick", "int4_mixed", "fp8_mixed", "1x", "8x"):
        assert word in result.output


def test_table_json_matches_single_plans():
    result = runner.invoke(app, ["plan", "--table", "--model", "scout", "--gpu-counts", "1,2", "--json"])
    rows = {r["weights"]: r for r in json.loads(result.output)}
    single = json.loads(runner.invoke(app, [*EXAMPLE, "--json"]).output)
    assert rows["int4_mixed"]["max_context"]["1"] == single["max_context"]
    assert rows["bf16"]["max_context"] == {"1": 0, "2": 0}


@pytest.mark.parametrize("flag,value,expected", [
    ("--gpu", "h100-90gb", r"'h100-90gb'.*h200-141gb"),
    ("--context", "-5", r"--context '-5'"),
    ("--weights", "int2", r"'int2'.*int4_mixed"),
    ("--kv-dtype", "int4", r"'int4'.*fp8"),
    ("--model", "no/such/config.json", r"'no/such/config.json'.*maverick"),
    ("--gpus", "0", r"--gpus 0"),
    ("--reserve-gb", "-1", r"--reserve-gb -1"),
])
def test_bad_input_gives_one_line_error(monkeypatch, capsys, flag, value, expected):
    options = dict(zip(EXAMPLE[1::2], EXAMPLE[2::2], strict=True)) | {flag: value}
    monkeypatch.setattr(sys, "argv", ["sonar", "plan", *(item for pair in options.items() for item in pair)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert re.search(expected, err), err
