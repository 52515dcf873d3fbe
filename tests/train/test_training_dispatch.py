import torch

from sonar.model.moe_dispatch import MOE_DISPATCHES
from sonar.train import TrainConfig

NAME = "grouped"


def test_training_uses_the_grouped_dispatch():
    assert TrainConfig().moe_dispatch == NAME


def test_training_dispatch_matches_dense_in_value_and_gradients():
    g = torch.Generator().manual_seed(0)
    T, D, F, E, A = 40, 8, 6, 4, 2
    x = torch.randn(T, D, generator=g, requires_grad=True)
    logits = torch.randn(T, E, generator=g)
    logits[1:, -1] = -1e9  # one expert serves a single token: the uneven groups routing produces
    experts = torch.topk(logits, A, dim=-1).indices
    scores = torch.rand(T, A, generator=g)
    gate_up = torch.randn(E, D, 2 * F, generator=g, requires_grad=True)
    down = torch.randn(E, F, D, generator=g, requires_grad=True)
    results = []
    for name in ("dense", NAME):
        out = MOE_DISPATCHES[name](x, experts, scores, gate_up, down)
        grads = torch.autograd.grad(out.square().sum(), (x, gate_up, down))
        results.append((out, *grads))
    for ref, got in zip(*results, strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
