import pytest
import torch

from sonar.model import build_model, preset
from sonar.model.moe import load_balancing_loss
from sonar.model.moe_dispatch import MOE_DISPATCHES

# The model's own dispatches, which take its raw expert weights; sonar.systems registers packed ones
# (re-laid-out experts) when imported, as other test folders do before this one is collected.
MODEL_DISPATCHES = sorted(name for name, fn in MOE_DISPATCHES.items() if fn.__module__ == "sonar.model.moe_dispatch")


@pytest.mark.parametrize("top_k", [1, 2])
@pytest.mark.parametrize("name", sorted(set(MODEL_DISPATCHES) - {"dense"}))
def test_every_dispatch_agrees_with_dense(name, top_k):
    config = preset("debug").replace(initializer_range=0.08, num_experts_per_tok=top_k, interleave_moe_layer_step=1)
    model = build_model(config, seed=4).eval()
    ids = torch.randint(0, config.vocab_size, (3, 29), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for block in model.layers:
            block.ffn.dispatch_name = "dense"
        reference = model(ids).logits
        for block in model.layers:
            block.ffn.dispatch_name = name
        assert (model(ids).logits - reference).abs().max().item() <= 1e-5


def test_grouped_dispatch_trains_like_dense():
    config = preset("debug").replace(initializer_range=0.08)
    ids = torch.randint(0, config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    grads = {}
    for name in ("dense", "grouped"):
        model = build_model(config, seed=4)
        for block in model.layers:
            if block.plan.is_moe:
                block.ffn.dispatch_name = name
        model(ids).logits.logsumexp(-1).mean().backward()
        grads[name] = model.layers[1].ffn.experts.gate_up_proj.grad
    assert torch.allclose(grads["dense"], grads["grouped"], atol=1e-6)


def test_load_balancing_loss_is_one_when_balanced_and_larger_when_collapsed():
    balanced = torch.eye(4).repeat(8, 1) * 5.0  # every expert chosen equally, confidently
    collapsed = torch.zeros(32, 4)
    collapsed[:, 0] = 5.0
    assert load_balancing_loss([balanced], top_k=1).item() == pytest.approx(1.0, rel=0.05)
    assert load_balancing_loss([collapsed], top_k=1).item() > 3.0


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_grouped_one_token_path_gives_the_general_paths_bits(top_k):
    """A decode step (one token, no autograd) skips grouped's sort and scatter; it must not change a bit."""
    from sonar.model import moe_dispatch

    g = torch.Generator().manual_seed(top_k)
    E, D, F = 6, 16, 24
    gate_up_EDG, down_EFD = torch.randn(E, D, 2 * F, generator=g), torch.randn(E, F, D, generator=g)
    x_1D = torch.randn(1, D, generator=g)
    scores_1A = torch.rand(1, top_k, generator=g)
    experts_1A = torch.randperm(E, generator=g)[:top_k][None]  # unsorted, as topk returns them
    with torch.no_grad():
        fast = moe_dispatch.grouped(x_1D, experts_1A, scores_1A, gate_up_EDG, down_EFD)
    general = moe_dispatch.grouped(x_1D.requires_grad_(), experts_1A, scores_1A, gate_up_EDG, down_EFD)
    assert general.requires_grad  # the general path ran
    assert torch.equal(fast, general.detach())
    # and it is the dense reference's function
    reference = moe_dispatch.dense(x_1D.detach(), experts_1A, scores_1A, gate_up_EDG, down_EFD)
    assert torch.allclose(fast, reference, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("tokens", [1, 3, 40])  # top-2 of 8 experts: 2 and 6 slots gather, 80 slots run grouped
def test_gather_agrees_with_dense_on_both_sides_of_its_bank_rule(tokens):
    from sonar.model.moe_dispatch import dense, gather, gathers_more_than_the_bank, grouped

    E, D, F, A = 8, 16, 24, 2
    g = torch.Generator().manual_seed(tokens)
    x_TD = torch.randn(tokens, D, generator=g)
    experts_TA = torch.stack([torch.randperm(E, generator=g)[:A] for _ in range(tokens)])
    scores_TA = torch.rand(tokens, A, generator=g)
    gate_up_EDG, down_EFD = torch.randn(E, D, 2 * F, generator=g), torch.randn(E, F, D, generator=g)
    args = (x_TD, experts_TA, scores_TA, gate_up_EDG, down_EFD)
    got = gather(*args)
    assert (got - dense(*args)).abs().max().item() <= 1e-4
    # A prompt (more slots than experts) must not copy an expert's weights once per slot: it runs grouped.
    assert gathers_more_than_the_bank(tokens * A, E) == (tokens > 4)
    if tokens > 4:
        assert torch.equal(got, grouped(*args))
