"""Our multimodal model against transformers' Llama4ForConditionalGeneration on the same weights (fp32)."""

import tempfile

import pytest
import torch
from vision_cases import CONFIG, pixels, prompt, tiny_model

from hf_oracle import max_abs_diff
from sonar.checkpoint import load_multimodal, save_pretrained

transformers = pytest.importorskip("transformers")

CASES = {
    "one_tile": [(1, 1)],
    "multi_tile": [(2, 3)],
    "two_images": [(1, 1), (2, 1)],
}


@pytest.fixture(scope="module")
def twins():
    ours = tiny_model(seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(ours, tmp)
        theirs = transformers.Llama4ForConditionalGeneration.from_pretrained(tmp, attn_implementation="eager")
    return ours, theirs.eval()


@pytest.mark.parametrize("name", sorted(CASES))
def test_logits_match_transformers(twins, name):
    ours, theirs = twins
    ids, pv = prompt(CASES[name]), pixels(CASES[name])
    with torch.no_grad():
        expected = theirs(input_ids=ids, pixel_values=pv, use_cache=False).logits
        got = ours(ids, pv).logits
    diff = max_abs_diff(got, expected)
    print(f"{name}: {ids.shape[1]} tokens, {pv.shape[0]} tiles, max abs diff {diff:.2e}")
    assert diff <= 1e-4, f"{name}: max abs diff {diff:.2e}"


def test_images_change_the_logits(twins):
    # Guards the parity cases: the image features must actually reach the decoder.
    ours, _ = twins
    ids, pv = prompt(CASES["one_tile"]), pixels(CASES["one_tile"])
    with torch.no_grad():
        assert max_abs_diff(ours(ids, pv).logits, ours(ids, pv.flip(-1)).logits) > 1e-3


def test_transformers_checkpoint_loads_with_the_same_logits(twins):
    _, theirs = twins
    with tempfile.TemporaryDirectory() as tmp:
        theirs.save_pretrained(tmp)
        ours = load_multimodal(tmp)
    ids, pv = prompt(CASES["multi_tile"], seed=1), pixels(CASES["multi_tile"], seed=1)
    with torch.no_grad():
        assert max_abs_diff(ours(ids, pv).logits, theirs(input_ids=ids, pixel_values=pv).logits) <= 1e-4
    assert ours.config == CONFIG
