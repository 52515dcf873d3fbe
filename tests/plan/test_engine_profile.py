"""Engine profiles: loading, version selection, and refusals."""

import dataclasses

import pytest

from sonar.errors import UserError
from sonar.plan.engine_profile import engine_file, get_profile


def test_the_default_version_is_the_files_and_a_patch_release_selects_its_minor():
    assert get_profile("vllm").version == engine_file("vllm").default_version
    assert get_profile("vllm", "v0.8.3").version == "0.8"
    assert get_profile("vllm", "0.10.1").caps_chunked_kv is True


def test_sglang_fraction_follows_the_gpu_count():
    profile = get_profile("sglang")
    assert profile.memory_utilization(8) == 0.81
    assert profile.memory_utilization(3) == 0.87
    assert profile.memory_utilization(1) == 0.88


@pytest.mark.parametrize(("engine", "version", "match"), [
    ("nope", None, "--engine 'nope'"),
    ("vllm", "0.7", "--engine-version '0.7'"),
    ("exact", "1", "no versions"),
])
def test_unknown_engines_and_versions_are_user_errors(engine, version, match):
    with pytest.raises(UserError, match=match):
        get_profile(engine, version)


@pytest.mark.parametrize(("field", "value"), [
    ("memory_utilization_by_gpus", {1: 1.5}), ("memory_utilization_by_gpus", {2: 0.9}),
    ("block_size", 0), ("unmodelled_overhead_gb", float("nan")), ("max_num_batched_tokens", 0),
])
def test_a_malformed_profile_is_refused(field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(get_profile("vllm"), **{field: value})
