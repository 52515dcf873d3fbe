"""Relative logits error each weight format promises on the debug model, shared by the CPU knob tests
and the CUDA ones (the same promise on every target).

K = 64..192 on the debug model, so int4 groups are small and coarse.
"""

FORMAT_TOLERANCE = {"fp32": 1e-5, "fp32_io": 1e-5, "bf16": 0.02, "int8": 0.04, "int8_dq": 0.04, "fp8": 0.1,
                    "int4": 0.35, "fp8_mm": 0.1}
CUDA_ONLY_FORMATS = ("fp8_mm",)  # refused on CPU targets (space.py); checked by the CUDA suite
