import pytest

from sonar.errors import UserError
from sonar.posttrain.curriculum import Curriculum


def test_level_rises_when_the_window_reaches_the_threshold_and_stops_at_the_max():
    c = Curriculum(level=2, max_level=3, threshold=0.7, window=2)
    assert not c.observe(0.9)  # window not full yet
    assert not c.observe(0.4) and c.level == 2  # mean 0.65 < 0.7
    assert c.observe(1.0) and c.level == 3 and c.recent == []
    assert not c.observe(1.0) and not c.observe(1.0) and c.level == 3


@pytest.mark.parametrize("kwargs", [dict(level=0), dict(level=3, max_level=2), dict(level=1, threshold=0),
                                    dict(level=1, window=0)])
def test_bad_settings_are_user_errors(kwargs):
    with pytest.raises(UserError):
        Curriculum(**kwargs)
