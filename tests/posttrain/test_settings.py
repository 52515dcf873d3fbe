import pytest

from sonar.errors import UserError
from sonar.posttrain.dpo import DPOConfig
from sonar.posttrain.settings import with_overrides


def test_overrides_are_read_as_their_fields_types():
    config = with_overrides(DPOConfig(), " steps=10, lr=5e-5,length_normalize=true,pair_prompts=greedy_wrong")
    assert config == DPOConfig(steps=10, lr=5e-5, length_normalize=True, pair_prompts="greedy_wrong")
    assert with_overrides(DPOConfig(beta=0.3), "") == DPOConfig(beta=0.3)


@pytest.mark.parametrize("text, message", [("speed=1", "'speed=1': expected name=value"),
                                           ("steps", "'steps': expected name=value"),
                                           ("steps=ten", "'steps=ten': the value must be of type int"),
                                           ("length_normalize=1", "must be of type bool"),
                                           ("beta=0", "beta=0.0: must be > 0")])
def test_bad_overrides_are_user_errors(text, message):
    with pytest.raises(UserError, match=message):
        with_overrides(DPOConfig(), text)
