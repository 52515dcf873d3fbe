"""Ray: jobs as remote tasks. Each target maps to Ray resources (ray_resources.py): its custom
resource (`sonar_target_<name>`, or the target's own `resources:` in the spec) and a GPU for a cuda
target, so tuning jobs land on machines that have the target hardware while training runs wherever a
CPU (or, training on cuda, a GPU) is free."""

from __future__ import annotations

import concurrent.futures as cf

from sonar.errors import UserError
from sonar.search.executors.base import WallClockExecutor
from sonar.search.executors.ray_resources import job_resources, local_cluster_resources, training_device
from sonar.search.runner import JobPayload, execute


class RayExecutor(WallClockExecutor):
    def __init__(self, spec, *, address: str | None = None, workers: int = 1) -> None:
        try:
            import ray
        except ModuleNotFoundError:
            raise UserError("--executor ray needs ray: pip install 'sonar[ray]'") from None
        self.ray = ray
        self.targets = {t.name: t for t in spec.targets}
        self._owns_cluster = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:  # a local cluster that offers every target on this machine
                ray.init(num_cpus=workers, resources=local_cluster_resources(spec.targets),
                         include_dashboard=False, log_to_driver=False)
                self._owns_cluster = True
        try:
            self.training_device = training_device(spec, cluster_has_gpu=ray.cluster_resources().get("GPU", 0) > 0)
        except UserError:
            self.shutdown()
            raise
        self._task = ray.remote(execute)

    def submit(self, payload: JobPayload) -> cf.Future:
        resources = job_resources(payload.job, self.targets, self.training_device)
        return self._task.options(max_retries=0, **resources.options()).remote(payload).future()

    def shutdown(self) -> None:
        if self._owns_cluster:
            self.ray.shutdown()
