"""Reading a spec file: every unreadable file is one SpecError naming it, and the CLI refuses it before any work."""

from pathlib import Path

import pytest
import yaml
from search_support import make_spec
from typer.testing import CliRunner

from sonar.cli import app
from sonar.search.spec import MAX_SPEC_BYTES, SpecError, load_spec


@pytest.mark.parametrize(("content", "message"), [
    (b"name: caf\xe9\n", "not UTF-8 text (undecodable byte 0xe9 at offset 9)"),
    (b"", "the spec file is empty"),
    (b"# only a comment\n", "the spec file is empty"),
    (b"- a\n- b\n", "the spec must be a mapping of keys (name, arch, budget, ...), got a list"),
    (b"just words\n", "got a str"),
    (b"budget: [unclosed", "not valid YAML"),
    (b"a: 1\n  b: 2\n", "not valid YAML (mapping values are not allowed here at line 2, column 4)"),
    (b"a: !!python/object:os.system x\n", "not valid YAML"),
    (b"a: *nowhere\n", "not valid YAML"),
    (b"\x00\x01\x02", "not valid YAML"),
    (b"x: [" * 20000, "not valid YAML"),
], ids=["latin1", "empty", "comment", "list", "scalar", "unclosed", "indent", "python-tag", "alias", "binary",
        "deep"])
def test_bad_spec_files_are_one_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_missing_and_oversized_files(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "absent.yaml")
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path)  # a directory
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_SPEC_BYTES)
    with pytest.raises(SpecError, match="a spec file may have at most"):
        load_spec(big)


def test_a_valid_file_round_trips(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(make_spec()), encoding="utf-8")
    assert load_spec(path).name == "test"


@pytest.mark.parametrize("bad", [
    {"training": {"batchsize": 4}},
    {"data": {"tokenizer": "byte"}},
    {"data": {"corpus": "/no/such/corpus.txt"}},
    {"synthetic": {"eval_every": 0}},
], ids=["training-key", "byte-tokenizer", "missing-corpus", "eval-every"])
def test_the_cli_refuses_a_bad_spec_before_the_first_job(tmp_path, bad):
    """Once each of these let every job fail and the run exit 0; now: exit 2, one line, no run directory."""
    raw = yaml.safe_load((Path(__file__).parents[2] / "src/sonar/search/default_search.yaml").read_text())
    raw.update(bad)
    config = tmp_path / "spec.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["search", str(config), "--out", str(out), "--no-live"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and next(iter(bad)) in lines[0] and "Traceback" not in lines[0]
    assert not out.exists()
