"""What a job asks Ray for: CPUs, GPUs and the custom resource that pins a tune job to its target.

A tune job asks for its target's resources: the spec's `resources:` when given, else
`sonar_target_<name>: 1`, so it lands only on a node that advertises that target. A cuda target also
asks for a GPU (`GPU` in its resources gives how many, else 1). A training job runs on any node,
asking for a GPU when candidates train on cuda. Plain data in, plain data out: no Ray needed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sonar.errors import UserError
from sonar.search.records import Job
from sonar.search.spec import Target


@dataclass(kw_only=True, frozen=True)
class RayResources:
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    custom: dict[str, float] = field(default_factory=dict)

    def options(self) -> dict:
        """The keywords of a Ray task's `.options(...)`."""
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "resources": dict(self.custom)}


def target_resources(target: Target) -> RayResources:
    """Ray names CPU and GPU only by num_cpus / num_gpus, so those keys of `resources:` go there."""
    custom = {name: float(amount) for name, amount in target.resources.items() if name not in ("CPU", "GPU")}
    if not target.resources:
        custom = {f"sonar_target_{target.name}": 1.0}
    default_gpus = 1.0 if target.device == "cuda" else 0.0
    return RayResources(num_cpus=float(target.resources.get("CPU", 1.0)),
                        num_gpus=float(target.resources.get("GPU", default_gpus)), custom=custom)


def training_resources(training_device: str) -> RayResources:
    return RayResources(num_gpus=1.0 if training_device.startswith("cuda") else 0.0)


def job_resources(job: Job, targets: dict[str, Target], training_device: str) -> RayResources:
    """A tune job on a known target asks for that target; every other job is a training job's."""
    if job.kind == "tune" and job.target in targets:
        return target_resources(targets[job.target])
    return training_resources(training_device)


def training_device(spec, *, cluster_has_gpu: bool) -> str:
    """The device candidates train on across the cluster: the spec's `training.device`, else the default
    it would get on a machine with the cluster's GPUs (a worker given a GPU by Ray sees one)."""
    from sonar.search.spec_training import default_training_device

    device = spec.training.get("device") or default_training_device(spec.targets, gpu_present=cluster_has_gpu)
    if device.startswith("cuda:") and device != "cuda:0":
        raise UserError(f"training.device={device!r}: under Ray a job sees only the GPU Ray gives it, as cuda:0; "
                        "use cuda")
    return device


def local_cluster_resources(targets) -> dict[str, float]:
    """The custom resources a local Ray instance offers so that every target's jobs can run on it."""
    resources: dict[str, float] = {}
    for target in targets:
        resources.update(target_resources(target).custom)
    return resources
