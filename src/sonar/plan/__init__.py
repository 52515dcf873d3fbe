"""Deployment planner for Llama 4 configs: weights by format, KV cache with chunked layers, the context that fits."""

from sonar.plan.fit import Plan, plan_deployment
from sonar.plan.formats import FORMATS, get_format
from sonar.plan.gpus import GPUS, GpuType, parse_gpu
from sonar.plan.source import ModelSpec, load_model_spec

__all__ = [
    "FORMATS", "GPUS", "GpuType", "ModelSpec", "Plan", "get_format", "load_model_spec", "parse_gpu", "plan_deployment",
]
