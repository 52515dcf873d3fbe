"""Our multimodal model against transformers' Llama4ForConditionalGeneration on seeded random configurations.

The named cases in test_vision_parity_hf.py pin one tiny encoder; here every vision knob is drawn together
with a small text decoder and an image layout (tile size, patch size, channels, width, heads, layers,
pixel shuffle ratio, adapter width, RoPE theta; decoder heads, experts, chunked attention, NoPE, tied
embeddings; images per prompt row, tile grids, batch). Each draw is exported with save_pretrained, loaded
by transformers, and must give the same logits. A draw is a pure function of its seed.

Three VisionConfig fields are pinned rather than drawn, because transformers ignores them and our export
refuses any other value (checkpoint.hf_multimodal_config.check_transformers_can_build): norm_eps (its
LayerNorms use the default 1e-5), multi_modal_projector_bias (its projector has no bias), and
intermediate_size (it sizes the adapter's input by it, so it must be hidden_size / pixel_shuffle_ratio^2).
"""

import random
import tempfile

import pytest
import torch

from hf_oracle import max_abs_diff
from sonar.checkpoint import multimodal_from_hf, save_pretrained
from sonar.checkpoint.hf_multimodal_config import vision_to_hf
from sonar.imaging import ImageTokens, image_token_ids
from sonar.model import ModelConfig, RopeScaling, generate
from sonar.model.config import ConfigError
from sonar.model.fusion import build_multimodal_model
from sonar.model.multimodal_config import MultimodalConfig
from sonar.model.vision import VisionEncoder
from sonar.model.vision_config import VisionConfig, count_vision_parameters

transformers = pytest.importorskip("transformers")

SEEDS = range(24)  # about a tenth of a second each on one thread
# Pixel shuffle folds 1/ratio: 5 is left out because transformers cannot run it (its pixel_shuffle sizes
# the folded channels as int(hidden / 0.2**2) = int(hidden * 24.999...), one short; our export refuses it).
FOLDS = (1, 2, 2, 3, 4, 6)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The tensors are tiny: a second thread only waits on the first (and on anything else the machine runs).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_text(r: random.Random, vocab: int) -> ModelConfig:
    heads = r.choice([1, 2, 3, 4])
    kv_heads = r.choice([k for k in (1, 2, 3, 4) if heads % k == 0])
    hidden = r.choice([16, 24, 32, 48])
    head_dim = r.choice([None, 8, 16])
    if head_dim is None and (hidden % heads or (hidden // heads) % 2):
        head_dim = 8
    layers = r.randint(1, 3)
    experts = r.randint(1, 4)
    fields = dict(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=r.choice([8, 24]),
        intermediate_size_mlp=r.choice([16, 40]),
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        num_local_experts=experts,
        num_experts_per_tok=r.randint(1, experts),
        interleave_moe_layer_step=r.randint(1, 2),
        no_rope_layer_interval=r.randint(1, 4),
        attention_chunk_size=r.choice([None, 8, 16, 33]),
        use_qk_norm=r.random() < 0.5,
        attn_temperature_tuning=r.random() < 0.5,
        floor_scale=r.choice([2, 8, 8192]),
        attn_scale=r.choice([0.1, 0.7]),
        rope_theta=r.choice([10000.0, 500000.0]),
        tie_word_embeddings=r.random() < 0.3,
        rms_norm_eps=r.choice([1e-5, 1e-6, 1e-2]),
        initializer_range=0.08,
        max_position_embeddings=512,
    )
    if r.random() < 0.25:
        fields["rope_scaling"] = RopeScaling(
            factor=r.choice([2.0, 8.0]),
            low_freq_factor=1.0,
            high_freq_factor=r.choice([1.0, 4.0]),
            original_max_position_embeddings=r.choice([16, 32]),
        )
    return ModelConfig(**fields)


def random_vision(r: random.Random) -> VisionConfig:
    fold = r.choice(FOLDS)
    side = fold * r.choice([k for k in (1, 2, 3) if fold * k <= 12])  # patches per tile side
    patch = r.choice([1, 2, 3, 4, 5, 7])
    heads = r.randint(1, 4)
    hidden = heads * r.choice([4, 8, 12, 16])  # 2-D RoPE needs head_dim % 4 == 0
    width = r.choice([8, 16, 24, 40])  # the adapter's and the projector's input width
    return VisionConfig(
        hidden_size=hidden,
        num_hidden_layers=r.randint(1, 3),
        num_attention_heads=heads,
        intermediate_size=hidden * fold * fold,
        num_channels=r.choice([1, 2, 3, 4]),
        image_size=side * patch,
        patch_size=patch,
        rope_theta=r.choice([100.0, 10000.0, 1e6]),
        pixel_shuffle_ratio=1 / fold,
        projector_input_dim=width,
        projector_output_dim=width,
        vision_output_dim=width,
        initializer_range=r.choice([0.02, 0.1]),
    )


def random_config(seed: int) -> tuple[MultimodalConfig, ImageTokens]:
    r = random.Random(seed)
    vocab = r.choice([64, 100, 257])
    marks = r.sample(range(vocab), 6)
    tokens = ImageTokens(
        image_start=marks[0],
        image_end=marks[1],
        tile_x_separator=marks[2],
        tile_y_separator=marks[3],
        image=marks[4],
        patch=marks[5],
    )
    config = MultimodalConfig(
        text=random_text(r, vocab),
        vision=random_vision(r),
        boi_token_index=tokens.image_start,
        eoi_token_index=tokens.image_end,
        image_token_index=tokens.patch,
    )
    return config, tokens


def random_layout(seed: int) -> list[list[tuple[int, int]]]:
    """Tile grids of the images in each prompt row (at least one image in all)."""
    r = random.Random(seed + 10_000)
    grid = lambda: r.choice([(1, 1), (1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (2, 3)])  # noqa: E731
    rows = [[grid() for _ in range(r.randint(0, 3))] for _ in range(r.randint(1, 3))]
    if not any(rows):
        rows[0].append(grid())
    return rows


def tiles(grids: list[tuple[int, int]]) -> int:
    return sum(rows * cols + (rows * cols > 1) for rows, cols in grids)  # a global tile when tiled


def random_inputs(seed: int, config: MultimodalConfig, tokens: ImageTokens):
    """ids [B, T] with text between images (rows padded with text to one length) and pixel values for
    every tile of every row in order."""
    layout = random_layout(seed)
    r = random.Random(seed + 20_000)
    words = [t for t in range(config.text.vocab_size) if t != tokens.patch]  # any token but the image's

    def text(n: int) -> list[int]:
        return [r.choice(words) for _ in range(n)]

    rows = []
    for grids in layout:
        ids = text(r.randint(0, 6))
        for grid in grids:
            ids += image_token_ids(grid, config.vision.tokens_per_tile, tokens) + text(r.randint(0, 5))
        rows.append(ids)
    length = max(len(ids) for ids in rows) + r.randint(1, 3)
    ids = torch.tensor([row + text(length - len(row)) for row in rows])
    C, S = config.vision.num_channels, config.vision.image_size
    g = torch.Generator().manual_seed(seed)
    pixels = torch.rand(sum(tiles(grids) for grids in layout), C, S, S, generator=g) * 2 - 1
    return ids, pixels, tiles(layout[0])


def twins(seed: int, config: MultimodalConfig):
    ours = build_multimodal_model(config, seed=seed).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # every parameter random (norms and biases included), so none hides a mismatch
        for param in ours.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=g))
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(ours, tmp)
        theirs = transformers.Llama4ForConditionalGeneration.from_pretrained(tmp, attn_implementation="eager")
    return ours, theirs.eval()


def _check(seed: int) -> None:
    config, tokens = random_config(seed)
    ours, theirs = twins(seed, config)
    # The whole config as transformers serialises it reads back field for field, the decoder's included
    back = multimodal_from_hf(theirs.config.to_dict())
    assert back == config, f"seed {seed}: {back} != {config}"
    counted = sum(p.numel() for p in (*ours.vision_model.parameters(), *ours.projector.parameters()))
    assert counted == count_vision_parameters(config.vision, config.text.hidden_size), f"seed {seed}"
    ids, pv, first_row_tiles = random_inputs(seed, config, tokens)
    with torch.no_grad():
        expected = theirs(input_ids=ids, pixel_values=pv, use_cache=False).logits
        got = ours(ids, pv).logits
    diff = max_abs_diff(got, expected)
    assert diff <= 1e-4, f"seed {seed}: max abs diff {diff:.2e} for {config}, layout {random_layout(seed)}"
    if first_row_tiles:
        row, row_pv = ids[:1], pv[:first_row_tiles]
        greedy = generate(ours, row, pixel_values=row_pv, max_new_tokens=4)
        expected = theirs.generate(
            input_ids=row, pixel_values=row_pv, max_new_tokens=4, min_new_tokens=4, do_sample=False
        )
        assert torch.equal(greedy, expected), f"seed {seed}: greedy tokens differ for {config}"


@pytest.mark.parametrize("seed", SEEDS)
def test_random_multimodal_configs_match_transformers(seed):
    _check(seed)


def test_the_draws_cover_the_knobs():
    configs = [random_config(seed)[0] for seed in SEEDS]
    vision = [c.vision for c in configs]
    assert {round(1 / v.pixel_shuffle_ratio) for v in vision} >= {1, 2, 3, 4}
    assert {v.num_channels for v in vision} >= {1, 3} and {v.num_hidden_layers for v in vision} >= {1, 2, 3}
    assert (
        len({v.patch_size for v in vision}) >= 4 and len({v.hidden_size // v.num_attention_heads for v in vision}) >= 3
    )
    assert {c.text.attention_chunk_size is None for c in configs} == {True, False}
    assert {c.text.tie_word_embeddings for c in configs} == {True, False}
    layouts = [random_layout(seed) for seed in SEEDS]
    assert any(len(rows) > 1 for rows in layouts) and any(len(grids) > 1 for rows in layouts for grids in rows)
    assert any(grid != (1, 1) for rows in layouts for grids in rows for grid in grids)


def test_the_images_reach_the_logits():
    # Guards the sweep: the drawn encoders must feed the decoder, or parity would hold for any features.
    config, tokens = random_config(0)
    ours = build_multimodal_model(config, seed=0).eval()
    ids, pv, _ = random_inputs(0, config, tokens)
    with torch.no_grad():
        assert max_abs_diff(ours(ids, pv).logits, ours(ids, pv.flip(-1)).logits) > 1e-4


# Bugs the sweep's ratios led to, one named test each.


@pytest.mark.parametrize("ratio", [0.75, 0.4, 0.3])
def test_a_pixel_shuffle_ratio_that_is_not_one_over_a_whole_number_is_refused(ratio):
    # Used to be accepted, then fail in the adapter's first matmul (transformers runs 0.75 as a reshape).
    with pytest.raises(ConfigError, match=r"must be 1/n for a whole n"):
        VisionConfig(hidden_size=36, num_attention_heads=1, image_size=20, patch_size=2, pixel_shuffle_ratio=ratio)
    assert VisionConfig(image_size=18, patch_size=2, pixel_shuffle_ratio=1 / 3).tokens_per_tile == 9


def test_tokens_per_tile_is_what_pixel_shuffle_gives_when_the_float_product_falls_short():
    # 49 * (1/49) is 0.999... in floating point: tokens_per_tile said 0 while the encoder gave one token.
    vision = VisionConfig(
        hidden_size=4,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=8,
        image_size=49,
        patch_size=1,
        pixel_shuffle_ratio=1 / 49,
        projector_input_dim=8,
        projector_output_dim=8,
        vision_output_dim=8,
    )
    assert vision.tokens_per_tile == 1
    assert VisionEncoder(vision)(torch.zeros(2, 3, 49, 49)).shape == (2, 1, 8)


def test_a_ratio_transformers_cannot_run_is_refused_on_export(tmp_path):
    """1/5: transformers sizes the folded channels int(hidden / 0.2**2) = int(hidden * 24.999...), one short."""
    config, _ = random_config(0)
    vision = config.vision.replace(
        image_size=5 * config.vision.patch_size,
        pixel_shuffle_ratio=0.2,
        intermediate_size=config.vision.hidden_size * 25,
    )
    ours = build_multimodal_model(config.replace(vision=vision)).eval()
    pixels = torch.rand(2, vision.num_channels, vision.image_size, vision.image_size)
    assert ours.vision_model(pixels).shape == (2, 1, vision.projector_output_dim)  # ours runs it
    counted = sum(p.numel() for p in (*ours.vision_model.parameters(), *ours.projector.parameters()))
    assert counted == count_vision_parameters(vision, config.text.hidden_size)  # the planner once counted D*25-1
    with pytest.raises(ConfigError, match="pixel_shuffle_ratio=0.2"):
        save_pretrained(ours, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    hf_vision = transformers.Llama4VisionConfig(**vision_to_hf(vision))  # the oracle, to show the refusal is due
    with pytest.raises(RuntimeError, match="invalid for input of size"):
        transformers.Llama4VisionModel(hf_vision)(pixels)
