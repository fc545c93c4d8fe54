"""The LLM path through the real graph with a scripted fake chat model (no HTTP).

The model is injected with agents.llm's chat-model override; everything else is real: the
embedded Postgres, the tools, the tool node, the validator.
"""

import uuid

import pytest
from langchain_core.messages import HumanMessage

from agents.architect import MAX_CALLS_PER_STEP
from agents.consistency import check_plan
from agents.llm import MalformedOutputError, chat_model_override
from agents.schemas import DeploymentPlan, WorkloadSpec
from graph.context import Context
from tests.stubs.fake_chat import ScriptedChatModel
from tests.stubs.graphs import graph_with
from tests.stubs.scenario import (
    HOURS_PER_MONTH,
    MODEL_ID,
    REQUEST,
    cheapest_fit,
    gpu,
    plan_args,
    planner,
)
from tests.stubs.script import PlannerScript

# A non-offline provider whose model the override supplies; nothing listens at this URL.
FAKE = {"llm_provider": "openai_compatible", "llm_base_url": "http://fake.invalid/v1"}


@pytest.fixture
async def instance(adb, ingested):
    return await cheapest_fit(adb)


async def _run(graph, text=REQUEST, context=None, thread=None):
    config = {"configurable": {"thread_id": thread or str(uuid.uuid4())}}
    return await graph.ainvoke(
        {"messages": [HumanMessage(text)]}, config, context=context or Context()
    )


async def test_scripted_model_then_plan_from_its_own_tool_calls(pg_url, embedder, instance):
    script = planner(plan_args([gpu(instance)]))
    model = ScriptedChatModel(script=script)

    with chat_model_override(lambda _selection: model):
        async with graph_with(pg_url, embedder, **FAKE) as graph:
            state = await _run(graph)

    plan = DeploymentPlan.model_validate(state["plan"])
    assert state["decision"] == "plan"
    assert state["spec"]["model_needs"]["named_models"] == [MODEL_ID]
    assert state["tool_results"]["trajectory"] == [
        "vram_sizing",
        "local_cluster",
        "compute_search",
        "hf_model_search",
        "k8s_chart_search",
    ]
    assert script.seen == {"RequirementsAnswer": 1, "architect": 3, "DeploymentPlan": 1}
    assert len(state["tool_results"]["charts"]) == 1  # the top hit of the model's chart search
    top = plan.gpu_recommendations[0]
    assert (top.provider, top.instance_type, top.region) == (
        instance["provider"],
        instance["instance_type"],
        instance["region"],
    )
    assert plan.sizing is not None and plan.sizing.model_id == MODEL_ID
    assert plan.sizing.total_vram_gb == pytest.approx(state["tool_results"]["sizing_total_vram_gb"])
    assert [c.chart for c in plan.kubernetes_stack] == ["gpu-operator", "vllm-stack"]
    assert plan.warnings == []
    assert state["messages"][-1].content.startswith("## Deployment plan")


async def test_model_sees_tool_results_then_asks_with_every_tool(pg_url, embedder, instance):
    script = planner(plan_args([gpu(instance)]))
    model = ScriptedChatModel(script=script)

    with chat_model_override(lambda _selection: model):
        async with graph_with(pg_url, embedder, **FAKE) as graph:
            await _run(graph)

    architect_requests = [r for r in model.requests if len(r["tools"]) > 1]
    offered = {t["function"]["name"] for t in architect_requests[0]["tools"]}
    assert offered == {
        "compute_search",
        "configuration_search",
        "k8s_chart_search",
        "hf_model_search",
        "vram_sizing",
        "local_cluster",
    }
    last = architect_requests[-1]["messages"]
    tool_turns = [m for m in last if m["role"] == "tool"]
    assert len(tool_turns) == 5
    assert any("Sizing meta-llama/Llama-3.1-8B-Instruct" in m["content"] for m in tool_turns)


async def test_model_plan_with_wrong_numbers_and_names_then_validator_repairs(
    pg_url, embedder, instance
):
    wrong_monthly = round(instance["price_hourly_usd"] * HOURS_PER_MONTH, 2) + 500
    invented = {**gpu(instance), "instance_type": "p9.imaginary", "price_hourly_usd": 0.01}
    invented["price_monthly_usd"] = 7.3
    plan = plan_args(
        [gpu(instance, monthly=wrong_monthly), invented],
        charts=("gpu-operator", "hyperserve-imaginary"),
    )
    model = ScriptedChatModel(script=planner(plan))

    with chat_model_override(lambda _selection: model):
        async with graph_with(pg_url, embedder, **FAKE) as graph:
            state = await _run(graph)

    checked = DeploymentPlan.model_validate(state["plan"])
    expected_monthly = round(instance["price_hourly_usd"] * HOURS_PER_MONTH, 2)
    assert [g.instance_type for g in checked.gpu_recommendations] == [instance["instance_type"]]
    assert checked.gpu_recommendations[0].price_monthly_usd == pytest.approx(expected_monthly)
    assert [c.chart for c in checked.kubernetes_stack] == ["gpu-operator"]
    assert checked.cost_estimate is not None
    assert checked.cost_estimate.compute_monthly_usd == pytest.approx(expected_monthly)
    warnings = "\n".join(checked.warnings)
    assert "monthly price to hourly × 730" in warnings
    assert "p9.imaginary" in warnings and "not in the instance catalog" in warnings
    assert "hyperserve-imaginary: not in the chart catalog" in warnings


async def test_model_wrong_sizing_then_tool_sizing_kept_with_a_warning(pg_url, embedder, instance):
    plan = plan_args([gpu(instance)])
    plan["sizing"] = {
        "precision": "bf16",
        "weights_gb": 1.0,
        "kv_cache_gb": 0.1,
        "overhead_gb": 0.1,
        "total_vram_gb": 1.2,
        "tensor_parallel": 1,
        "per_gpu_gb": 1.2,
    }
    model = ScriptedChatModel(script=planner(plan))

    with chat_model_override(lambda _selection: model):
        async with graph_with(pg_url, embedder, **FAKE) as graph:
            state = await _run(graph)

    checked = DeploymentPlan.model_validate(state["plan"])
    assert checked.sizing.total_vram_gb == pytest.approx(
        state["tool_results"]["sizing_total_vram_gb"]
    )
    assert any("corrected the sizing from 1.2 GB" in w for w in checked.warnings)


async def test_model_decides_to_clarify_then_its_questions_are_asked(pg_url, embedder):
    answer = {
        "spec": {"confidence": "low", "missing_fields": ["task_type", "domain"]},
        "decision": "clarify",
        "questions": ["What will the model do?", "Which model family?"],
    }
    model = ScriptedChatModel(script=PlannerScript(requirements=answer))

    with chat_model_override(lambda _selection: model):
        async with graph_with(pg_url, embedder, **FAKE) as graph:
            state = await _run(graph, "I want to deploy AI")

    assert state["decision"] == "clarify"
    assert state["questions"] == ["What will the model do?", "Which model family?"]
    assert "1. What will the model do?" in state["messages"][-1].content
    assert state["clarification_rounds"] == 1


async def test_model_that_never_stops_calling_tools_then_bounded_by_context(pg_url, embedder):
    forever = PlannerScript(
        requirements=planner({}).requirements,
        steps=[[("local_cluster", {})]] * 50,
        plan=plan_args([]),
    )
    model = ScriptedChatModel(script=forever)

    with chat_model_override(lambda _selection: model):
        async with graph_with(pg_url, embedder, **FAKE) as graph:
            state = await _run(graph, context=Context(max_tool_steps=3))

    assert state["tool_results"]["trajectory"] == ["local_cluster"] * 3
    assert forever.seen["architect"] == 3
    assert state["decision"] == "plan" and state["plan"] is not None


async def test_model_asks_for_too_many_calls_then_step_capped(pg_url, embedder, instance):
    burst = [("k8s_chart_search", {"query": f"chart {i}", "top_k": 1}) for i in range(20)]
    script = PlannerScript(
        requirements=planner({}).requirements, steps=[burst], plan=plan_args([gpu(instance)])
    )
    model = ScriptedChatModel(script=script)

    with chat_model_override(lambda _selection: model):
        async with graph_with(pg_url, embedder, **FAKE) as graph:
            state = await _run(graph)

    assert state["tool_results"]["trajectory"] == ["k8s_chart_search"] * MAX_CALLS_PER_STEP


async def test_malformed_plan_three_times_without_fallback_then_clear_error(
    pg_url, embedder, instance
):
    model = ScriptedChatModel(script=planner(plan_args([gpu(instance)]), malformed_plan=3))

    with chat_model_override(lambda _selection: model):
        async with graph_with(pg_url, embedder, **FAKE) as graph:
            with pytest.raises(MalformedOutputError, match="malformed DeploymentPlan 3 times"):
                await _run(graph)


async def test_second_turn_then_model_reads_the_whole_conversation(pg_url, embedder, instance):
    model = ScriptedChatModel(script=planner(plan_args([gpu(instance)])))
    thread = str(uuid.uuid4())

    with chat_model_override(lambda _selection: model):
        async with graph_with(pg_url, embedder, **FAKE) as graph:
            await _run(graph, thread=thread)
            state = await _run(graph, "make that 10 users", thread=thread)

    readings = [
        r for r in model.requests if r["tools"][0]["function"]["name"] == "RequirementsAnswer"
    ]
    roles = [m["role"] for m in readings[-1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    # Each turn's architect starts from a clean scratchpad: system prompt and task only.
    fresh = [r for r in model.requests if len(r["tools"]) > 1 and len(r["messages"]) == 2]
    assert len(fresh) == 2


async def test_model_writes_its_own_files_then_replaced_from_the_configuration_with_a_warning(
    pg_url, embedder, instance
):
    bad_manifest = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: llm}\nspec:\n  template:\n"
        "    spec:\n      containers:\n      - name: vllm\n        image: vllm/vllm-openai:latest\n"
        "        args: [--model, meta-llama/Llama-3.1-8B-Instruct, --tensor-parallel-size, '0']\n"
    )
    plan = {
        **plan_args([gpu(instance)]),
        "artifacts": [
            {"kind": "kubernetes_manifest", "filename": "workload.yaml", "content": bad_manifest}
        ],
    }
    model = ScriptedChatModel(script=planner(plan))

    with chat_model_override(lambda _selection: model):
        async with graph_with(pg_url, embedder, **FAKE) as graph:
            state = await _run(graph)

    checked = DeploymentPlan.model_validate(state["plan"])
    spec = WorkloadSpec.model_validate(state["spec"])
    files = {a.filename: a.content for a in checked.artifacts}
    assert any("did not match its configuration" in w for w in checked.warnings)
    workload = files["workload.yaml"]
    assert "'0'" not in workload and "vllm-openai:latest" not in workload
    assert {"workload.yaml", "compose.yaml", "skypilot.yaml"} <= set(files)
    assert checked.deployment is not None
    assert checked.deployment.instance_type == instance["instance_type"]
    assert check_plan(checked, spec) == []
