"""Relative logits error each weight format promises on the debug model, shared by the CPU knob tests
and the CUDA ones (the same promise on every target).

K = 64..192 on the debug model, so int4 groups are small and coarse.
"""

FORMAT_TOLERANCE = {"fp32": 1e-5, "fp32_io": 1e-5, "bf16": 0.02, "int8": 0.04, "int8_dq": 0.04, "fp8": 0.1,
                    "int4": 0.35, "fp8_mm": 0.1,
                    # dynamic int8 also quantizes activations, per tensor, to 7 bits (measured 0.04 on debug)
                    "int8_fbgemm": 0.08, "fp32_mkldnn": 1e-5}
CUDA_ONLY_FORMATS = ("fp8_mm",)  # refused on CPU targets (space.py); checked by the CUDA suite
CPU_ONLY_FORMATS = ("int8_fbgemm", "fp32_mkldnn")  # prepacked CPU linears; refused on CUDA targets
