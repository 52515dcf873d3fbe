import pytest
import torch

from sonar.errors import UserError
from sonar.posttrain import rl
from sonar.posttrain.chat import response_ids
from sonar.posttrain.model_source import load_start
from sonar.posttrain.rl import RLConfig, run_rl
from sonar.posttrain.rl_state import RL_STATE_FILE

_CONFIG = dict(tasks=("addition",), prompts_per_step=2, group_size=4, start_level=1, save_every=2, warmup=1)


def _alternating_groups(monkeypatch):
    """Groups of half right, half wrong replies, drawn from the real seed so resume must reproduce them."""
    def fake_group(model, prompt, *, size, temperature, max_new_tokens, seed):
        a, b = prompt.rstrip("=").split("+")
        right = str(int(a) + int(b))
        g = torch.Generator().manual_seed(seed)
        return [response_ids(right if bool(torch.rand((), generator=g) < 0.5) else right + "0") for _ in range(size)]

    monkeypatch.setattr(rl, "sample_group", fake_group)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_is_exact(tmp_path, monkeypatch):
    _alternating_groups(monkeypatch)
    config = RLConfig(steps=4, **_CONFIG)
    straight, curve = run_rl(load_start(None, preset_name="debug"), config, tmp_path / "a")
    run_rl(load_start(None, preset_name="debug"), RLConfig(steps=2, **_CONFIG), tmp_path / "b")
    resumed, resumed_curve = run_rl(load_start(None, preset_name="debug"), config, tmp_path / "b", resume=True)
    drop = lambda c: [{k: v for k, v in p.items() if k != "seconds"} for p in c]  # noqa: E731
    assert drop(resumed_curve) == drop(curve) and len(curve) == 4
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(p["loss"] is not None for p in curve)  # updates happened: the equality is not vacuous


def test_curve_records_reward_accuracy_kl_and_filtered_share(tmp_path, monkeypatch):
    _alternating_groups(monkeypatch)
    _, curve = run_rl(load_start(None, preset_name="debug"), RLConfig(steps=3, **_CONFIG), tmp_path)
    for point in curve:
        assert {"reward", "accuracy", "kl", "filtered_share", "level"} <= set(point)
        assert 0 <= point["filtered_share"] <= 1
    assert curve[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # the first update starts at the reference
    assert curve[-1]["kl"] > 0


def test_resume_refuses_changed_settings_and_a_fresh_run_over_a_state(tmp_path):
    run_rl(load_start(None, preset_name="debug"), RLConfig(steps=1, **_CONFIG), tmp_path)
    assert (tmp_path / RL_STATE_FILE).is_file()
    with pytest.raises(UserError, match="kl_coef"):
        run_rl(load_start(None, preset_name="debug"), RLConfig(steps=2, kl_coef=0.5, **_CONFIG), tmp_path, resume=True)
    with pytest.raises(UserError, match="--resume"):
        run_rl(load_start(None, preset_name="debug"), RLConfig(steps=2, **_CONFIG), tmp_path)


def test_a_corrupt_state_is_a_user_error(tmp_path):
    (tmp_path / RL_STATE_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read RL state"):
        run_rl(load_start(None, preset_name="debug"), RLConfig(steps=2, **_CONFIG), tmp_path, resume=True)


@pytest.mark.parametrize("kwargs, named", [(dict(group_size=1), "group_size"), (dict(temperature=0), "temperature"),
                                           (dict(tasks=("chess",)), "chess"), (dict(max_level=9), "max_level")])
def test_bad_settings_name_the_value(kwargs, named):
    with pytest.raises(UserError, match=named):
        RLConfig(**kwargs)
