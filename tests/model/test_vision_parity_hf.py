"""Our multimodal model against transformers' Llama4ForConditionalGeneration on the same weights (fp32)."""

import tempfile

import pytest
import torch

from hf_oracle import max_abs_diff
from sonar.checkpoint import load_multimodal, save_pretrained
from sonar.imaging import ImageProcessingConfig, preprocess_image, prompt_with_images
from sonar.model import generate
from vision_cases import CONFIG, TOKENS, VISION, pixels, prompt, tiny_model

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


def test_a_batch_of_prompts_fills_images_row_by_row(twins):
    ours, theirs = twins
    ids = torch.cat((prompt([(1, 2)], seed=4), prompt([(2, 1)], seed=5)))
    pv = pixels([(1, 2), (2, 1)], seed=4)
    with torch.no_grad():
        diff = max_abs_diff(ours(ids, pv).logits, theirs(input_ids=ids, pixel_values=pv).logits)
    assert diff <= 1e-4, f"max abs diff {diff:.2e}"


def test_real_photographs_end_to_end(twins):
    """Sample photographs through our preprocessing and prompt layout, then both models."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ours, theirs = twins
    config = ImageProcessingConfig(tile_size=VISION.image_size, max_tiles=6)
    china = preprocess_image(sklearn_datasets.load_sample_image("china.jpg"), config)
    flower = preprocess_image(sklearn_datasets.load_sample_image("flower.jpg")[:200, :150], config)
    ids, pv = prompt_with_images([[1, 2, 3], china, [4, 5], flower, [6]], VISION.tokens_per_tile, TOKENS)
    ids = torch.tensor([ids])
    assert (china.grid, flower.grid) == ((2, 3), (3, 2))
    with torch.no_grad():
        diff = max_abs_diff(ours(ids, pv).logits, theirs(input_ids=ids, pixel_values=pv.float()).logits)
    print(f"photographs: {ids.shape[1]} tokens, {pv.shape[0]} tiles, max abs diff {diff:.2e}")
    assert diff <= 1e-4
    got = generate(ours, ids, pixel_values=pv, max_new_tokens=4)
    expected = theirs.generate(input_ids=ids, pixel_values=pv.float(), max_new_tokens=4, do_sample=False)
    assert torch.equal(got, expected)
