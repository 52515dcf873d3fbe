import json
import math

import pytest

from sonar.bench.ablate import ablation, rule_report, variant


def _rows(per_table):
    """per_table: table -> (all-on speedup, rule-off speedup), one cell each, two seeds alike."""
    rows = []
    for table, (on, off) in per_table.items():
        for method, value in (("sonar", on), (variant("tuning_pays"), off)):
            for seed in (0, 1):
                rows.append({"method": method, "table": table, "quantile": 0.5, "rule": "completed", "seed": seed,
                             "speedup_1pct": value, "speedup_gap10": value})
    return rows


def test_a_rule_that_helps_everywhere_earns_its_place():
    report = rule_report(_rows({"a": (9.0, 4.0), "b": (19.0, 9.0), "c": (3.0, 1.0)}), "tuning_pays", "speedup_1pct")
    assert report["contribution"] == pytest.approx(2.0)  # geometric mean of 10/5, 20/10, 4/2
    assert (report["helped"], report["hurt"]) == (3, 0)
    assert report["earns_place"] and report["kept_folds"] == 1.0
    assert report["loto_gain"] == pytest.approx(1.0)  # never dropped


def test_a_rule_that_helps_one_table_a_lot_and_hurts_two_a_little_is_judged_out_of_sample():
    report = rule_report(_rows({"a": (99.0, 9.0), "b": (4.0, 9.0), "c": (4.0, 9.0)}), "tuning_pays", "speedup_1pct")
    assert report["contribution"] == pytest.approx((10 * 0.5 * 0.5) ** (1 / 3))
    assert (report["helped"], report["hurt"]) == (1, 2)
    # held out a, the others say drop, and a loses its 100/10; held out b or c, the other two together
    # say keep (10 x 0.5 > 1): dropping would not have generalised
    assert report["kept_folds"] == pytest.approx(2 / 3)
    assert report["loto_gain"] == pytest.approx(10 ** (-1 / 3))
    assert report["earns_place"]


def test_a_rule_that_hurts_everywhere_is_dropped_in_every_fold():
    report = rule_report(_rows({"a": (4.0, 9.0), "b": (1.0, 3.0), "c": (0.0, 1.0)}), "tuning_pays", "speedup_1pct")
    assert report["contribution"] < 1 and report["kept_folds"] == 0 and not report["earns_place"]
    assert report["loto_gain"] > 1


def test_failures_and_instant_successes_stay_finite():
    report = rule_report(_rows({"a": (0.0, 0.0), "b": (math.inf, 1.0)}), "tuning_pays", "speedup_gap10")
    assert math.isfinite(report["contribution"])
    assert ablation(_rows({"a": (1.0, 1.0)}), ["eliminate"])["eliminate"]["speedup_1pct"]["tables"] == 0


def test_the_ablate_command_writes_each_rules_report_and_logs_its_progress(tmp_path):
    from typer.testing import CliRunner

    from sonar.bench.synthetic import synthetic_table
    from sonar.bench.table import write_table
    from sonar.cli.app import app
    from sonar.cli.bench_suite import LOG_STEPS

    for seed in (11, 12):
        t = synthetic_table(candidates=8, max_steps=64, max_trials=8, seed=seed)
        write_table(tmp_path / f"syn-{seed}.jsonl", t.header, t.candidates)
    out = tmp_path / "ablation.json"
    (tmp_path / "ablation.json.tmp").write_text("a user's file")  # the name a fixed staging file once took
    result = CliRunner().invoke(app, ["bench", "ablate", str(tmp_path / "syn-11.jsonl"), str(tmp_path / "syn-12.jsonl"),
                                      "--switch", "tuning_pays", "--seeds", "1", "--quantiles", "0.5", "--jobs", "1",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert set(json.loads(out.read_text())["ablation"]) >= {"tuning_pays"}
    assert (tmp_path / "ablation.json.tmp").read_text() == "a user's file"
    cells = 2 * 2 * 2  # tables x recommendation rules x (policy, flipped)
    logged = [line for line in result.output.splitlines() if " cells: " in line]  # not a terminal: a log
    assert 2 <= len(logged) <= LOG_STEPS + 1 and f" {cells}/{cells} cells: " in logged[-1], result.output


def test_a_group_of_rules_flips_together_and_only_when_the_policy_treats_them_alike():
    from sonar.bench.suite import ABLATED, ADDED, method_named
    from sonar.errors import UserError

    assert variant("tuning_pays+screen_feasibility") == f"{ABLATED}tuning_pays+screen_feasibility"
    assert variant("eliminate+latency_model") == f"{ADDED}eliminate+latency_model"
    assert method_named(variant("eliminate+latency_model")).rules == {"eliminate": True, "latency_model": True}
    with pytest.raises(UserError, match="all be on, or all off"):
        variant("tuning_pays+eliminate")
    with pytest.raises(UserError, match="unknown"):
        variant("tuning_pays+bogus")


def test_the_ablate_command_refuses_an_unknown_rule_inside_a_group(tmp_path):
    from typer.testing import CliRunner

    from sonar.cli.app import app

    result = CliRunner().invoke(app, ["bench", "ablate", str(tmp_path), str(tmp_path), "--switch", "eliminate+bogus",
                                      "--out", str(tmp_path / "a.json")])
    assert result.exit_code != 0 and "bogus" in result.output and "Traceback" not in result.output


def test_the_ablate_command_refuses_a_rule_named_twice_in_a_group(tmp_path):
    from typer.testing import CliRunner

    from sonar.cli.app import app

    result = CliRunner().invoke(app, ["bench", "ablate", str(tmp_path), str(tmp_path),
                                      "--switch", "eliminate+eliminate", "--out", str(tmp_path / "a.json")])
    assert result.exit_code == 2 and "names a rule twice" in result.output, result.output
