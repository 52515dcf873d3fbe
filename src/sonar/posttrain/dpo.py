"""DPO on preference pairs against a frozen reference. By default the pairs come from the policy's own
samples, the verifier picking a correct reply as chosen and a wrong one as rejected. As in Llama 3's
recipe, a weighted cross-entropy on the chosen reply is added (nll_weight; 0 gives plain DPO).
Switches for a lighter pass: `pair_prompts="greedy_wrong"` keeps only the corner cases (prompts the policy
answers wrongly at greedy decoding yet solves in some samples), `length_normalize` compares the log-ratios
per reply token, so a long rejected reply (one that never stopped) cannot carry the margin by its length.

Legend: B pairs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sonar.errors import UserError
from sonar.field_types import check_types
from sonar.posttrain.batching import IGNORE, collate, sequence_logprobs
from sonar.posttrain.chat import ChatExample, check_fits, decode_response, encode_pair, prompt_ids
from sonar.posttrain.model_source import frozen_copy
from sonar.posttrain.optim import build_adamw, warmup_step
from sonar.posttrain.replies import greedy_replies, max_reply_tokens, sample_group
from sonar.posttrain.settings import (
    MAX_BETA,
    MAX_ROWS,
    MAX_WEIGHT,
    require_at_least_one,
    require_finite_non_negative,
    require_lr,
    require_positive,
    require_seed,
    require_temperature,
    require_warmup,
)
from sonar.posttrain.tasks import Example, verify

PAIR_PROMPTS = ("mixed", "greedy_wrong")


@dataclass(kw_only=True, frozen=True)
class DPOConfig:
    # 10 steps (about 2.5 passes over the ~60 pairs) was chosen by `sonar posttrain tune` on the validation
    # split; 40 (10 passes) lowered validation accuracy below RL's on every seed.
    steps: int = 10
    batch_size: int = 16
    lr: float = 2e-4
    warmup: int = 5
    beta: float = 0.1
    # Cross-entropy on the chosen reply, which keeps DPO from lowering its likelihood too; 1.0 was chosen by
    # `sonar posttrain tune` on the validation split, over 0 and 0.2.
    nll_weight: float = 1.0
    group_size: int = 8  # samples per prompt when building pairs from the policy
    temperature: float = 1.0
    pair_prompts: str = "mixed"  # "mixed": any prompt whose group has a right and a wrong sample
    length_normalize: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        check_types(self, finite=False)  # the require_* rules below name a non-finite value
        require_at_least_one(self, "steps")
        require_at_least_one(self, "batch_size", most=MAX_ROWS)
        require_seed(self)
        require_positive(self, "beta", most=MAX_BETA)
        require_temperature(self)
        require_lr(self)
        require_warmup(self)
        require_finite_non_negative(self, "nll_weight", most=MAX_WEIGHT)
        if self.pair_prompts not in PAIR_PROMPTS:
            raise UserError(f"pair_prompts={self.pair_prompts!r}: must be one of {', '.join(PAIR_PROMPTS)}")
        if not 2 <= self.group_size <= MAX_ROWS:
            raise UserError(f"group_size={self.group_size}: must be between 2 and {MAX_ROWS:,}"
                            " to find a chosen and a rejected reply")


@dataclass(frozen=True)
class PairIds:
    chosen: ChatExample
    rejected: ChatExample


def dpo_loss(policy_chosen_B: torch.Tensor, policy_rejected_B: torch.Tensor, ref_chosen_B: torch.Tensor,
             ref_rejected_B: torch.Tensor, beta: float) -> torch.Tensor:
    """-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), averaged over pairs; log 2 when policy == reference."""
    margin_B = (policy_chosen_B - ref_chosen_B) - (policy_rejected_B - ref_rejected_B)
    return -F.logsigmoid(beta * margin_B).mean()


def reply_scores(logprobs_B: torch.Tensor, lengths_B: torch.Tensor, config: DPOConfig) -> torch.Tensor:
    """What DPO compares: a reply's summed log-probability, or under length_normalize its mean per token."""
    return logprobs_B / lengths_B if config.length_normalize else logprobs_B


def text_pairs(items) -> list[PairIds]:
    """User preferences ({prompt, chosen, rejected}) as token pairs."""
    return [PairIds(encode_pair(p.prompt, p.chosen), encode_pair(p.prompt, p.rejected)) for p in items]


def sampled_pairs(policy, examples: list[Example], config: DPOConfig) -> list[PairIds]:
    """From each prompt's sampled group, a verified-correct reply (chosen) and a wrong one (rejected);
    prompts whose group is all right or all wrong give no pair, nor (under "greedy_wrong") those the
    policy's greedy reply already gets right."""
    pairs = []
    solved = [False] * len(examples)
    if config.pair_prompts == "greedy_wrong":
        greedy = greedy_replies(policy, [e.prompt for e in examples],
                                max_new_tokens=max_reply_tokens([e.answer for e in examples]))
        solved = [verify(e, reply) for e, reply in zip(examples, greedy, strict=True)]
    for i, example in enumerate(examples):
        if solved[i]:
            continue
        replies = sample_group(policy, example.prompt, size=config.group_size, temperature=config.temperature,
                               max_new_tokens=max_reply_tokens([example.answer]), seed=config.seed * 7_919 + i)
        good = [r for r in replies if verify(example, decode_response(r))]
        bad = [r for r in replies if not verify(example, decode_response(r))]
        if good and bad:
            head = prompt_ids(example.prompt)
            pairs.append(PairIds(ChatExample(head + good[0], len(head)), ChatExample(head + bad[0], len(head))))
    return pairs


def run_dpo(policy, pairs: list[PairIds], config: DPOConfig) -> dict:
    """Train `policy` in place against a frozen copy of itself; return the record."""
    if not pairs:
        raise UserError("DPO found no preference pairs: the policy's samples were all right or all wrong on "
                        "every prompt; supply --pairs FILE or use harder levels")
    for side in ("chosen", "rejected"):
        check_fits([getattr(p, side) for p in pairs], policy.config.max_position_embeddings, what="pair",
                   part=f" ({side})")
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    reference = frozen_copy(policy)
    optimizer = build_adamw(policy, config.lr)
    policy.train()
    losses, accuracies = [], []
    for step in range(config.steps):
        batch = random.Random(f"{config.seed}/dpo/{step}").sample(pairs, min(config.batch_size, len(pairs)))
        inputs_BT, targets_BT = collate([p.chosen for p in batch] + [p.rejected for p in batch])
        with torch.no_grad():
            ref_B2 = sequence_logprobs(reference, inputs_BT, targets_BT)
        pol_B2 = sequence_logprobs(policy, inputs_BT, targets_BT)
        n = len(batch)
        lengths_B2 = (targets_BT != IGNORE).sum(1)
        chosen_nll = (-pol_B2[:n] / lengths_B2[:n]).mean()
        pol_B2, ref_B2 = reply_scores(pol_B2, lengths_B2, config), reply_scores(ref_B2, lengths_B2, config)
        preference = dpo_loss(pol_B2[:n], pol_B2[n:], ref_B2[:n], ref_B2[n:], config.beta)
        warmup_step(optimizer, preference + config.nll_weight * chosen_nll, policy, step=step, lr=config.lr,
                    warmup=config.warmup, check_weights=step == config.steps - 1)
        losses.append(float(preference.detach()))
        accuracies.append(float(((pol_B2[:n] - ref_B2[:n]) > (pol_B2[n:] - ref_B2[n:])).float().mean()))
    # "losses" are the preference part alone: log 2 at the first step, whatever nll_weight.
    return {"pairs": len(pairs), "losses": losses, "reward_accuracy": accuracies,
            "seconds": time.perf_counter() - start}
