"""Ray: jobs as remote tasks. Each target maps to a Ray custom resource (`sonar_target_<name>`,
or the target's own `resources:` in the spec), so tuning jobs land on machines that have the
target hardware while training runs wherever a CPU (or GPU) is free."""

from __future__ import annotations

import concurrent.futures as cf

from sonar.errors import UserError
from sonar.search.executors.base import WallClockExecutor
from sonar.search.runner import JobPayload, execute


def target_resources(target) -> dict[str, float]:
    return dict(target.resources) or {f"sonar_target_{target.name}": 1.0}


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
                resources = {}
                for target in spec.targets:
                    resources.update(target_resources(target))
                ray.init(num_cpus=workers, resources=resources, include_dashboard=False, log_to_driver=False)
                self._owns_cluster = True
        self._task = ray.remote(execute)

    def submit(self, payload: JobPayload) -> cf.Future:
        options: dict = {"num_cpus": 1, "max_retries": 0}
        if payload.job.kind == "tune" and payload.job.target in self.targets:
            options["resources"] = target_resources(self.targets[payload.job.target])
        return self._task.options(**options).remote(payload).future()

    def shutdown(self) -> None:
        if self._owns_cluster:
            self.ray.shutdown()
