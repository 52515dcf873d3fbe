import json
from pathlib import Path

import pytest

from sonar.bench.figures import render, rewrite
from sonar.bench.suite import scoreboard
from sonar.errors import UserError

ROOT = Path(__file__).parents[2]


def _row(table, method, seed, value, rule="completed"):
    return {"table": table, "quantile": 0.5, "rule": rule, "method": method, "seed": seed,
            "speedup_1pct": value, "speedup_gap10": value / 2, "speedup_top3": value / 4, "speedup_best": 0.0,
            "anytime_area": 0.5}


def _pareto_row(table, method, seed, value):
    return {"mode": "pareto", "table": table, "quantile": None, "rule": "checkpoint", "method": method,
            "seed": seed, "speedup_1pct": value, "speedup_gap10": 2 * value, "anytime_area": 0.25}


TABLES = {"tables": {"m.jsonl": {"synthetic": False}, "s.jsonl.gz": {"synthetic": True}}}


def _result():
    rows = [_row(t, m, s, v) for t in ("m.jsonl", "s.jsonl.gz") for s in (0, 1, 2)
            for m, v in (("sonar", 10.0 + s), ("synetune_asha", 20.0), ("random_feasible", 5.0))]
    return TABLES | scoreboard(rows)


def _pareto_result():
    rows = [_pareto_row(t, m, s, v) for t in ("m.jsonl", "s.jsonl.gz") for s in (0, 1)
            for m, v in (("sonar", 4.0), ("synetune_moasha", 0.0 if s else 8.0), ("brute_force", 1.5))]
    return TABLES | {"settings": {"mode": "pareto"}} | scoreboard(rows)


def test_blocks_show_medians_and_failures_per_kind_of_table():
    blocks = render(_result(), None)
    assert "| completed | **sonar** | 11.0x (0) | 5.5x (0) | 2.8x (0) | 0.0x (3) | 0.500 |" in blocks["measured"]
    assert "| m.jsonl | completed | 11.0x | synetune_asha 20.0x | random_feasible 5.0x |" in blocks["per-table"]
    assert "| completed | 2 | 0% | 0% |" in blocks["ahead"]
    assert "1 tables" in blocks["synthetic"]


def test_the_pareto_block_shows_the_hypervolume_criteria_and_round_trips():
    block = render(_result(), None, _pareto_result())["pareto"]
    header = "| rule | method | hypervolume gap <= 1% (failed seeds) | gap <= 10% (failed seeds) | anytime area |"
    assert header in block
    assert "| checkpoint | **sonar** | 4.0x (0) | 8.0x (0) | 0.250 |" in block
    assert "| checkpoint | synetune_moasha | 4.0x (1) | 8.0x (1) | 0.250 |" in block  # median of 8x and a failure
    assert "top 3" not in block and "Pareto mode, no latency bound, 2 seeds per cell." in block
    assert "| checkpoint | 2 | 0% | 0% |" in block  # level with the peer is not ahead of it
    text = "intro\n<!-- figures:pareto -->\nold\n<!-- /figures:pareto -->\n"
    once = rewrite(text, {"pareto": block})
    assert block in once and rewrite(once, {"pareto": block}) == once
    with pytest.raises(UserError, match="--mode pareto"):
        render(_result(), None, _result())


def test_rewrite_replaces_only_the_named_blocks_and_names_a_missing_one():
    text = "intro\n<!-- figures:ahead -->\nold\n<!-- /figures:ahead -->\noutro\n"
    assert rewrite(text, {"ahead": "new\n"}) == "intro\n<!-- figures:ahead -->\nnew\n<!-- /figures:ahead -->\noutro\n"
    with pytest.raises(UserError, match="measured"):
        rewrite(text, {"measured": "x\n"})


def test_the_committed_readme_shows_what_the_committed_json_renders():
    readme = ROOT / "benchmarks" / "README.md"
    board = json.loads((ROOT / "benchmarks" / "scoreboard.json").read_text())
    ablation = json.loads((ROOT / "benchmarks" / "ablation.json").read_text())
    pareto = json.loads((ROOT / "benchmarks" / "pareto.json").read_text())
    text = readme.read_text()
    assert rewrite(text, render(board, ablation, pareto, tables_root=ROOT)) == text


def test_figures_reads_the_tables_only_for_a_readme_that_shows_the_oracle(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sonar.cli import app

    board = tmp_path / "board.json"
    board.write_text((ROOT / "benchmarks" / "scoreboard.json").read_text())
    readme = tmp_path / "README.md"
    readme.write_text("".join(f"<!-- figures:{name} -->\n<!-- /figures:{name} -->\n"
                              for name in ("measured", "synthetic", "per-table", "ahead")))
    monkeypatch.chdir(tmp_path)  # the suite's tables are not here
    runner = CliRunner()
    done = runner.invoke(app, ["bench", "figures", "--scoreboard", str(board), "--readme", str(readme)])
    assert done.exit_code == 0, done.output
    assert "| rule | method |" in readme.read_text()
    readme.write_text(readme.read_text() + "<!-- figures:oracle -->\n<!-- /figures:oracle -->\n")
    missing = runner.invoke(app, ["bench", "figures", "--scoreboard", str(board), "--readme", str(readme)])
    assert missing.exit_code == 2 and "the suite's table is missing" in missing.output
