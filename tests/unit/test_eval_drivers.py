import json

import httpx
from langchain_core.messages import AIMessage, HumanMessage

from evals.drivers import ApiDriver, GraphDriver, questions_from_text
from graph.context import Context


def _api(handler):
    return ApiDriver("http://api.test", transport=httpx.MockTransport(handler))


async def test_api_driver_then_documented_shapes_become_turn_outputs():
    seen = []

    def handler(request):
        seen.append((request.url.path, json.loads(request.content or b"{}")))
        if request.url.path == "/api/v1/chat/start":
            return httpx.Response(200, json={"conversation_id": "c1"})
        if "deploy AI" in seen[-1][1]["message"]:
            return httpx.Response(
                200,
                json={
                    "conversation_id": "c1",
                    "run_id": "r1",
                    "response_type": "clarification",
                    "spec": {"domain": None},
                    "deployment_plan": None,
                    "response": "A few questions:\n\n1. What kind of model?\n2. GPUs?\n",
                },
            )
        return httpx.Response(
            200,
            json={
                "conversation_id": "c1",
                "run_id": "r2",
                "response_type": "deployment_plan",
                "spec": {"domain": "llm"},
                "deployment_plan": {"understanding": "x"},
                "response": "## Deployment plan",
            },
        )

    driver = _api(handler)
    conversation = await driver.start()
    first = await driver.send(conversation, "I want to deploy AI")
    second = await driver.send(conversation, "Llama 3.1 8B for 5 users")
    await driver.aclose()

    assert conversation == "c1"
    assert seen[1] == (
        "/api/v1/chat/message",
        {"conversation_id": "c1", "message": "I want to deploy AI"},
    )
    assert first.decision == "clarify" and first.questions == ["What kind of model?", "GPUs?"]
    assert second.decision == "plan" and second.plan == {"understanding": "x"}
    assert second.trajectory is None and second.error is None


async def test_api_driver_error_response_then_recorded_not_raised():
    def handler(request):
        if request.url.path.endswith("start"):
            return httpx.Response(200, json={"conversation_id": "c1"})
        if b"boom" in request.content:
            return httpx.Response(
                500, json={"code": "internal_error", "message": "oops", "request_id": "x"}
            )
        return httpx.Response(
            200,
            json={
                "conversation_id": "c1",
                "run_id": "r1",
                "response_type": "error",
                "response": "no model",
            },
        )

    driver = _api(handler)
    failed = await driver.send("c1", "boom")
    refused = await driver.send("c1", "hello")

    assert failed.decision is None and "500" in failed.error
    assert refused.decision is None and "error" in refused.error


def test_questions_from_markdown_then_numbered_lines_only():
    assert questions_from_text("Intro\n1. One?\n2) Two?\n- not this\n") == ["One?", "Two?"]


class FakeGraph:
    def __init__(self, state=None, exc=None):
        self.state, self.exc, self.calls = state, exc, []

    async def ainvoke(self, input, config=None, **kwargs):
        self.calls.append((input, config, kwargs))
        if self.exc:
            raise self.exc
        return self.state


async def test_graph_driver_then_reads_decision_plan_and_trajectory_from_state():
    state = {
        "messages": [HumanMessage("x"), AIMessage("## Deployment plan")],
        "decision": "plan",
        "questions": [],
        "spec": {"domain": "llm"},
        "plan": {"understanding": "x"},
        "tool_results": {"trajectory": ["local_cluster", "compute_search"]},
    }
    graph = FakeGraph(state)
    driver = GraphDriver(graph, Context(llm_provider="offline"))

    output = await driver.send("thread-1", "hello")

    assert output.decision == "plan" and output.plan == {"understanding": "x"}
    assert output.trajectory == ["local_cluster", "compute_search"]
    assert output.response == "## Deployment plan" and output.tokens is None
    _, config, kwargs = graph.calls[0]
    assert config["configurable"] == {"thread_id": "thread-1"}
    assert kwargs["context"].llm_provider == "offline"


async def test_graph_driver_clarify_then_plan_left_out_and_questions_kept():
    state = {
        "messages": [AIMessage("A few questions")],
        "decision": "clarify",
        "questions": ["a?"],
        "plan": {"stale": True},
        "tool_results": {},
    }

    output = await GraphDriver(FakeGraph(state), Context()).send("t", "hi")

    assert output.plan is None and output.questions == ["a?"] and output.trajectory == []


async def test_graph_driver_exception_then_error_recorded():
    output = await GraphDriver(FakeGraph(exc=RuntimeError("db down")), Context()).send("t", "hi")

    assert output.decision is None and output.error == "RuntimeError: db down"


class ModelCallingGraph:
    """Calls a fake chat model with the run's callbacks, as the LLM nodes do."""

    async def ainvoke(self, input, config=None, **kwargs):
        from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

        usage = {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150}
        model = GenericFakeChatModel(messages=iter([AIMessage("ok", usage_metadata=usage)]))
        await model.ainvoke("hello", config=config)
        return {"messages": [AIMessage("A few questions")], "decision": "clarify", "questions": []}


async def test_graph_driver_with_a_model_then_tokens_counted_from_usage_metadata():
    output = await GraphDriver(ModelCallingGraph(), Context()).send("t", "hi")

    assert output.tokens == 150
