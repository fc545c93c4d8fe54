import pytest

from agents.artifacts.workloads import batch_schedule, launcher_for, workload_for
from agents.engine import choose_engine, stack_queries
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


def test_documents_for_an_llm_then_a_batch_nightly_when_per_day_and_once_for_a_backlog():
    nightly = WorkloadSpec(task_type="batch", domain="llm", scale={"documents_per_day": 200_000})
    backlog = WorkloadSpec(task_type="batch", domain="llm", scale={"documents": 3_000_000})
    chat = WorkloadSpec(task_type="inference", domain="llm", scale={"concurrent_users": 30})

    assert workload_for(nightly, "vLLM") == workload_for(backlog, "vLLM") == "batch"
    assert workload_for(chat, "vLLM") == "serve"
    assert batch_schedule(nightly) == "0 1 * * *" and batch_schedule(backlog) is None


def test_llm_batch_then_no_router_chart_and_no_service_monitoring():
    batch = WorkloadSpec(task_type="batch", domain="llm", scale={"documents_per_day": 50_000})
    chat = WorkloadSpec(task_type="inference", domain="llm", scale={"concurrent_users": 30})

    batch_charts = [q for q, _ in stack_queries(batch, choose_engine(batch))]
    chat_charts = [q for q, _ in stack_queries(chat, choose_engine(chat))]

    assert choose_engine(batch).engine == "vLLM"
    assert batch_charts == ["gpu-operator"]
    assert {"vllm-stack", "kube-prometheus-stack"} <= set(chat_charts)
