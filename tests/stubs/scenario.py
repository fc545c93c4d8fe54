"""One planning conversation for scripted models: serve Llama 3.1 8B to 5 users on AWS.

The plan the scripted model writes is built from the real catalog (the cheapest AWS instance
with room for the model), so a test can ask for it correct or wrong on purpose.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from tests.stubs.script import PlannerScript

HOURS_PER_MONTH = 730
MODEL_ID = "meta-llama/Llama-3.1-8B-Instruct"
REQUEST = "Serve Llama 3.1 8B to 5 users on AWS"

REQUIREMENTS: dict[str, Any] = {
    "spec": {
        "task_type": "inference",
        "domain": "llm",
        "gpu_needed": True,
        "model_needs": {"named_models": ["Llama-3.1-8B-Instruct"]},
        "scale": {"concurrent_users": 5},
        "providers": ["aws"],
    },
    "decision": "plan",
    "questions": [],
}

WORKLOAD = {"task": "inference", "concurrency": 5, "context_length": 4096}
STEPS: list[list[tuple[str, dict[str, Any]]]] = [
    [("vram_sizing", {"model_id": MODEL_ID, **WORKLOAD}), ("local_cluster", {})],
    [
        (
            "compute_search",
            {
                "gpu_needed": True,
                "model_id": MODEL_ID,
                "providers": ["aws"],
                "top_k": 3,
                **WORKLOAD,
            },
        ),
        (
            "hf_model_search",
            {"query": "Llama 3.1 8B instruct chat", "pipeline_tag": "text-generation", "top_k": 3},
        ),
        ("k8s_chart_search", {"query": "vllm", "top_k": 1}),
    ],
]


async def cheapest_fit(conn: AsyncConnection[Any]) -> dict[str, Any]:
    """Return the cheapest AWS instance with a 40 GB+ GPU (room for the 8B model at 5 users)."""
    cursor = await conn.execute(
        "select provider, instance_type, region, gpu_model, gpu_count, gpu_memory_gb_total, "
        "price_hourly_usd from cloud.instances where provider = 'aws' "
        "and gpu_memory_gb_per_gpu >= 40 and price_hourly_usd is not null "
        "order by price_hourly_usd, instance_type, region limit 1"
    )
    row = await cursor.fetchone()
    assert row is not None, "the catalog has no AWS instance with a 40 GB GPU"
    return dict(row)


def gpu(row: dict[str, Any], *, monthly: float | None = None) -> dict[str, Any]:
    """Recommend ``row`` as the model would: monthly price as given, or hourly × 730."""
    hourly = row["price_hourly_usd"]
    return {
        "provider": row["provider"],
        "instance_type": row["instance_type"],
        "region": row["region"],
        "gpu_model": row["gpu_model"],
        "gpu_count": row["gpu_count"],
        "vram_total_gb": row["gpu_memory_gb_total"],
        "price_hourly_usd": hourly,
        "price_monthly_usd": round(hourly * HOURS_PER_MONTH, 2) if monthly is None else monthly,
        "why": "cheapest instance the compute search found that fits the model",
    }


def plan_args(
    gpus: list[dict[str, Any]], charts: tuple[str, ...] = ("gpu-operator", "vllm-stack")
) -> dict[str, Any]:
    """Return the DeploymentPlan the scripted model writes."""
    return {
        "understanding": "Serve Llama 3.1 8B Instruct to 5 concurrent users on AWS.",
        "gpu_recommendations": gpus,
        "model_recommendations": [
            {"model_id": MODEL_ID, "score": 0.9, "why": "the model you asked for"}
        ],
        "serving_engine": "vLLM",
        "serving_engine_why": "continuous batching for concurrent chat users",
        "kubernetes_stack": [{"chart": name, "purpose": f"{name} for serving"} for name in charts],
        "deployment_steps": ["Create the cluster", "helm install the charts", "apply workload"],
        "tradeoffs": ["one GPU keeps cost low; no redundancy"],
    }


def planner(plan: dict[str, Any], **options: Any) -> PlannerScript:
    """Return the scripted model for the scenario, writing ``plan`` at the end."""
    return PlannerScript(requirements=REQUIREMENTS, steps=STEPS, plan=plan, **options)
