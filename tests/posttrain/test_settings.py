import pytest

from sonar.errors import UserError
from sonar.posttrain.dpo import DPOConfig
from sonar.posttrain.rl import RLConfig
from sonar.posttrain.settings import with_overrides
from sonar.posttrain.sft import SFTConfig


def test_overrides_are_read_as_their_fields_types():
    config = with_overrides(DPOConfig(), " steps=10, lr=5e-5,length_normalize=true,pair_prompts=greedy_wrong")
    assert config == DPOConfig(steps=10, lr=5e-5, length_normalize=True, pair_prompts="greedy_wrong")
    assert with_overrides(DPOConfig(beta=0.3), "") == DPOConfig(beta=0.3)


@pytest.mark.parametrize("text, message", [("speed=1", "'speed=1': expected name=value"),
                                           ("steps", "'steps': expected name=value"),
                                           ("steps=ten", "'steps=ten': the value must be of type int"),
                                           ("length_normalize=1", "must be of type bool"),
                                           ("beta=0", "beta=0.0: must be a finite number > 0"),
                                           ("beta=0.2,beta=0.3", "'beta=0.3': beta is set twice")])
def test_bad_overrides_are_user_errors(text, message):
    with pytest.raises(UserError, match=message):
        with_overrides(DPOConfig(), text)


@pytest.mark.parametrize("config, message", [
    (lambda: DPOConfig(beta=float("inf")), "beta=inf: must be a finite number > 0"),
    (lambda: DPOConfig(lr=float("nan")), "lr=nan: must be a finite number > 0"),
    (lambda: DPOConfig(nll_weight=float("inf")), "nll_weight=inf: must be a finite number >= 0"),
    (lambda: DPOConfig(nll_weight=float("nan")), "nll_weight=nan: must be a finite number >= 0"),
    (lambda: SFTConfig(lr=float("inf")), "lr=inf: must be a finite number > 0"),
    (lambda: RLConfig(kl_coef=float("inf")), "kl_coef=inf: must be a finite number >= 0"),
    (lambda: RLConfig(kl_coef=-1.0), "kl_coef=-1.0: must be a finite number >= 0"),
])
def test_rates_and_weights_must_be_finite(config, message):
    with pytest.raises(UserError, match=message):
        config()
