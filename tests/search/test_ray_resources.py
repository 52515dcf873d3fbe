"""What each job asks Ray for (no Ray needed): targets pin tune jobs, cuda asks for GPUs."""

from pathlib import Path

import pytest
from search_support import make_spec

from sonar.errors import UserError
from sonar.search.executors.ray_resources import (
    RayResources,
    job_resources,
    local_cluster_resources,
    training_device,
)
from sonar.search.records import Job
from sonar.search.spec import Target, load_spec, parse_spec

SERVER = Target(name="server", device="cuda")
LAPTOP = Target(name="laptop", device="cpu", resources={"laptop_cpu": 2, "CPU": 4})
BIG = Target(name="big", device="cuda", resources={"GPU": 8, "node_h200": 1})
TARGETS = {t.name: t for t in (SERVER, LAPTOP, BIG)}
GPU_EXAMPLE = Path(__file__).parents[2] / "examples" / "search-gpu.yaml"


def tune(target: str) -> Job:
    return Job(candidate="c001", kind="tune", rung=0, until=3, target=target)


def test_a_cuda_target_asks_for_its_custom_resource_and_one_gpu_by_default():
    assert job_resources(tune("server"), TARGETS, "cpu") == RayResources(
        num_cpus=1, num_gpus=1, custom={"sonar_target_server": 1})


def test_a_target_s_own_resources_replace_the_default_and_cpu_gpu_become_counts():
    assert job_resources(tune("laptop"), TARGETS, "cpu") == RayResources(num_cpus=4, num_gpus=0,
                                                                         custom={"laptop_cpu": 2})
    assert job_resources(tune("big"), TARGETS, "cpu").options() == {
        "num_cpus": 1, "num_gpus": 8, "resources": {"node_h200": 1}}


def test_training_asks_for_a_gpu_only_when_it_trains_on_cuda():
    train = Job(candidate="c001", kind="train", rung=0, until=10)
    assert job_resources(train, TARGETS, "cpu") == RayResources(num_cpus=1, num_gpus=0)
    assert job_resources(train, TARGETS, "cuda").num_gpus == 1
    assert job_resources(train, TARGETS, "cuda:1").num_gpus == 1


def test_the_training_device_is_the_spec_s_else_a_gpu_when_a_cuda_target_meets_a_gpu_cluster():
    cuda_target = [{"name": "server", "device": "cuda"}]
    assert training_device(parse_spec(make_spec(targets=cuda_target)), cluster_has_gpu=True) == "cuda"
    assert training_device(parse_spec(make_spec(targets=cuda_target)), cluster_has_gpu=False) == "cpu"
    assert training_device(parse_spec(make_spec()), cluster_has_gpu=True) == "cpu"
    explicit = make_spec(targets=cuda_target, training={"device": "cpu"})
    assert training_device(parse_spec(explicit), cluster_has_gpu=True) == "cpu"


def test_a_numbered_gpu_other_than_the_first_is_refused_under_ray():
    assert training_device(parse_spec(make_spec(training={"device": "cuda:0"})), cluster_has_gpu=True) == "cuda:0"
    with pytest.raises(UserError, match=r"training.device='cuda:1': under Ray a job sees only the GPU"):
        training_device(parse_spec(make_spec(training={"device": "cuda:1"})), cluster_has_gpu=True)


def test_a_local_cluster_offers_every_target_s_custom_resources_but_never_cpu_or_gpu():
    assert local_cluster_resources([SERVER, LAPTOP, BIG]) == {"sonar_target_server": 1, "laptop_cpu": 2,
                                                              "node_h200": 1}


def test_on_a_gpu_cluster_the_gpu_example_trains_and_tunes_on_gpus():
    spec = load_spec(GPU_EXAMPLE)
    targets = {t.name: t for t in spec.targets}
    device = training_device(spec, cluster_has_gpu=False)  # the spec says cuda: no default applies
    train = Job(candidate="c001", kind="train", rung=0, until=10)
    assert job_resources(train, targets, device) == RayResources(num_gpus=1)
    assert job_resources(tune("gpu"), targets, device) == RayResources(num_gpus=1, custom={"sonar_target_gpu": 1})
