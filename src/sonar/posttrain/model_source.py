"""Where a stage's model comes from: a checkpoint a previous stage (or `sonar train`) wrote, or a fresh
preset sized to the chat vocabulary, its attention chunks at least one chat long."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from sonar.checkpoint import load_pretrained
from sonar.errors import UserError
from sonar.model import build_model, preset
from sonar.posttrain.chat import CHAT_VOCAB_SIZE, check_chat_checkpoint

CHAT_CONTEXT = 128  # tokens: the longest built-in prompt under the template, with its reply, fits


def load_start(checkpoint: str | Path | None, *, preset_name: str | None = None, seed: int = 0,
               flag: str = "--from") -> torch.nn.Module:
    """The model to post-train, in train mode: from `checkpoint` (given as `flag`), else a fresh `preset_name`."""
    if (checkpoint is None) == (preset_name is None):
        raise UserError("name exactly one starting point: --from CHECKPOINT or --preset NAME (a fresh model)")
    if checkpoint is not None:
        if not str(checkpoint).strip():  # Path('') is the working directory, and load_pretrained named its `path=`
            raise UserError(f"{flag} {str(checkpoint)!r}: name a checkpoint directory")
        if not Path(checkpoint).is_dir():
            raise UserError(f"{flag} {checkpoint}: no such checkpoint directory")
        model = load_pretrained(checkpoint)
        check_chat_checkpoint(checkpoint, model.config.vocab_size)
    else:
        config = preset(preset_name)
        # debug's 32-token chunks end inside a chat prompt, leaving its RoPE layers blind to the question.
        config = config.replace(vocab_size=CHAT_VOCAB_SIZE,
                                attention_chunk_size=max(config.attention_chunk_size, CHAT_CONTEXT))
        try:
            model = build_model(config, seed=seed)
        except UserError as err:  # a preset too large for this machine: name the flag that chose it
            raise UserError(f"--preset {preset_name!r}: {err}") from None
    return model.train()


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A reference model: the same weights, never trained."""
    reference = copy.deepcopy(model)  # a copy draws no random numbers, so runs stay reproducible
    for param in reference.parameters():
        param.requires_grad_(False)
    return reference.eval()
