"""TRL as an oracle (optional extra `trl`): sonar's DPO and GRPO losses against TRL's on the same log-probs.

TRL computes both inside its trainers' `_compute_loss` methods, not as functions of tensors. Those methods
are called here unbound, with a stand-in for the trainer holding only the settings they read, a stand-in
model that returns the given per-token log-probs, and one process (gather and reduce are the identity).
They are private methods, so the extra pins the TRL version they were read from.
"""

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

trl = pytest.importorskip("trl")
from trl.trainer.dpo_trainer import DPOTrainer  # noqa: E402
from trl.trainer.grpo_trainer import GRPOTrainer  # noqa: E402
from trl.trainer.utils import nanstd  # noqa: E402

from sonar.posttrain.dpo import dpo_loss  # noqa: E402
from sonar.posttrain.grpo import group_advantages, grpo_loss  # noqa: E402


def _one_process() -> SimpleNamespace:
    same = lambda x, **_: x  # noqa: E731
    return SimpleNamespace(device=torch.device("cpu"), gather=same, gather_for_metrics=same, reduce=same,
                           num_processes=1, sync_gradients=False)


def _trainer_stand_in(**settings) -> SimpleNamespace:
    return SimpleNamespace(model=SimpleNamespace(training=True), accelerator=_one_process(), aux_loss_enabled=False,
                           _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0, _tp_size=1,
                           **settings)


def _masked_logps(generator, rows: int, lengths: list[int], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.zeros(rows, width, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, width - length:] = 1
    logps = -torch.rand(rows, width, generator=generator) * 3 * mask  # log-probs, zero off the reply
    return logps, mask


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_loss_matches_trl_sigmoid(beta):
    g = torch.Generator().manual_seed(0)
    pairs, width = 4, 7
    policy_2BT, mask_2BT = _masked_logps(g, 2 * pairs, [3, 6, 2, 7, 5, 1, 4, 6], width)  # chosen rows, then rejected
    ref_2B = policy_2BT.sum(1) + torch.randn(2 * pairs, generator=g)
    completion_mask = torch.cat([torch.zeros(2 * pairs, 1, dtype=torch.long), mask_2BT], 1)  # T + 1 input ids
    zeros = torch.zeros_like(policy_2BT)

    def model(**kwargs):
        return SimpleNamespace(log_probs=policy_2BT, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool())

    trainer = _trainer_stand_in(ld_alpha=None, precompute_ref_logps=True, f_divergence_type="reverse_kl",
                                loss_types=["sigmoid"], loss_weights=[1.0], beta=beta, use_weighting=False)
    inputs = {"input_ids": torch.zeros_like(completion_mask), "attention_mask": torch.ones_like(completion_mask),
              "completion_mask": completion_mask, "ref_chosen_logps": ref_2B[:pairs],
              "ref_rejected_logps": ref_2B[pairs:]}
    theirs = DPOTrainer._compute_loss(trainer, model, inputs, return_outputs=False)
    seq_2B = policy_2BT.sum(1)
    ours = dpo_loss(seq_2B[:pairs], seq_2B[pairs:], ref_2B[:pairs], ref_2B[pairs:], beta)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kl_coef", [0.0, 0.05])
def test_grpo_loss_matches_trl_on_the_same_logps(kl_coef):
    g = torch.Generator().manual_seed(1)
    rows, width = 6, 5
    policy_BT, mask_BT = _masked_logps(g, rows, [5, 3, 4, 1, 2, 5], width)
    old_BT = policy_BT + 0.4 * torch.randn(rows, width, generator=g) * mask_BT  # ratios far enough to clip
    ref_BT = policy_BT + 0.3 * torch.randn(rows, width, generator=g) * mask_BT
    advantages_B = torch.randn(rows, generator=g)
    trainer = _trainer_stand_in(
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level="token",
        beta=kl_coef, loss_type="grpo", epsilon_low=0.2, epsilon_high=0.2, use_vllm=False,
        current_gradient_accumulation_steps=1, _entropy_bonus_enabled=False,
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None),
        _get_per_token_logps_and_entropies=lambda *a, **k: (policy_BT, torch.zeros_like(policy_BT), None))
    prompt_ids = torch.zeros(rows, 2, dtype=torch.long)
    inputs = {"prompt_ids": prompt_ids, "prompt_mask": torch.ones_like(prompt_ids),
              "completion_ids": torch.zeros(rows, width, dtype=torch.long), "completion_mask": mask_BT,
              "advantages": advantages_B, "old_per_token_logps": old_BT, "ref_per_token_logps": ref_BT}
    theirs = GRPOTrainer._compute_loss(trainer, None, inputs)
    ours, _ = grpo_loss(policy_BT, old_BT, ref_BT, advantages_B, mask_BT.bool(), kl_coef=kl_coef)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


def test_group_advantages_use_trls_standard_deviation():
    """TRL writes the advantage inline in its rollout method, so only its std (nanstd, Bessel-corrected) can be
    the oracle here: (r - mean) / (nanstd(r) + 1e-4) is how that method scales a group."""
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    expected = (rewards - rewards.mean()) / (nanstd(rewards) + 1e-4)
    torch.testing.assert_close(group_advantages(rewards), expected)
