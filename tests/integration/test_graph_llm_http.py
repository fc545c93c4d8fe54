"""The LLM path over real HTTP: ChatOpenAI against a local OpenAI-compatible stub server.

The stub speaks what vLLM and Ollama's /v1 speak (chat completions, tool calls, SSE
streaming), so these runs show the graph works with any such endpoint.
"""

import logging
import uuid

import pytest
from langchain_core.messages import HumanMessage

from agents.llm import MalformedOutputError, ProviderCallError, ProviderConfigError
from agents.schemas import DeploymentPlan
from graph.context import Context
from tests.stubs.graphs import graph_with
from tests.stubs.openai_stub import running_stub
from tests.stubs.scenario import REQUEST, cheapest_fit, gpu, plan_args, planner


@pytest.fixture(scope="module")
def stub():
    with running_stub() as server:
        yield server


@pytest.fixture
async def instance(adb, ingested):
    return await cheapest_fit(adb)


def _config(thread=None):
    return {"configurable": {"thread_id": thread or str(uuid.uuid4())}}


async def _run(graph, context=None, config=None):
    return await graph.ainvoke(
        {"messages": [HumanMessage(REQUEST)]}, config or _config(), context=context or Context()
    )


def _compatible(stub, **more):
    return {"llm_provider": "openai_compatible", "llm_base_url": stub.base_url, **more}


async def test_stub_streams_tool_calls_then_plan_over_http(pg_url, embedder, stub, instance):
    script = planner(plan_args([gpu(instance)]))
    stub.reset(script)
    seen_nodes, streamed = [], []

    async with graph_with(pg_url, embedder, **_compatible(stub)) as graph:
        config = _config()
        async for mode, chunk in graph.astream(
            {"messages": [HumanMessage(REQUEST)]},
            config,
            context=Context(),
            stream_mode=["updates", "messages"],
        ):
            if mode == "updates":
                seen_nodes.extend(chunk)
            else:
                streamed.append(chunk)
        state = (await graph.aget_state(config)).values

    requests = stub.chat_requests()
    assert requests and all(r.body.get("stream") is True for r in requests)
    assert script.seen == {"RequirementsAnswer": 1, "architect": 3, "DeploymentPlan": 1}
    assert {
        r.body["tool_choice"]["function"]["name"] for r in requests if r.body.get("tool_choice")
    }
    assert streamed, "no message chunks were streamed"
    assert seen_nodes.count("tools") == 2
    assert state["tool_results"]["trajectory"][:2] == ["vram_sizing", "local_cluster"]
    plan = DeploymentPlan.model_validate(state["plan"])
    assert plan.gpu_recommendations[0].instance_type == instance["instance_type"]
    assert plan.warnings == []


async def test_stub_without_streaming_then_same_plan(pg_url, embedder, stub, instance):
    stub.reset(planner(plan_args([gpu(instance)])))

    async with graph_with(pg_url, embedder, **_compatible(stub)) as graph:
        state = await _run(graph)

    requests = stub.chat_requests()
    assert requests and not any(r.body.get("stream") for r in requests)
    assert requests[0].body["model"] == "stub-model"
    assert DeploymentPlan.model_validate(state["plan"]).gpu_recommendations


async def test_byok_key_then_bearer_at_stub_and_in_no_table_log_or_metadata(
    pg_url, embedder, stub, instance, db, caplog
):
    sentinel = "sk-BYOK-SENTINEL-" + uuid.uuid4().hex
    stub.reset(planner(plan_args([gpu(instance)])))
    caplog.set_level(logging.DEBUG)
    config = _config()

    async with graph_with(pg_url, embedder, postgres=True, **_compatible(stub)) as graph:
        state = await _run(graph, Context(llm_api_key=sentinel), config)
        checkpoints = [c async for c in graph.checkpointer.alist(config)]

    requests = stub.chat_requests()
    assert len(requests) == 5
    assert {r.headers["authorization"] for r in requests} == {f"Bearer {sentinel}"}
    assert state["plan"] is not None
    assert checkpoints
    for checkpoint in checkpoints:
        assert sentinel not in repr(checkpoint.metadata)
        assert sentinel not in repr(checkpoint.config)
        assert sentinel not in repr(checkpoint.pending_writes)
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert "openai" in loggers and any(n.startswith("httpcore") for n in loggers), loggers
    for record in caplog.records:
        text = f"{record.getMessage()} {record.exc_text or ''} {record.__dict__}"
        assert sentinel not in text, record.name
    tables = db.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not in ('pg_catalog', 'information_schema')"
    ).fetchall()
    assert any(t["table_name"] == "checkpoints" for t in tables)
    for row in tables:
        hits = db.execute(
            f'select count(*) as n from "{row["table_schema"]}"."{row["table_name"]}" t '
            "where position(%s in t::text) > 0",
            (sentinel,),
        ).fetchone()
        assert hits["n"] == 0, row


async def test_primary_returns_500_then_offline_fallback_plans(pg_url, embedder, stub, instance):
    script = planner(plan_args([gpu(instance)]), fail_status=500)
    stub.reset(script)

    async with graph_with(
        pg_url, embedder, **_compatible(stub, llm_fallback_provider="offline")
    ) as graph:
        state = await _run(graph)

    plan = DeploymentPlan.model_validate(state["plan"])
    assert state["decision"] == "plan"
    assert plan.gpu_recommendations and plan.sizing is not None
    assert any("openai_compatible model failed; offline" in w for w in plan.warnings)
    assert any("model failed; the offline provider" in a for a in state["spec"]["assumptions"])
    # Requirements and the architect's first step each try once and retry once (max_retries=1);
    # after the architect fell back, the rest of the turn stays on the fallback.
    assert script.seen["failed"] == 4


async def test_primary_returns_500_without_fallback_then_error_names_no_secret(
    pg_url, embedder, stub
):
    stub.reset(planner({}, fail_status=500))

    async with graph_with(pg_url, embedder, **_compatible(stub)) as graph:
        with pytest.raises(
            ProviderCallError, match=r"openai_compatible:stub-model .* failed"
        ) as info:
            await _run(graph, Context(llm_api_key="sk-never-in-errors"))

    assert "sk-never-in-errors" not in str(info.value)
    assert str(info.value).endswith("(HTTP 500)")


async def test_provider_slower_than_timeout_then_fallback_plans(pg_url, embedder, stub):
    script = planner({}, delay_s=5.0)
    stub.reset(script)
    settings = _compatible(stub, llm_fallback_provider="offline", llm_timeout_s=0.3)

    async with graph_with(pg_url, embedder, **settings) as graph:
        state = await _run(graph)

    plan = DeploymentPlan.model_validate(state["plan"])
    assert any("model failed; offline" in w for w in plan.warnings)
    assert script.seen["RequirementsAnswer"] == 2  # the first try and the client's one retry


async def test_malformed_output_twice_then_retried_and_succeeds(pg_url, embedder, stub, instance):
    script = planner(plan_args([gpu(instance)]), malformed_requirements=2, malformed_plan=2)
    stub.reset(script)

    async with graph_with(pg_url, embedder, **_compatible(stub)) as graph:
        state = await _run(graph)

    assert script.seen["RequirementsAnswer"] == 3
    assert script.seen["DeploymentPlan"] == 3
    retries = [
        r for r in stub.chat_requests() if "was not a valid" in r.body["messages"][-1]["content"]
    ]
    assert len(retries) == 4
    assert "not valid JSON" in retries[0].body["messages"][-1]["content"]
    assert DeploymentPlan.model_validate(state["plan"]).gpu_recommendations


async def test_malformed_output_three_times_then_clear_error(pg_url, embedder, stub):
    stub.reset(planner({}, malformed_requirements=3))

    async with graph_with(pg_url, embedder, **_compatible(stub)) as graph:
        with pytest.raises(MalformedOutputError, match="malformed RequirementsAnswer 3 times"):
            await _run(graph)


async def test_malformed_output_three_times_with_fallback_then_offline_plans(
    pg_url, embedder, stub
):
    script = planner({}, malformed_requirements=3)
    stub.reset(script)

    async with graph_with(
        pg_url, embedder, **_compatible(stub, llm_fallback_provider="offline")
    ) as graph:
        state = await _run(graph)

    assert script.seen["RequirementsAnswer"] == 3
    assert state["decision"] == "plan"
    assert state["spec"]["model_needs"]["named_models"] == ["meta-llama/Llama-3.1-8B-Instruct"]


async def test_env_key_refused_and_no_request_key_then_offline_provider(pg_url, embedder, stub):
    stub.reset(planner({}))
    settings = {
        "llm_provider": "openai",
        "llm_base_url": stub.base_url,
        "llm_api_key": "sk-env-must-not-be-used",
        "allow_env_provider_keys": False,
        "llm_without_key": "offline",
    }

    async with graph_with(pg_url, embedder, **settings) as graph:
        state = await _run(graph)

    assert stub.chat_requests() == []
    assert state["decision"] == "plan"
    assert DeploymentPlan.model_validate(state["plan"]).gpu_recommendations


async def test_env_key_refused_and_without_key_error_then_clear_error(pg_url, embedder, stub):
    stub.reset(planner({}))
    settings = {
        "llm_provider": "openai",
        "llm_base_url": stub.base_url,
        "llm_api_key": "sk-env-must-not-be-used",
        "allow_env_provider_keys": False,
        "llm_without_key": "error",
    }

    async with graph_with(pg_url, embedder, **settings) as graph:
        with pytest.raises(ProviderConfigError, match="no key for the openai provider"):
            await _run(graph)

    assert stub.chat_requests() == []


async def test_env_key_allowed_then_sent_to_the_configured_endpoint(
    pg_url, embedder, stub, instance
):
    stub.reset(planner(plan_args([gpu(instance)])))
    settings = {
        "llm_provider": "openai",
        "llm_base_url": stub.base_url,
        "llm_api_key": "sk-env-allowed",
        "allow_env_provider_keys": True,
    }

    async with graph_with(pg_url, embedder, **settings) as graph:
        await _run(graph)

    assert {r.headers["authorization"] for r in stub.chat_requests()} == {"Bearer sk-env-allowed"}
