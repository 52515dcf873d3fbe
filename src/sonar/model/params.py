"""Parameter counts derived from a config alone (no model is built), total and active per token."""

from __future__ import annotations

from dataclasses import dataclass

from sonar.model.config import ModelConfig, require_model_config
from sonar.model.layout import layer_plans


@dataclass(kw_only=True, frozen=True)
class ParamCount:
    embedding: int
    lm_head: int
    attention: int
    norms: int
    router: int
    routed_experts: int  # all routed experts
    routed_experts_active: int  # the top-k a token uses
    shared_experts: int
    dense_ffn: int

    @property
    def total(self) -> int:
        return (self.embedding + self.lm_head + self.attention + self.norms + self.router
                + self.routed_experts + self.shared_experts + self.dense_ffn)

    @property
    def active(self) -> int:
        """Parameters one token touches: input embedding and LM head included."""
        return self.total - self.routed_experts + self.routed_experts_active

    def by_component(self) -> dict[str, int]:
        return {
            "embedding": self.embedding, "lm_head": self.lm_head, "attention": self.attention,
            "norms": self.norms, "router": self.router, "routed_experts": self.routed_experts,
            "shared_experts": self.shared_experts, "dense_ffn": self.dense_ffn,
        }


def count_parameters(config: ModelConfig) -> ParamCount:
    require_model_config(config)
    D, V = config.hidden_size, config.vocab_size
    hd, H, K = config.resolved_head_dim, config.num_attention_heads, config.num_key_value_heads
    E, A, F = config.num_local_experts, config.num_experts_per_tok, config.intermediate_size
    plans = layer_plans(config)
    n_moe = sum(p.is_moe for p in plans)
    n_dense = len(plans) - n_moe
    swiglu = 3 * D * F
    return ParamCount(
        embedding=V * D,
        lm_head=0 if config.tie_word_embeddings else V * D,
        attention=len(plans) * (2 * D * H * hd + 2 * D * K * hd),
        norms=(2 * len(plans) + 1) * D,
        router=n_moe * D * E,
        routed_experts=n_moe * E * swiglu,
        routed_experts_active=n_moe * A * swiglu,
        shared_experts=n_moe * swiglu,
        dense_ffn=n_dense * 3 * D * config.intermediate_size_mlp,
    )
