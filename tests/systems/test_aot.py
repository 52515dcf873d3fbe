"""compile='aot' (systems/aot.py): the ahead-of-time decode step decodes what eager decodes, writes the
caller's cache in place, builds one package per cache shape and nothing beside the user's files, and is
refused where a compiled graph cannot hold."""

import os

import pytest
import torch

from sonar.model import build_model, generate, preset
from sonar.systems.apply import prepare
from sonar.systems.config import SystemConfig, SystemConfigError
from sonar.systems.space import SearchSpace, check


def test_aot_is_refused_where_no_compiled_graph_holds():
    model = preset("debug")
    with pytest.raises(SystemConfigError, match="compile='aot' with moe_dispatch='grouped'"):
        check(SystemConfig(compile="aot", moe_dispatch="grouped"), model)
    with pytest.raises(SystemConfigError, match="opaque to torch.compile"):
        check(SystemConfig(compile="aot", moe_dispatch="gather", weights_dense="int8_fbgemm"), model)
    check(SystemConfig(compile="aot", moe_dispatch="packed_gather", weights_routed="int8"), model)  # valid


def test_the_tuner_spaces_include_aot():
    from sonar.systems.bench import BENCH_SPACE

    assert "aot" in BENCH_SPACE.compiles
    configs = SearchSpace(compiles=("eager", "aot")).configs(preset("debug"), workload_kind="decode")
    assert any(c.compile == "aot" for c in configs)
    assert not any(c.compile == "aot" and c.moe_dispatch == "grouped" for c in configs)


@pytest.mark.slow
@torch.inference_mode()
def test_aot_decode_equals_eager_and_writes_the_cache_in_place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    model = build_model(preset("debug"), seed=0).eval()
    # batch 2, 20 + 40 positions: past the chunked layers' 32-slot ring, with a global NoPE layer too
    prompt_BT = torch.randint(0, 512, (2, 20), generator=torch.Generator().manual_seed(0))
    config = dict(moe_dispatch="packed_gather", weights_routed="int8", weights_attention="int8")
    aot, eager = (prepare(model, SystemConfig(compile=mode, **config)) for mode in ("aot", "eager"))
    seen = {}

    def stepper(prepared, name):
        def step(_model, token_B1, position_1, cache):
            seen[name] = cache
            return prepared.decode(token_B1, position_1, cache)
        return step

    tokens_aot = generate(aot.model, prompt_BT, max_new_tokens=40, step=stepper(aot, "aot"))
    tokens_eager = generate(eager.model, prompt_BT, max_new_tokens=40, step=stepper(eager, "eager"))
    assert torch.equal(tokens_aot, tokens_eager)
    for mine, theirs in zip(seen["aot"].layers, seen["eager"].layers, strict=True):
        assert torch.equal(mine.pos_S, theirs.pos_S)  # the package wrote the generate() loop's own cache
        # int8 weights multiply bf16 activations, rounded differently once Inductor fuses them: close, not equal
        # (a cache the package left unwritten would differ by whole values at every decoded slot)
        torch.testing.assert_close(mine.k_BKSD, theirs.k_BKSD, rtol=0.05, atol=0.05)
        torch.testing.assert_close(mine.v_BKSD, theirs.v_BKSD, rtol=0.05, atol=0.05)
    assert len(aot.decode.runners) == 1  # one package served every step
    generate(aot.model, prompt_BT[:1], max_new_tokens=2, step=stepper(aot, "aot"))  # a batch-1 cache: its own
    assert len(aot.decode.runners) == 2
    assert os.listdir(tmp_path) == []  # the packages live in memory, not beside the user's files
