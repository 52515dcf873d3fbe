import os

import pytest

from sonar.train.runtime import idle_cores


@pytest.mark.parametrize("load, expected", [(0.0, 4), (1.2, 3), (3.6, 1), (9.0, 1)])
def test_idle_cores_leaves_busy_cores_alone(monkeypatch, load, expected):
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert idle_cores(4) == expected
