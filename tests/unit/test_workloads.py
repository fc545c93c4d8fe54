import pytest

from agents.artifacts.workloads import launcher_for, workload_for
from agents.schemas import ChartRecommendation, DeploymentPlan, WorkloadSpec


def _plan(*charts: str) -> DeploymentPlan:
    stack = [ChartRecommendation(chart=c, purpose="test") for c in charts]
    return DeploymentPlan(understanding="u", kubernetes_stack=stack)


@pytest.mark.parametrize(
    ("charts", "launcher"),
    [
        (("gpu-operator", "kuberay-operator"), "RayJob"),
        (("training-operator", "kuberay-operator"), "PyTorchJob"),
        (("gpu-operator", "kube-prometheus-stack"), "Job"),
        ((), "Job"),
    ],
)
def test_training_then_the_job_kind_of_the_operator_the_stack_installs(charts, launcher):
    assert launcher_for(_plan(*charts)) == launcher


def test_speech_backlog_then_batch_and_live_speech_then_a_server():
    backlog = WorkloadSpec(task_type="batch", domain="speech")
    live = WorkloadSpec(task_type="inference", domain="speech")

    assert workload_for(backlog, "vLLM") == "batch"
    assert workload_for(live, "vLLM") == "serve"
    assert workload_for(backlog, "training stack") == "train"
