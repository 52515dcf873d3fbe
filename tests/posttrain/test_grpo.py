import math

import pytest
import torch

from sonar.posttrain.grpo import group_advantages, grpo_loss, keep_prompt, kl_per_token


@pytest.mark.parametrize("reward", [0.0, 1.0, 0.5])
def test_advantage_is_zero_for_a_group_with_equal_rewards(reward):
    assert torch.equal(group_advantages(torch.full((8,), reward)), torch.zeros(8))


def test_advantages_are_centred_and_scaled_within_the_group():
    a = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]))
    assert a.sum().abs() < 1e-6
    assert a[0] > 0 > a[1]
    assert math.isclose(float(a[0]), 0.5 / (torch.tensor([1.0, 0.0, 0.0, 1.0]).std() + 1e-4), rel_tol=1e-6)


def test_filter_drops_all_solved_and_all_failed_prompts():
    assert not keep_prompt(torch.ones(8))
    assert not keep_prompt(torch.zeros(8))
    assert keep_prompt(torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert keep_prompt(torch.tensor([1.0, 1.0, 1.0, 0.0]))


def test_kl_is_zero_at_the_reference_and_positive_elsewhere():
    logp = torch.log(torch.tensor([[0.5, 0.25]]))
    assert torch.equal(kl_per_token(logp, logp), torch.zeros_like(logp))
    assert (kl_per_token(logp, logp - 0.3) > 0).all()


def test_loss_gradient_raises_the_advantaged_reply():
    logp = torch.tensor([[-1.0, -1.0], [-1.0, -1.0]], requires_grad=True)
    mask = torch.tensor([[True, True], [True, False]])
    loss, kl = grpo_loss(logp, logp.detach(), logp.detach(), torch.tensor([1.0, -1.0]), mask, kl_coef=0.1)
    loss.backward()
    assert float(kl) == 0.0
    assert (logp.grad[0] < 0).all() and logp.grad[1, 0] > 0  # descent raises row 0, lowers row 1
    assert logp.grad[1, 1] == 0  # masked position
