"""sonar checkpoints under lm-evaluation-harness (the optional `lmeval` extra).

Importing this module registers the model class as "sonar": `lm_eval.simple_evaluate(model="sonar",
model_args="pretrained=DIR", tasks=...)`, or pass `SonarLM(DIR)` itself. Text is bytes (the chat
vocabulary's ids 0..255); with `chat=True`, generation prompts are wrapped in Llama 4's chat template.
"""

from __future__ import annotations

import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from sonar.checkpoint import load_pretrained
from sonar.errors import UserError
from sonar.model.generation import generate
from sonar.posttrain.chat import BEGIN_OF_TEXT, EOT, check_chat_checkpoint, decode_response, prompt_ids


def _bytes(text: str) -> list[int]:
    return list(text.encode("utf-8"))


@register_model("sonar")
class SonarLM(LM):
    def __init__(self, pretrained: str, chat: bool = False, max_gen_toks: int = 64, **_ignored) -> None:
        super().__init__()
        self.model = load_pretrained(pretrained).eval()
        check_chat_checkpoint(pretrained, self.model.config.vocab_size)
        self.chat = chat in (True, "True", "true", "1")
        self.max_gen_toks = int(max_gen_toks)
        if self.max_gen_toks < 1:
            raise UserError(f"max_gen_toks={max_gen_toks}: must be >= 1")

    @torch.no_grad()
    def _continuation_logprob(self, context: list[int], continuation: list[int]) -> tuple[float, bool]:
        """log p(continuation | context) and whether greedy decoding would produce it."""
        ids = [BEGIN_OF_TEXT, *context, *continuation]
        logits_TV = self.model(torch.tensor([ids[:-1]])).logits[0].float()
        start = len(ids) - 1 - len(continuation)
        logp_CV = torch.log_softmax(logits_TV[start:], dim=-1)
        target_C = torch.tensor(continuation)
        total = float(logp_CV.gather(1, target_C[:, None]).sum())
        return total, bool((logp_CV.argmax(-1) == target_C).all())

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        return [self._continuation_logprob(_bytes(r.args[0]), _bytes(r.args[1])) for r in requests]

    def loglikelihood_rolling(self, requests) -> list[float]:
        return [self._continuation_logprob([], _bytes(r.args[0]))[0] for r in requests]

    def generate_until(self, requests) -> list[str]:
        out = []
        for request in requests:
            context, kwargs = request.args
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            ids = prompt_ids(context) if self.chat else [BEGIN_OF_TEXT, *_bytes(context)]
            tokens = generate(self.model, torch.tensor([ids]), max_new_tokens=int(kwargs.get("max_gen_toks",
                                                                                            self.max_gen_toks)),
                              stop_tokens=(EOT,))
            text = decode_response(tokens[0, len(ids):].tolist())
            for stop in until:
                text = text.split(stop)[0]
            out.append(text)
        return out
