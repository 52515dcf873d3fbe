import torch

from sonar.checkpoint import load_pretrained, save_pretrained
from sonar.model import build_model, generate, preset
from sonar.systems.linear_layout import InputMajorLinear, use_input_major_linears

CONFIG = preset("debug").replace(initializer_range=0.08)


def test_input_major_linears_compute_the_same_logits_and_tokens():
    ids = torch.randint(0, CONFIG.vocab_size, (2, 40), generator=torch.Generator().manual_seed(0))
    reference = build_model(CONFIG, seed=1).eval()
    transformed = use_input_major_linears(build_model(CONFIG, seed=1).eval())
    assert any(isinstance(m, InputMajorLinear) for m in transformed.modules())
    assert not any(type(m) is torch.nn.Linear for m in transformed.modules())
    with torch.no_grad():
        assert (transformed(ids).logits - reference(ids).logits).abs().max().item() <= 1e-5
    assert torch.equal(generate(transformed, ids, max_new_tokens=10), generate(reference, ids, max_new_tokens=10))


def test_checkpoints_of_a_transformed_model_keep_the_transformers_layout(tmp_path):
    reference = build_model(CONFIG, seed=1)
    save_pretrained(use_input_major_linears(build_model(CONFIG, seed=1)), tmp_path / "ckpt")
    loaded = load_pretrained(tmp_path / "ckpt")
    for (name, a), (_, b) in zip(reference.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
