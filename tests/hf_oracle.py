"""transformers as the test oracle: build its Llama 4 from our config and copy weights across."""

from __future__ import annotations

import tempfile

import pytest
import torch

transformers = pytest.importorskip("transformers")

from sonar.checkpoint import load_pretrained, save_pretrained, to_hf  # noqa: E402


def hf_text_config(config, attn_implementation: str = "eager"):
    cfg = transformers.Llama4TextConfig(**to_hf(config))
    cfg._attn_implementation = attn_implementation
    return cfg


def hf_model_from(model, attn_implementation: str = "eager"):
    """The transformers twin of one of our models (same weights), through a checkpoint round trip."""
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp)
        hf = transformers.Llama4ForCausalLM.from_pretrained(tmp, attn_implementation=attn_implementation)
    return hf.eval()


def ours_from_hf(hf_model):
    with tempfile.TemporaryDirectory() as tmp:
        hf_model.save_pretrained(tmp)
        return load_pretrained(tmp)


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()
