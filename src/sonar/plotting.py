"""matplotlib for sonar's figures: the Agg backend, its config and font cache kept in sonar's own cache.

Left alone, matplotlib creates ~/.config/matplotlib and ~/.cache/matplotlib on first use: files in the
user's home that no sonar command should write (a user who set MPLCONFIGDIR keeps theirs).
"""

from __future__ import annotations

import os

from sonar.data.cache import cache_root


def pyplot():
    """matplotlib.pyplot, on the Agg backend."""
    if "MPLCONFIGDIR" not in os.environ:
        os.environ["MPLCONFIGDIR"] = str(cache_root() / "matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
