import pytest

from sonar.errors import UserError
from sonar.plan.gpus import GIB, GPUS, parse_gpu


def test_named_gpus():
    assert set(GPUS) == {"h100-80gb", "h200-141gb", "a100-40gb", "a100-80gb"}
    assert parse_gpu("H100-80GB") is GPUS["h100-80gb"]
    assert GPUS["a100-40gb"].memory_bytes < GPUS["h100-80gb"].memory_bytes < GPUS["h200-141gb"].memory_bytes


@pytest.mark.parametrize("text,expected", [("96GB", 96 * 10**9), ("96gib", 96 * GIB), ("85899345920", 80 * GIB),
                                           ("1.5GB", 1_500_000_000)])
def test_custom_capacities(text, expected):
    assert parse_gpu(text).memory_bytes == expected


@pytest.mark.parametrize("text", ["h100", "rtx-9090", "0GB", "-5GB", ""])
def test_unknown_gpu_names_the_value_and_choices(text):
    with pytest.raises(UserError, match="h100-80gb") as err:
        parse_gpu(text)
    assert repr(text) in str(err.value)
