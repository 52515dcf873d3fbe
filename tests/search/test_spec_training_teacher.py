"""`training: {teacher, distill_temperature, distill_weight}` in a spec: checked when the spec loads, and
carried into the TrainConfig every candidate trains under."""

import pytest
from search_support import make_spec

from sonar.search.backends import train_config
from sonar.search.spec import SpecError, parse_spec


@pytest.fixture
def teacher_dir(tmp_path):
    path = tmp_path / "teacher"
    path.mkdir()
    (path / "config.json").write_text("{}")  # the spec checks the directory is a checkpoint's, not its weights
    return path


def test_a_teacher_reaches_the_train_config_as_an_absolute_path(teacher_dir, monkeypatch):
    monkeypatch.chdir(teacher_dir.parent)
    spec = parse_spec(make_spec(backend="real", training={"teacher": "teacher", "distill_temperature": 3.0,
                                                          "distill_weight": 0.25}))
    config = train_config(spec)
    assert config.teacher == str(teacher_dir.resolve())
    assert (config.distill_temperature, config.distill_weight) == (3.0, 0.25)


@pytest.mark.parametrize("training, message", [
    ({"teacher": "NOWHERE"}, r"training\.teacher: '.*none' is not a checkpoint directory"),
    ({"teacher": "TEACHER", "distill_weight": 0}, r"training\.distill_weight: distill_weight=0.*\(0, 1\]"),
    ({"teacher": "TEACHER", "distill_weight": 1.5}, r"training\.distill_weight: distill_weight=1.5"),
    ({"teacher": "TEACHER", "distill_temperature": 0}, r"training\.distill_temperature: .*must be > 0"),
    ({"teacher": 3}, r"training\.teacher"),
])
def test_bad_teacher_settings_name_the_key(teacher_dir, training, message):
    training = {k: str(teacher_dir) if v == "TEACHER" else str(teacher_dir.parent / "none") if v == "NOWHERE" else v
                for k, v in training.items()}
    with pytest.raises(SpecError, match=message):
        parse_spec(make_spec(backend="real", training=training))
