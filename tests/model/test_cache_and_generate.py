import re

import pytest
import torch

from sonar.errors import UserError
from sonar.model import KVCache, build_model, generate, preset

CONFIG = preset("debug").replace(initializer_range=0.1, attention_chunk_size=8)


@pytest.fixture(scope="module")
def model():
    return build_model(CONFIG, seed=11).eval()


def _ids(batch, length, seed=0):
    return torch.randint(0, CONFIG.vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_chunked_layers_keep_only_one_chunk_of_keys(model):
    cache = KVCache.allocate(model, batch=1, max_len=100)
    slots = [layer.slots for layer in cache.layers]
    assert slots == [8 if plan.chunked_mask else 100 for plan in model.plans]


@pytest.mark.parametrize("pieces", [(10, 25, 1, 1, 3), (3, 5, 8, 16), (1,) * 20])
def test_feeding_a_sequence_in_pieces_through_the_cache_equals_one_forward(model, pieces):
    ids = _ids(2, sum(pieces))
    with torch.no_grad():
        full = model(ids).logits
        cache = KVCache.allocate(model, batch=2, max_len=ids.shape[1])
        outputs, start = [], 0
        for n in pieces:
            positions = None if start == 0 else torch.arange(start, start + n)
            outputs.append(model(ids[:, start:start + n], positions=positions, cache=cache).logits)
            start += n
            cache.next_position = start
    assert (torch.cat(outputs, dim=1) - full).abs().max().item() <= 1e-5


def test_a_used_cache_needs_explicit_positions(model):
    cache = KVCache.allocate(model, batch=1, max_len=20)
    model(_ids(1, 4), cache=cache)
    cache.next_position = 4
    with pytest.raises(ValueError, match="pass `positions`"):
        model(_ids(1, 2), cache=cache)


def test_batched_generation_equals_each_row_alone(model):
    prompts = _ids(3, 9)
    together = generate(model, prompts, max_new_tokens=20)
    for row in range(3):
        assert torch.equal(together[row:row + 1], generate(model, prompts[row:row + 1], max_new_tokens=20))


def test_top_k_one_is_greedy_and_sampling_is_seeded(model):
    prompt = _ids(1, 6)
    greedy = generate(model, prompt, max_new_tokens=12)
    assert torch.equal(generate(model, prompt, max_new_tokens=12, temperature=1.0, top_k=1, seed=3), greedy)
    a = generate(model, prompt, max_new_tokens=12, temperature=1.5, top_p=0.95, seed=5)
    b = generate(model, prompt, max_new_tokens=12, temperature=1.5, top_p=0.95, seed=5)
    c = generate(model, prompt, max_new_tokens=12, temperature=1.5, top_p=0.95, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_a_tiny_top_p_keeps_only_the_most_likely_token(model):
    prompt = _ids(1, 6)
    greedy = generate(model, prompt, max_new_tokens=10)
    assert torch.equal(generate(model, prompt, max_new_tokens=10, temperature=1.0, top_p=1e-6, seed=0), greedy)


def test_generation_stops_at_a_stop_token(model):
    prompt = _ids(1, 6)
    greedy = generate(model, prompt, max_new_tokens=15)
    stop = int(greedy[0, 10])
    first = int((greedy[0, 6:] == stop).nonzero()[0]) + 6
    stopped = generate(model, prompt, max_new_tokens=15, stop_tokens=[stop])
    assert stopped.shape[1] == first + 1 and int(stopped[0, -1]) == stop


@pytest.mark.parametrize("bad", [dict(temperature=-1.0), dict(top_k=0, temperature=1.0), dict(top_p=1.5)])
def test_bad_sampling_settings_are_rejected(model, bad):
    with pytest.raises(ValueError):
        generate(model, _ids(1, 3), max_new_tokens=2, **bad)


@pytest.mark.parametrize("bad_id", [CONFIG.vocab_size, -1])
def test_an_out_of_vocabulary_id_is_named(model, bad_id):
    ids = _ids(2, 4)
    ids[1, 2] = bad_id
    message = (f"input_ids[1, 2] = {bad_id}: outside the model's vocabulary (ids 0..{CONFIG.vocab_size - 1}, "
               f"vocab_size={CONFIG.vocab_size})")
    with pytest.raises(UserError, match=re.escape(message)):
        generate(model, ids, max_new_tokens=2)


@pytest.mark.parametrize("ids, rule", [
    (torch.tensor([1, 2]), "non-empty \\[batch, length\\] tensor, got shape \\(2,\\)"),
    (torch.ones(1, 0, dtype=torch.long), "got shape \\(1, 0\\)"),
    ([[1, 2]], "input_ids is a list: pass a torch.Tensor"),
    (torch.tensor([[1.5]]), "dtype torch.float32: token ids must be integers"),
])
def test_a_malformed_prompt_is_a_user_error(model, ids, rule):
    with pytest.raises(UserError, match=rule):
        generate(model, ids, max_new_tokens=1)
