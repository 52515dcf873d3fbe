"""sonar's figures keep matplotlib's config and font cache out of the user's home."""

import os
import subprocess
import sys

DRAW = """
from pathlib import Path
from sonar.interfaces import CurvePoint
from sonar.train.report import write_curve_png
write_curve_png(Path('curve.png'), [CurvePoint(step=1, tokens=8, val_loss=5.0, train_loss=5.1, seconds=1.0)], title='t')
"""


def _draw(tmp_path, **env):
    home = tmp_path / "home"
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "SONAR_CACHE", "XDG_CONFIG_HOME",
                                                                "XDG_CACHE_HOME")}
    subprocess.run([sys.executable, "-c", DRAW], cwd=tmp_path, env={**clean, "HOME": str(home), **env}, check=True)
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    return home


def test_a_figure_writes_nothing_of_matplotlib_in_the_home(tmp_path):
    home = _draw(tmp_path)
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert not any("matplotlib" in path and not path.startswith(".cache/sonar/") for path in written), written


def test_a_users_own_matplotlib_config_dir_is_kept(tmp_path):
    mine = tmp_path / "mpl"
    home = _draw(tmp_path, MPLCONFIGDIR=str(mine))
    assert not (home / ".cache" / "sonar" / "matplotlib").exists()
