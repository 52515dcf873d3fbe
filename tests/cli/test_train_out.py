"""`sonar train --out` is new, empty, or a training run: never someone's folder."""

from typer.testing import CliRunner

from sonar.cli import app
from tree_snapshot import snapshot


def test_train_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    before = snapshot(tmp_path)
    result = CliRunner().invoke(app, ["train", "--preset", "debug", "--steps", "1", "--out", str(tmp_path / "photos")])
    assert result.exit_code == 2
    assert "photos: is not empty and holds no sonar train run" in result.output
    assert snapshot(tmp_path) == before
