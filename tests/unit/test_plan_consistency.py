"""Plan consistency: generated plans agree with their files, steps and costs; bad ones are caught.

The property test builds plans from many generated specs and tool results (instances that
fit and instances that do not, CPU and GPU, Arm and x86, quantized and not) with the plan
builder the offline graph uses, and asserts that not one is inconsistent.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.artifacts.build import build_artifacts
from agents.artifacts.configure import InstanceFacts
from agents.consistency import check_plan
from agents.engine import choose_engine
from agents.plan_builder import build_plan, with_deployment
from agents.schemas import (
    DeploymentPlan,
    GpuRecommendation,
    ModelRecommendation,
    SizingSummary,
    WorkloadSpec,
)

GPUS = [
    ("T4", 16.0),
    ("T4g", 16.0),
    ("V100", 16.0),
    ("A10G", 24.0),
    ("L4", 24.0),
    ("A100-80GB", 80.0),
    ("H100", 80.0),
    ("H200", 141.0),
    ("RTX4090", 24.0),
    ("GH200", 96.0),
]
INSTANCES = [
    ("aws", "g5.12xlarge"),
    ("aws", "g5g.xlarge"),
    ("aws", "c7g.2xlarge"),
    ("gcp", "a2-ultragpu-2g"),
    ("azure", "Standard_D4ps_v5"),
    ("lambda", "gpu_8x_h100"),
]
MODELS = [
    ("meta-llama/Llama-3.1-70B-Instruct", 70.6),
    ("Qwen/Qwen2.5-72B-Instruct", 72.7),
    ("meta-llama/Llama-3.1-8B-Instruct", 8.0),
    ("01-ai/Yi-1.5-34B-Chat", 34.4),
    ("openai/whisper-large-v3", 1.55),
    ("BAAI/bge-large-en-v1.5", 0.34),
]


@st.composite
def specs(draw: st.DrawFn) -> WorkloadSpec:
    task = draw(st.sampled_from(["inference", "fine_tuning", "training", "embedding", "batch"]))
    domain = draw(st.sampled_from(["llm", "nlp", "speech", "embeddings", "vision", "tabular"]))
    return WorkloadSpec(
        task_type=task,
        domain=domain,
        gpu_needed=draw(st.sampled_from([True, False, None])),
        precision=draw(st.sampled_from([None, "bf16", "fp8", "int8", "int4", "fp16"])),
        scale={"context_length": draw(st.sampled_from([None, 2048, 8192, 32768]))},
        budget_monthly_usd=draw(st.sampled_from([None, 500.0, 20000.0])),
    )


@st.composite
def rows(draw: st.DrawFn, cpu_only: bool) -> dict[str, Any]:
    provider, instance = draw(st.sampled_from(INSTANCES))
    gpu, per_gpu = draw(st.sampled_from(GPUS))
    count = 0.0 if cpu_only else draw(st.sampled_from([0.125, 1.0, 2.0, 4.0, 8.0]))
    hourly = draw(st.floats(min_value=0.05, max_value=90.0, allow_nan=False))
    return {
        "provider": provider,
        "instance_type": f"{instance}-{draw(st.integers(0, 999))}",
        "region": "us-east-1",
        "gpu_model": None if cpu_only else gpu,
        "gpu_count": count,
        "gpu_memory_gb_total": per_gpu * count,
        "price_hourly_usd": round(hourly, 4),
        # The search filters spot plans on instances that have a spot price.
        "spot_price_hourly_usd": round(hourly * 0.4, 4),
        "source": "test catalog",
        "tensor_parallel": None if cpu_only else draw(st.sampled_from([None, 0, 1, 2, 4, 8])),
        "vcpus": draw(st.sampled_from([None, 4.0, 48.0, 192.0])),
        "memory_gb": draw(st.sampled_from([None, 16.0, 186.0, 2048.0])),
    }


@st.composite
def tool_results(draw: st.DrawFn, spec: WorkloadSpec) -> dict[str, Any]:
    model_id, params = draw(st.sampled_from(MODELS))
    precision = spec.precision or "bf16"
    weights = params * {"bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.55}[precision]
    kv = draw(st.floats(min_value=0.0, max_value=80.0, allow_nan=False))
    total = weights + kv + 2.0
    tp = draw(st.sampled_from([1, 2, 4, 8]))
    sizing = {
        "model_id": model_id,
        "dtype": precision,
        "kv_cache_dtype": draw(st.sampled_from(["auto", "fp8"])),
        "weights_gb": weights,
        "kv_cache_gb": kv,
        "activations_gb": 1.0,
        "overhead_gb": 1.0,
        "gradients_gb": 0.0,
        "optimizer_gb": 0.0,
        "total_vram_gb": total,
        "tensor_parallel": tp,
        "per_gpu_gb": total / tp,
        "assumptions": [],
    }
    cpu_only = spec.gpu_needed is False
    found = draw(st.lists(rows(cpu_only), min_size=0, max_size=3))
    hits = [
        {
            "model_id": m,
            "license": "apache-2.0",
            "params_billion": p,
            "pipeline_tag": "text-generation",
            "score": 0.5,
            "why": "test",
        }
        for m, p in draw(st.lists(st.sampled_from(MODELS), min_size=0, max_size=3, unique=True))
    ]
    return {
        "sizing": sizing if draw(st.booleans()) else None,
        "compute": {"results": found, "rejected": {}},
        "hf": {"results": hits},
        "charts": [],
        "workload": {"context_length": spec.scale.context_length or 4096},
        "spot": draw(st.booleans()),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_specs_when_planned_then_no_plan_is_inconsistent(data: st.DataObject) -> None:
    spec = data.draw(specs())
    results = data.draw(tool_results(spec))

    plan = build_plan(spec, choose_engine(spec), results, {})

    assert check_plan(plan, spec) == []
    for artifact in plan.artifacts:
        assert "--tensor-parallel-size\n        - '0'" not in artifact.content
        if plan.deployment and plan.deployment.cpu_only:
            assert "nvidia.com/gpu" not in artifact.content
    if plan.gpu_recommendations and plan.deployment is None:
        assert any("withheld" in w for w in plan.warnings)


def _gpu(name: str, count: float, per_gpu: float, instance: str = "p", provider: str = "aws"):
    return GpuRecommendation(
        provider=provider,
        instance_type=instance,
        region="us-east-1",
        gpu_model=name,
        gpu_count=count,
        vram_total_gb=per_gpu * count,
        price_hourly_usd=1.0,
        price_monthly_usd=730.0,
        why="test",
    )


def _sizing(total: float, tp: int, precision: str = "bf16") -> SizingSummary:
    return SizingSummary(
        model_id="meta-llama/Llama-3.1-70B-Instruct",
        precision=precision,
        weights_gb=total * 0.8,
        kv_cache_gb=total * 0.1,
        overhead_gb=total * 0.1,
        total_vram_gb=total,
        tensor_parallel=tp,
        per_gpu_gb=total / tp,
        context_length=8192,
    )


def _plan(**fields: Any) -> DeploymentPlan:
    base: dict[str, Any] = {"understanding": "test", "serving_engine": "vLLM"}
    return DeploymentPlan(**{**base, **fields})


LLM = WorkloadSpec(task_type="inference", domain="llm", gpu_needed=True)


def test_vague_llm_unsized_34b_on_a_16gb_v100_then_repaired_with_a_warning() -> None:
    models = [
        ModelRecommendation(model_id="01-ai/Yi-1.5-34B-Chat", params_b=34.4, score=1, why="x"),
        ModelRecommendation(model_id="Qwen/Qwen2.5-1.5B-Instruct", params_b=1.5, score=1, why="y"),
    ]
    plan = _plan(gpu_recommendations=[_gpu("V100", 1, 16)], model_recommendations=models)

    plan = with_deployment(plan, LLM, None)

    assert plan.deployment is not None
    assert plan.deployment.model_id == "Qwen/Qwen2.5-1.5B-Instruct"
    assert any("Yi-1.5-34B-Chat" in w and "V100" in w for w in plan.warnings)
    assert check_plan(plan, LLM) == []


def test_unsized_34b_served_on_a_v100_then_the_check_says_it_does_not_fit() -> None:
    models = [ModelRecommendation(model_id="01-ai/Yi-1.5-34B-Chat", params_b=34.4, score=1, why="")]
    plan = _plan(gpu_recommendations=[_gpu("V100", 1, 16)], model_recommendations=models)
    good = with_deployment(
        _plan(gpu_recommendations=[_gpu("H200", 1, 141)], model_recommendations=models), LLM, None
    )
    plan.deployment = good.deployment.model_copy(
        update={"gpu_model": "V100", "instance_type": "p", "gpu_memory_gb": 16}
    )
    plan.artifacts = build_artifacts(plan.deployment)

    problems = check_plan(plan, LLM)

    assert any("not sized" in p and "34.4B" in p for p in problems), problems


def test_infeasible_plan_then_files_withheld_and_never_tensor_parallel_0() -> None:
    plan = _plan(sizing=_sizing(600.0, 8), gpu_recommendations=[_gpu("L4", 4, 24)])

    plan = with_deployment(plan, LLM, None)

    assert plan.deployment is None and plan.artifacts == []
    assert any("withheld" in w for w in plan.warnings)
    assert check_plan(plan, LLM) == []


def test_files_with_tensor_parallel_0_and_no_shm_then_flagged() -> None:
    plan = with_deployment(
        _plan(sizing=_sizing(120.0, 2, "fp8"), gpu_recommendations=[_gpu("H100", 2, 80)]),
        LLM,
        None,
    )
    docs = list(yaml.safe_load_all(plan.artifacts[0].content))
    pod = docs[0]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    args[args.index("--tensor-parallel-size") + 1] = "0"
    args.remove("--quantization")
    args.remove("fp8")
    del pod["volumes"]
    del pod["containers"][0]["volumeMounts"]
    plan.artifacts[0].content = yaml.safe_dump_all(docs)

    problems = check_plan(plan, LLM)

    assert any("tensor parallel 0" in p for p in problems)
    assert any("--quantization" in p for p in problems)
    assert any("/dev/shm" in p for p in problems)


def test_cpu_plan_whose_files_request_a_gpu_then_flagged() -> None:
    spec = WorkloadSpec(task_type="inference", domain="llm", gpu_needed=False)
    model = ModelRecommendation(model_id="meta-llama/Llama-3.1-8B-Instruct", score=1, why="")
    plan = with_deployment(
        _plan(
            serving_engine="Ollama",
            gpu_recommendations=[_gpu("none", 0, 0, "e2-standard-4")],
            model_recommendations=[model],
        ),
        spec,
        InstanceFacts(4, 16),
    )
    docs = list(yaml.safe_load_all(plan.artifacts[0].content))
    docs[0]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
        "nvidia.com/gpu"
    ] = 1
    plan.artifacts[0].content = yaml.safe_dump_all(docs)
    plan.deployment_steps.append("Check the GPUs are schedulable.")

    problems = check_plan(plan, spec)

    assert any("CPU-only plan requests nvidia.com/gpu" in p for p in problems), problems
    assert any("step talks about GPUs" in p for p in problems)


def test_replicas_above_one_then_a_pod_disruption_budget() -> None:
    plan = with_deployment(
        _plan(sizing=_sizing(60.0, 1), gpu_recommendations=[_gpu("H100", 1, 80)]), LLM, None
    )
    target = plan.deployment.model_copy(update={"replicas": 3})

    kinds = [d["kind"] for d in yaml.safe_load_all(build_artifacts(target)[0].content)]

    assert kinds == ["Deployment", "Service", "PodDisruptionBudget"]
