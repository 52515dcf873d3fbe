import math

import pytest
import torch

from sonar.errors import UserError
from sonar.posttrain import dpo
from sonar.posttrain.chat import decode_response, prompt_ids, response_ids
from sonar.posttrain.dpo import DPOConfig, dpo_loss, run_dpo, sampled_pairs, text_pairs
from sonar.posttrain.tasks import Example
from sonar.posttrain.user_data import Preference


def test_loss_is_log_two_when_policy_equals_reference():
    logp = torch.tensor([-3.0, -7.5, -0.2])
    assert math.isclose(float(dpo_loss(logp, logp - 1, logp, logp - 1, beta=0.1)), math.log(2), rel_tol=1e-6)


def test_first_step_loss_is_log_two_and_training_prefers_chosen(small_model):
    pairs = text_pairs([Preference(prompt="2+2=", chosen="4", rejected="5"),
                        Preference(prompt="reverse ab", chosen="ba", rejected="ab")])
    record = run_dpo(small_model, pairs, DPOConfig(steps=6, lr=5e-3, warmup=1, beta=0.5, nll_weight=0.2))
    assert math.isclose(record["losses"][0], math.log(2), rel_tol=1e-5)
    assert record["losses"][-1] < record["losses"][0] and record["reward_accuracy"][-1] == 1.0


def test_sampled_pairs_are_chosen_and_rejected_by_the_verifier(monkeypatch):
    examples = [Example(task="addition", level=1, prompt="2+3=", answer="5"),
                Example(task="addition", level=1, prompt="1+1=", answer="2")]
    groups = {"2+3=": ["7", "5", "6"], "1+1=": ["2", "2", "2"]}  # the second group is all right: no pair

    def fake_group(model, prompt, *, size, temperature, max_new_tokens, seed):
        return [response_ids(r) for r in groups[prompt]]

    monkeypatch.setattr(dpo, "sample_group", fake_group)
    pairs = sampled_pairs(None, examples, DPOConfig(group_size=3))
    assert len(pairs) == 1
    start = pairs[0].chosen.response_start
    assert pairs[0].chosen.ids[:start] == prompt_ids("2+3=")
    assert decode_response(pairs[0].chosen.ids[start:]) == "5"
    assert decode_response(pairs[0].rejected.ids[start:]) == "7"


def test_plain_dpo_and_a_negative_nll_weight():
    DPOConfig(nll_weight=0)
    with pytest.raises(UserError, match="nll_weight=-1"):
        DPOConfig(nll_weight=-1)


def test_length_normalize_compares_log_probabilities_per_token():
    logprobs, lengths = torch.tensor([-2.0, -12.0]), torch.tensor([2, 12])
    assert torch.equal(dpo.reply_scores(logprobs, lengths, DPOConfig()), logprobs)
    per_token = dpo.reply_scores(logprobs, lengths, DPOConfig(length_normalize=True))
    assert torch.equal(per_token, torch.tensor([-1.0, -1.0]))


def test_length_normalized_training_prefers_chosen_over_a_long_rejected_reply(small_model):
    pairs = text_pairs([Preference(prompt="2+2=", chosen="4", rejected="5555555555")])
    record = run_dpo(small_model, pairs, DPOConfig(steps=6, lr=5e-3, warmup=1, beta=2.0, length_normalize=True))
    assert math.isclose(record["losses"][0], math.log(2), rel_tol=1e-5)
    assert record["losses"][-1] < record["losses"][0] and record["reward_accuracy"][-1] == 1.0


def test_greedy_wrong_keeps_only_prompts_the_greedy_reply_gets_wrong(monkeypatch):
    examples = [Example(task="addition", level=1, prompt="2+3=", answer="5"),
                Example(task="addition", level=1, prompt="1+1=", answer="2")]
    groups = {"2+3=": ["7", "5"], "1+1=": ["2", "3"]}  # both groups mixed
    monkeypatch.setattr(dpo, "sample_group", lambda model, prompt, **_: [response_ids(r) for r in groups[prompt]])
    monkeypatch.setattr(dpo, "greedy_replies", lambda model, prompts, **_: ["6", "2"])  # greedy solves 1+1 only
    assert len(sampled_pairs(None, examples, DPOConfig(group_size=2))) == 2
    pairs = sampled_pairs(None, examples, DPOConfig(group_size=2, pair_prompts="greedy_wrong"))
    assert len(pairs) == 1 and pairs[0].chosen.ids[:pairs[0].chosen.response_start] == prompt_ids("2+3=")


def test_an_unknown_pair_source_is_a_user_error():
    with pytest.raises(UserError, match="pair_prompts='all'"):
        DPOConfig(pair_prompts="all")
