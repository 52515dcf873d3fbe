"""fp32 comparisons in this folder run without TF32."""

import pytest
import torch


@pytest.fixture(autouse=True)
def exact_fp32():
    """TF32 off: fp32 results are compared with the CPU's at fp32 rounding, not TF32's 10-bit mantissa."""
    if not torch.cuda.is_available():
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
