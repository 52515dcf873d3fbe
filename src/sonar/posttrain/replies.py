"""Replies from a model under the chat template: greedy for evaluation, sampled groups for RL and DPO."""

from __future__ import annotations

from collections import defaultdict

import torch

from sonar.errors import UserError
from sonar.model.generation import generate
from sonar.posttrain.chat import EOT, decode_response, prompt_ids


def max_reply_tokens(answers: list[str]) -> int:
    """Room for the longest answer, its <|eot|> and a little slack: a reply that has not stopped by then is wrong."""
    return max(len(a.encode()) for a in answers) + 4


def check_room(model, prompt: str, prompt_length: int, max_new_tokens: int) -> None:
    """A chat prompt and its longest reply fit the model's positions: else generate named its own arguments
    ("input_ids hold 27 tokens ..."), which no command of post-training or evaluation has."""
    most = model.config.max_position_embeddings
    if prompt_length + max_new_tokens > most:
        raise UserError(f"the prompt {prompt[:40]!r} is {prompt_length:,} tokens in the chat template, with room for "
                        f"a {max_new_tokens:,}-token reply {prompt_length + max_new_tokens:,}, and the model reads at "
                        f"most {most:,} (max_position_embeddings in its config.json): use a model with a longer "
                        "context, or lower levels")


def greedy_replies(model, prompts: list[str], *, max_new_tokens: int, batch_size: int = 64) -> list[str]:
    """One greedy reply per prompt. Prompts of equal token length are batched together, since the
    model's generation takes no padding mask."""
    by_length: dict[int, list[int]] = defaultdict(list)
    encoded = [prompt_ids(p) for p in prompts]
    for i, ids in enumerate(encoded):
        by_length[len(ids)].append(i)
    longest = max(range(len(prompts)), key=lambda i: len(encoded[i]), default=None)
    if longest is not None:
        check_room(model, prompts[longest], len(encoded[longest]), max_new_tokens)
    was_training = model.training
    model.eval()
    replies = [""] * len(prompts)
    for indices in by_length.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            input_ids = torch.tensor([encoded[i] for i in chunk], dtype=torch.long)
            out = generate(model, input_ids, max_new_tokens=max_new_tokens, stop_tokens=(EOT,))
            for row, i in enumerate(chunk):
                replies[i] = decode_response(out[row, input_ids.shape[1]:].tolist())
    model.train(was_training)
    return replies


def sample_group(model, prompt: str, *, size: int, temperature: float, max_new_tokens: int,
                 seed: int) -> list[list[int]]:
    """`size` sampled replies to one prompt, as token ids cut after their first <|eot|> (a reply that never
    stopped keeps all its tokens and no <|eot|>)."""
    ids = prompt_ids(prompt)
    check_room(model, prompt, len(ids), max_new_tokens)
    was_training = model.training
    model.eval()
    input_ids = torch.tensor([ids] * size, dtype=torch.long)
    out = generate(model, input_ids, max_new_tokens=max_new_tokens, temperature=temperature, stop_tokens=(EOT,),
                   seed=seed)
    model.train(was_training)
    replies = []
    for row in out[:, input_ids.shape[1]:].tolist():
        replies.append(row[: row.index(EOT) + 1] if EOT in row else row)
    return replies
