import gzip
import json
from pathlib import Path

import pytest
from tiny_tables import table

from sonar.bench.synthetic import synthetic_table
from sonar.bench.table import TableError, load_table, write_table


@pytest.mark.parametrize("name", ["t.jsonl", "t.jsonl.gz"])
def test_roundtrip_keeps_every_value_including_infinities(tmp_path, name):
    original = table([("a", 2.0, [0.5, float("inf")]), ("b", 2.5, [0.3])])
    path = tmp_path / name
    write_table(path, original.header, original.candidates)
    loaded = load_table(path)
    assert loaded == original
    assert loaded.candidate("a").tuning[1].latency_s == float("inf")
    if name.endswith(".gz"):
        assert gzip.open(path, "rt").readline().startswith("{")


def test_synthetic_table_roundtrips_and_is_labelled(tmp_path):
    original = synthetic_table(candidates=6, max_steps=64, max_trials=5, seed=3)
    write_table(tmp_path / "s.jsonl", original.header, original.candidates)
    loaded = load_table(tmp_path / "s.jsonl")
    assert loaded == original
    assert loaded.header.synthetic and loaded.header.provenance["synthetic"]
    assert synthetic_table(candidates=6, max_steps=64, max_trials=5, seed=3) == original  # deterministic


def _lines(tmp_path):
    t = table([("a", 2.0, [0.5]), ("b", 2.5, [0.3])])
    write_table(tmp_path / "t.jsonl", t.header, t.candidates)
    return [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]


def _write(tmp_path, records):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def _mutate(records, index, *keys, value=None, delete=False):
    target = records[index]
    for key in keys[:-1]:
        target = target[key]
    if delete:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return records


def _zero_seconds(records):
    for record in records[1:]:
        for point in record["curve"] + record["tuning"]:
            point["seconds"] = 0.0
    return records


@pytest.mark.parametrize(
    "mutation, message",
    [
        (lambda r: _mutate(r, 0, "version", value=99), r"bad.jsonl:1: field 'version' is 99"),
        (lambda r: _mutate(r, 0, "schema", value="other"), r"bad.jsonl:1: field 'schema'"),
        (lambda r: _mutate(r, 0, "checkpoints", value=[16, 8]), r"bad.jsonl:1: field 'checkpoints'"),
        (lambda r: _mutate(r, 1, "curve", delete=True), r"bad.jsonl:2 \(candidate a\): missing field 'curve'"),
        (lambda r: _mutate(r, 2, "curve", 1, "val_loss", value="low"),
         r"bad.jsonl:3 \(candidate b\) curve\[1\]: field 'val_loss' should be float, got 'low'"),
        (lambda r: _mutate(r, 1, "tuning", 0, "latency_s", delete=True),
         r"bad.jsonl:2 \(candidate a\) tuning\[0\]: missing field 'latency_s'"),
        (lambda r: _mutate(r, 1, "curve", 2, "step", value=64),
         r"candidate a\): field 'curve' has steps \[8, 16, 64\]"),
        (lambda r: _mutate(r, 1, "model", "hidden_size", value=-1), r"candidate a\): field 'model': hidden_size=-1"),
        (lambda r: _mutate(r, 2, "id", value="a"), r"bad.jsonl:3: candidate id 'a' appears twice"),
        (lambda r: _mutate(r, 1, "curve", 1, "seconds", value=1.0), r"candidate a\): field 'curve' seconds must be"),
        (lambda r: r[1:], r"bad.jsonl:1: the first record must be the header"),
        (lambda r: _zero_seconds(r), r"bad.jsonl: every candidate records 0 seconds"),
    ],
)
def test_schema_errors_name_the_line_record_and_field(tmp_path, mutation, message):
    path = _write(tmp_path, mutation(_lines(tmp_path)))
    with pytest.raises(TableError, match=message):
        load_table(path)


def test_unreadable_and_missing_files_are_user_errors(tmp_path):
    (tmp_path / "junk.jsonl").write_text('{"record": "header"\n')
    with pytest.raises(TableError, match="junk.jsonl:1: not valid JSON"):
        load_table(tmp_path / "junk.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(TableError, match="empty file"):
        load_table(tmp_path / "empty.jsonl")
    with pytest.raises(Exception, match="does not exist"):
        load_table(tmp_path / "nope.jsonl")


SCHEMA_V1_FIXTURE = Path(__file__).parent / "data" / "cpu-v2-schema-v1.jsonl"  # cpu-v2's first 6 candidates


def test_a_schema_v1_table_as_committed_still_loads_and_replays(tmp_path):
    from sonar.bench.engine_method import engine_methods
    from sonar.bench.methods import BruteForce, RandomSearch
    from sonar.bench.regret import objective_from_table
    from sonar.bench.runner import replay_all

    assert json.loads(SCHEMA_V1_FIXTURE.read_text().splitlines()[0])["version"] == 1
    table = load_table(SCHEMA_V1_FIXTURE)
    assert table.ids == [f"c{i:03d}" for i in range(6)] and not table.header.synthetic
    assert table.header.checkpoints == (8, 16, 32, 64, 128, 256, 512) and table.header.max_trials == 25
    assert table.candidate("c000").tuning[-1].config["compile"] == "default"
    objective = objective_from_table(table)
    assert objective.latency_limit_s == pytest.approx(7.376859975920524e-4)  # c004's best, the median
    runs = replay_all(table, objective, [BruteForce(), RandomSearch()], seeds=range(2))
    for run in runs:
        assert all(trace[-1].regret == 0.0 for trace in run.traces)  # both end on the best feasible pick
    sonar = [m for m in engine_methods() if m.name == "sonar"]
    (engine,) = replay_all(table, objective, sonar, seeds=range(1))
    final = engine.traces[0][-1]
    assert not final.infeasible and final.seconds <= table.brute_force_seconds
    write_table(tmp_path / "again.jsonl", table.header, table.candidates)  # today's writer, read back the same
    assert load_table(tmp_path / "again.jsonl") == table
