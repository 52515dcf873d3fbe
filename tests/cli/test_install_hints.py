"""Install hints reach the terminal whole: `sonar[peers]` is text, not rich markup."""

from typer.testing import CliRunner

from sonar.bench import synetune_peer
from sonar.cli import app


def test_the_peers_install_hint_keeps_its_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(synetune_peer, "synetune_available", lambda: False)
    table = tmp_path / "table.jsonl"
    runner = CliRunner()
    built = runner.invoke(app, ["bench", "build", "--synthetic", "--out", str(table), "--candidates", "8"])
    assert built.exit_code == 0, built.output
    result = runner.invoke(app, ["bench", "replay", str(table), "--seeds", "1", "--methods", "random"])
    assert result.exit_code == 0, result.output
    assert "pip install 'sonar[peers]'" in " ".join(result.output.split())
