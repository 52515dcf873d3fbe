import pytest

from sonar.bench.space import ARCHITECTURE_SPACE, geometric_checkpoints, sample_architectures


def test_sampling_is_distinct_deterministic_spread_and_prefix_stable():
    sixteen = sample_architectures(16, seed=5)
    assert len(set(sixteen)) == 16
    assert sample_architectures(16, seed=5) == sixteen
    assert sample_architectures(8, seed=5) == sixteen[:8]  # a build can grow without resampling
    for name, values in ARCHITECTURE_SPACE.items():
        if name != "num_experts_per_tok":  # top-k is clamped to the expert count
            assert {getattr(c, name) for c in sixteen} == set(values), name
    for config in sixteen:
        assert config.num_experts_per_tok <= config.num_local_experts
        assert config.hidden_size == config.num_attention_heads * config.head_dim


def test_geometric_checkpoints_end_at_max_steps():
    assert geometric_checkpoints(512) == (8, 16, 32, 64, 128, 256, 512)
    assert geometric_checkpoints(300) == (8, 16, 32, 64, 128, 256, 300)
    with pytest.raises(ValueError, match="max_steps=4"):
        geometric_checkpoints(4)


def test_the_committed_wide_experts_space_holds_enough_distinct_candidates():
    from pathlib import Path

    from sonar.bench.space import load_table_space

    space = load_table_space(Path(__file__).parents[2] / "benchmarks" / "spaces" / "wide-experts.yaml")
    models = space.sample(24, seed=2)
    assert len(set(models)) == 24 and max(m.num_local_experts for m in models) == 16
    assert all(m.hidden_size == m.num_attention_heads * m.head_dim for m in models)
    assert space.sample(24, seed=2) == models  # a resumed build sees the same candidates
