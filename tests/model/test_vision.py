"""The vision encoder's parts, the fusion rule and the multimodal config, each against its contract."""

import pytest
import torch

from sonar.errors import UserError
from sonar.model import generate
from sonar.model.config import ConfigError
from sonar.model.fusion import fuse
from sonar.model.multimodal_config import MultimodalConfig
from sonar.model.vision import VisionEncoder, pixel_shuffle, rotation_table
from sonar.model.vision_config import VisionConfig, count_vision_parameters
from vision_cases import CONFIG, TOKENS, VISION, pixels, prompt, tiny_model

llama4 = pytest.importorskip("transformers.models.llama4.modeling_llama4")


def test_rotation_table_matches_transformers_at_full_size():
    ours = rotation_table(VisionConfig())  # 24x24 patches + class token, 16 heads of 88
    theirs = llama4.Llama4VisionRotaryEmbedding._compute_freqs_ci(llama4.Llama4VisionConfig(
        hidden_size=1408, num_attention_heads=16, image_size=336, patch_size=14,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    ))
    assert ours.shape == (577, 44)
    assert torch.allclose(ours, theirs.reshape(577, 44), atol=1e-6)


def test_rotation_turns_columns_then_rows_and_leaves_the_class_token():
    table = rotation_table(VISION)  # 4x4 patches, head_dim 16: 4 column pairs then 4 row pairs
    row, col = 2, 3
    patch = row * VISION.patches_per_side + col
    turn = lambda angle: torch.polar(torch.tensor(1.0), torch.tensor(float(angle)))  # noqa: E731
    assert torch.allclose(table[patch, 0], turn(col + 1))  # the first pair's frequency is 1
    assert torch.allclose(table[patch, 4], turn(row + 1))
    # 8 pairs per head share 4 frequencies theta^(-2j/8)
    assert torch.allclose(table[patch, 1], turn((col + 1) * VISION.rope_theta ** -0.25))
    assert torch.equal(table[-1], torch.ones(8, dtype=table.dtype))


def test_pixel_shuffle_matches_transformers():
    x = torch.randn(3, 36, 10)
    assert torch.equal(pixel_shuffle(x, 0.5), llama4.pixel_shuffle(x, 0.5))


def test_encoder_gives_tokens_per_tile_features_per_tile():
    encoder = VisionEncoder(VISION)
    out = encoder(torch.randn(5, 3, 56, 56))
    assert out.shape == (5, VISION.tokens_per_tile, VISION.projector_output_dim)
    with pytest.raises(ValueError, match=r"\[tiles, 3, 56, 56\]"):
        encoder(torch.randn(1, 3, 28, 28))


def test_parameter_count_matches_the_planner_formula():
    model = tiny_model()
    counted = sum(p.numel() for p in model.vision_model.parameters()) + model.projector.weight.numel()
    assert counted == count_vision_parameters(VISION, CONFIG.text.hidden_size)


def test_parameter_count_matches_the_planner_formula_at_llama4_size():
    from sonar.model.fusion import Llama4MultimodalModel

    config = MultimodalConfig()
    with torch.device("meta"):
        model = Llama4MultimodalModel(config)
    counted = sum(p.numel() for p in model.vision_model.parameters()) + model.projector.weight.numel()
    assert counted == count_vision_parameters(config.vision, config.text.hidden_size)


def test_features_fill_patch_tokens_in_order():
    ids = torch.tensor([[1, TOKENS.patch, 2, TOKENS.patch], [TOKENS.patch, 3, 4, 5]])
    embeds = torch.zeros(2, 4, 2)
    features = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    fused = fuse(embeds, ids, features, TOKENS.patch)
    assert fused[0, 1].tolist() == [1.0, 1.0] and fused[0, 3].tolist() == [2.0, 2.0]
    assert fused[1, 0].tolist() == [3.0, 3.0]
    assert fused[0, 0].tolist() == [0.0, 0.0]


def test_token_and_feature_count_mismatch_is_a_clear_error():
    model = tiny_model()
    ids = prompt([(1, 1)])
    with pytest.raises(UserError, match=rf"{VISION.tokens_per_tile} image tokens .* {2 * VISION.tokens_per_tile}"):
        model(ids, pixels([(1, 1)] * 2))
    with pytest.raises(UserError, match=f"{2 * VISION.tokens_per_tile} image tokens"):
        generate(model, prompt([(1, 1)] * 2), pixel_values=pixels([(1, 1)]), max_new_tokens=1)


def test_text_only_prompt_is_the_language_model():
    model = tiny_model()
    ids = torch.randint(0, 400, (2, 9))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, model.language_model(ids).logits)


def test_generation_with_images_matches_the_uncached_forward():
    model = tiny_model(seed=4)
    ids, pv = prompt([(2, 1)]), pixels([(2, 1)])
    out = generate(model, ids, pixel_values=pv, max_new_tokens=6)
    uncached = generate(model, ids, pixel_values=pv, max_new_tokens=6, use_cache=False)
    assert torch.equal(out, uncached)
    tokens = ids
    with torch.no_grad():  # step by step through the full multimodal forward
        for _ in range(6):
            logits = model(tokens, pv).logits[:, -1]
            tokens = torch.cat((tokens, logits.argmax(-1, keepdim=True)), dim=1)
    assert torch.equal(out, tokens)


def test_pixel_values_need_a_multimodal_model():
    model = tiny_model().language_model
    with pytest.raises(ValueError, match="multimodal"):
        generate(model, prompt([(1, 1)]), pixel_values=pixels([(1, 1)]), max_new_tokens=1)


@pytest.mark.parametrize(("changes", "message"), [
    (dict(image_token_index=512), "image_token_index=512"),
    (dict(boi_token_index=505), "must differ"),
    (dict(vision=VISION.replace(hidden_size=24, num_attention_heads=4, intermediate_size=96)), "head_dim=6"),
    (dict(vision=VISION.replace(vision_output_dim=64)), "vision_output_dim=64"),
])
def test_config_errors_name_the_value(changes, message):
    with pytest.raises(ConfigError, match=message):
        CONFIG.replace(**changes)


def test_bf16_model_accepts_fp32_pixels():
    model = tiny_model().to(torch.bfloat16)
    out = model(prompt([(1, 1)]), pixels([(1, 1)]))
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.logits).all()


def test_default_config_is_llama4():
    config = MultimodalConfig()
    assert (config.boi_token_index, config.eoi_token_index, config.image_token_index) == (200080, 200081, 200092)
    assert config.vision.tokens_per_tile == 144


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("hidden_size", "x", "an integer >= 1"), ("patch_size", 0, "an integer >= 1"), ("image_size", True, "an integer"),
    ("pixel_shuffle_ratio", float("nan"), "a finite number"), ("multi_modal_projector_bias", 1, "true or false"),
])
def test_vision_fields_of_the_wrong_type_are_one_error(field, value, rule):
    with pytest.raises(ConfigError, match=f"vision {field}={value!r}: must be {rule}"):
        VisionConfig(**{field: value})
