"""Every attention kernel equals the reference formulation on the shapes where the fast paths differ:
a fresh prefill shorter than, equal to and longer than a chunk, and a decode step against a cache."""

import pytest
import torch

from sonar.model.attention_kernels import ATTENTION_KERNELS, eager_masked


def _qkv(T: int, S: int, *, heads: int = 4, kv_heads: int = 2, dim: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(2, heads, T, dim, generator=g)
    k, v = (torch.randn(2, kv_heads, S, dim, generator=g) for _ in range(2))
    return q, k, v


@pytest.mark.parametrize("kernel", sorted(ATTENTION_KERNELS))
@pytest.mark.parametrize("T", [5, 8, 13])  # under, at and over the chunk of 8
@pytest.mark.parametrize("chunk", [8, None])
def test_fresh_prefill_matches_the_reference(kernel, T, chunk):
    q, k, v = _qkv(T, T)
    pos = torch.arange(T)
    args = dict(q_pos=pos, k_pos=pos, chunk=chunk, scale=0.3)
    want = eager_masked(q, k, v, fresh=False, **args)
    got = ATTENTION_KERNELS[kernel](q, k, v, fresh=True, **args)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kernel", sorted(ATTENTION_KERNELS))
def test_a_decode_step_sees_only_its_own_chunk(kernel):
    q, k, v = _qkv(1, 12)
    args = dict(q_pos=torch.tensor([10]), k_pos=torch.arange(12).where(torch.arange(12) <= 10, -1), chunk=8,
                scale=0.3)
    want = eager_masked(q, k, v, fresh=False, **args)
    torch.testing.assert_close(ATTENTION_KERNELS[kernel](q, k, v, fresh=False, **args), want, atol=1e-5, rtol=1e-5)
    # keys 8..10 only: the same output from those keys alone
    alone = eager_masked(q, k[:, :, 8:11], v[:, :, 8:11], q_pos=torch.tensor([10]), k_pos=torch.arange(8, 11),
                         chunk=None, scale=0.3, fresh=False)
    torch.testing.assert_close(want, alone, atol=1e-5, rtol=1e-5)
