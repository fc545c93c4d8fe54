import pytest

from agents.artifacts.workloads import batch_schedule, launcher_for, workload_for
from agents.engine import choose_engine, stack_queries
from agents.schemas import ChartRecommendation, DeploymentPlan, WorkloadSpec
from agents.workload import configuration_load, sequences_in_flight


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


def test_batch_with_a_window_then_the_throughput_floor_is_the_day_in_that_window():
    day = {"documents_per_day": 200_000, "tokens_per_request": 256}
    spread = WorkloadSpec(task_type="batch", domain="llm", scale=day)
    by_morning = WorkloadSpec(
        task_type="batch", domain="llm", scale={**day, "batch_window_hours": 8}
    )

    floor = configuration_load(spread)["min_tokens_per_s"]
    tight = configuration_load(by_morning)["min_tokens_per_s"]

    # 200,000 × 256 output tokens: over 24 h, or over the 8 h it must finish in (3× the rate).
    assert floor == pytest.approx(200_000 * 256 / 86_400, abs=0.1)
    assert tight == pytest.approx(200_000 * 256 / (8 * 3600), abs=0.1)
    # 51.2M tokens at 20 tokens/s a sequence: 29.6 → 30 in flight over the day, 88.9 → 89 in 8 h.
    assert (sequences_in_flight(spread)[0], sequences_in_flight(by_morning)[0]) == (30, 89)
