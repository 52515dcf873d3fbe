"""Bad input to the multimodal (vision) API, `sonar search --resume` and `sonar eval length`, found by a second
sweep (the contract each case must meet: bad_input_cases.py). Each case was a traceback, a silent acceptance or
a hang before it was fixed."""

from __future__ import annotations

import functools
import json

import pytest
import torch
from bad_input_cases import api, check_case, cli, params

import sonar
from sonar.checkpoint import load_multimodal, save_multimodal
from sonar.imaging import ImageProcessingConfig, ImageTokens, image_token_ids, preprocess_image, prompt_with_images
from sonar.model.fusion import build_multimodal_model
from sonar.model.multimodal_config import MultimodalConfig
from sonar.model.vision_config import VisionConfig

VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, image_size=56,
              patch_size=14, projector_input_dim=48, projector_output_dim=48, vision_output_dim=48)


def _vision(**changes):
    return lambda _: VisionConfig(**{**VISION, **changes})


@functools.lru_cache(maxsize=1)
def _multimodal():
    from vision_cases import tiny_model

    return tiny_model()


def _config():
    from vision_cases import CONFIG

    return CONFIG


def _prompt():
    from vision_cases import prompt

    return prompt([(1, 1)])


def _generate(pixel_values):
    return lambda _: sonar.generate(_multimodal(), _prompt(), max_new_tokens=1, pixel_values=pixel_values)


def _forward(ids=None, pixel_values=None, **kw):
    return lambda _: _multimodal()(_prompt() if ids is None else ids,
                                   torch.zeros(1, 3, 56, 56) if pixel_values is None else pixel_values, **kw)


def _saved_multimodal_with(edit):
    def setup(sb):
        save_multimodal(_multimodal(), sb.root / "mm")
        path = sb.root / "mm" / "config.json"
        config = json.loads(path.read_text())
        edit(config)
        path.write_text(json.dumps(config))
        return sb.root / "mm"
    return setup


CASES = [
    # VisionConfig: ranges the text ModelConfig already enforced, and sizes that hang the build
    api("vision-initializer-range-negative", _vision(initializer_range=-0.1), r"initializer_range=-0\.1"),
    api("vision-norm-eps-zero", _vision(norm_eps=0.0), r"norm_eps=0\.0: must be > 0"),
    api("vision-rope-theta-negative", _vision(rope_theta=-5.0), r"rope_theta=-5\.0: must be > 0"),
    api("vision-pixel-shuffle-ratio-zero", _vision(pixel_shuffle_ratio=0.0), r"pixel_shuffle_ratio=0\.0"),
    api("vision-layers-huge", _vision(num_hidden_layers=10**9), r"num_hidden_layers=1000000000: must be <="),
    api("vision-image-size-huge", _vision(image_size=14 * 10**6), r"image_size=14000000: must be <="),
    api("vision-channels-huge", _vision(num_channels=10**9), r"num_channels=1000000000: must be <="),
    api("multimodal-image-token-bool",
        lambda _: MultimodalConfig(text=sonar.preset("debug"), vision=VisionConfig(**VISION), boi_token_index=0,
                                   eoi_token_index=2, image_token_index=True),
        r"image_token_index=True"),
    # build_multimodal_model: the checks build_model makes
    api("multimodal-build-config-word", lambda _: build_multimodal_model("debug"),
        r"config: expected a MultimodalConfig"),
    api("multimodal-build-seed-word", lambda _: build_multimodal_model(_config(), seed="x"), r"seed='x'"),
    api("multimodal-build-seed-negative", lambda _: build_multimodal_model(_config(), seed=-1), r"seed=-1"),
    api("multimodal-build-dtype-word", lambda _: build_multimodal_model(_config(), dtype="bf16"), r"dtype='bf16'"),
    # pixel_values given to generate and to the model
    api("multimodal-gen-pixels-3d", _generate(torch.zeros(3, 56, 56)), r"pixel_values has shape \(3, 56, 56\)"),
    api("multimodal-gen-pixels-wrong-size", _generate(torch.zeros(1, 3, 28, 28)), r"pixel_values has shape"),
    api("multimodal-gen-pixels-no-tiles", _generate(torch.zeros(0, 3, 56, 56)), r"pixel_values has shape \(0,"),
    api("multimodal-gen-pixels-uint8", _generate(torch.zeros(1, 3, 56, 56, dtype=torch.uint8)),
        r"pixel_values have dtype torch\.uint8"),
    api("multimodal-gen-pixels-nan", _generate(torch.full((1, 3, 56, 56), float("nan"))), r"pixel_values hold NaN"),
    api("multimodal-gen-pixels-inf", _generate(torch.full((1, 3, 56, 56), float("inf"))), r"pixel_values hold NaN"),
    api("multimodal-gen-pixels-list", _generate(torch.zeros(1, 3, 56, 56).tolist()), r"pixel_values is a list"),
    api("multimodal-gen-pixels-numpy", _generate(torch.zeros(1, 3, 56, 56).numpy()), r"pixel_values is a ndarray"),
    api("multimodal-forward-pixels-bool", _forward(pixel_values=torch.zeros(1, 3, 56, 56, dtype=torch.bool)),
        r"pixel_values have dtype torch\.bool"),
    api("multimodal-forward-pixels-and-embeds", _forward(inputs_embeds=torch.zeros(1, 25, 64)),
        r"pixel_values or inputs_embeds"),
    api("multimodal-forward-ids-past-vocab", _forward(ids=torch.tensor([[10**6]])), r"1000000: outside"),
    api("multimodal-forward-float-ids", _forward(ids=torch.ones(1, 3)), r"dtype torch\.float32"),
    api("multimodal-image-features-3d", lambda _: _multimodal().image_features(torch.zeros(3, 56, 56)),
        r"pixel_values has shape \(3, 56, 56\)"),
    api("multimodal-load-vision-layers-huge",
        lambda path: load_multimodal(path),
        r"num_hidden_layers=5000: must be <=",
        setup=_saved_multimodal_with(lambda c: c["vision_config"].update(num_hidden_layers=5000))),
    # imaging: preprocessing settings, image token layout, prompts
    api("imaging-tile-size-word", lambda _: ImageProcessingConfig(tile_size="336"), r"tile_size='336'"),
    api("imaging-tile-size-fraction", lambda _: ImageProcessingConfig(tile_size=1.5), r"tile_size=1\.5"),
    api("imaging-tile-size-huge", lambda _: ImageProcessingConfig(tile_size=10**6), r"tile_size=1000000"),
    api("imaging-max-tiles-huge", lambda _: ImageProcessingConfig(max_tiles=10**9), r"max_tiles=1000000000"),
    api("imaging-std-nan", lambda _: ImageProcessingConfig(std=(float("nan"),) * 3), r"std=\(nan"),
    api("imaging-mean-word", lambda _: ImageProcessingConfig(mean="abc"), r"mean='abc'"),
    api("imaging-dtype-word", lambda _: ImageProcessingConfig(dtype="bf16"), r"dtype='bf16'"),
    api("imaging-empty-image", lambda _: preprocess_image(torch.zeros(3, 0, 5, dtype=torch.uint8)),
        r"at least one pixel"),
    api("imaging-token-bool", lambda _: ImageTokens(patch=True), r"'patch': True"),
    api("imaging-grid-word", lambda _: image_token_ids(("a", 1), 4), r"grid=\('a', 1\)"),
    api("imaging-grid-huge", lambda _: image_token_ids((10**5, 10**5), 4), r"grid=\(100000, 100000\)"),
    api("imaging-tokens-per-tile-huge", lambda _: image_token_ids((1, 1), 10**10), r"tokens_per_tile=10000000000"),
    api("imaging-prompt-text-not-tokenized", lambda _: prompt_with_images(["hello"], 4), r"pieces\[0\] \(str"),
    api("imaging-prompt-not-a-list", lambda _: prompt_with_images(5, 4), r"pieces='5'"),
    # CLI
    cli("search-resume-with-out", lambda sb: ["search", "--resume", sb.run(), "--out", "elsewhere"],
        r"--out elsewhere: a resumed search"),
    cli("eval-length-cached-windows-above-windows",
        lambda sb: ["eval", "length", sb.train_run(), "--out", "o", "--threads", "1", "--windows", "1",
                    "--cached-windows", "2"],
        r"--cached-windows 2: must be at most --windows 1"),
]


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input(case, sandbox):
    check_case(case, sandbox)
