"""The pure parts of the chat API: stream chunk → event mapping, limits, keyring, SSE headers.

(They need no server; they sit with the API tests because they exist for the API.)
"""

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from api.limits import RateLimiter
from api.sse import parse_last_event_id, wants_stream
from api.vault import parse_keyring
from graph.run_events import map_chunk, outcome_from_state


def test_task_start_then_status_started():
    chunk = {"id": "t1", "name": "requirements", "input": {}, "triggers": []}

    assert map_chunk("tasks", chunk) == [("status", {"node": "requirements", "state": "started"})]


def test_task_result_then_nothing_because_updates_carry_it():
    assert map_chunk("tasks", {"id": "t1", "name": "requirements", "result": {}}) == []


def test_optimize_update_then_optimizer_report_and_status():
    report = {"tokens_before": 900, "tokens_after": 400, "kept": ["u1"]}

    events = map_chunk("updates", {"optimize": {"optimizer_report": report, "work": []}})

    assert events == [
        ("optimizer", report),
        ("status", {"node": "optimize", "state": "finished"}),
    ]


def test_architect_and_tools_updates_then_tool_call_and_result_summary():
    call = AIMessage("", tool_calls=[{"name": "compute_search", "args": {"top_k": 5}, "id": "c1"}])
    result = ToolMessage(
        "Compute search: 5 shown\nrow 1\nrow 2", tool_call_id="c1", name="compute_search"
    )

    calls = map_chunk("updates", {"architect": {"work": [call]}})
    results = map_chunk("updates", {"tools": {"work": [result]}})

    assert calls[0] == (
        "tool",
        {"phase": "call", "id": "c1", "name": "compute_search", "args": {"top_k": 5}},
    )
    assert results[0][1]["summary"] == "Compute search: 5 shown"
    assert results[0][1]["phase"] == "result" and results[0][1]["status"] == "success"


def test_streamed_llm_chunk_then_token_event_and_whole_messages_ignored():
    meta = {"langgraph_node": "requirements"}

    token = map_chunk("messages", (AIMessageChunk("Hel"), meta))
    whole = map_chunk("messages", (AIMessage("## Deployment plan"), meta))

    assert token == [("token", {"node": "requirements", "text": "Hel"})]
    assert whole == []


def test_custom_event_then_passed_through_by_name_else_progress_status():
    named = map_chunk("custom", {"event": "optimizer", "tokens_before": 10, "tokens_after": 5})
    other = map_chunk("custom", "halfway")

    assert named == [("optimizer", {"tokens_before": 10, "tokens_after": 5})]
    assert other == [("status", {"state": "progress", "detail": "halfway"})]


def test_outcome_from_state_then_plan_clarification_or_error():
    plan_state = {
        "messages": [HumanMessage("x"), AIMessage("## plan")],
        "decision": "plan",
        "plan": {"understanding": "u"},
        "spec": {"task_type": "inference"},
    }
    ask_state = {
        "messages": [AIMessage("A few questions")],
        "decision": "clarify",
        "questions": ["q"],
    }

    assert outcome_from_state(plan_state).response_type == "deployment_plan"
    assert outcome_from_state(ask_state).questions == ["q"]
    assert outcome_from_state({"messages": [HumanMessage("x")]}).response_type == "error"


def test_rate_limiter_then_burst_allowed_then_wait_then_refilled():
    limiter = RateLimiter(per_minute=2)

    first, second, third = (limiter.check("u", now=0.0) for _ in range(3))
    later = limiter.check("u", now=31.0)

    assert first is None and second is None
    assert third == pytest.approx(30.0)
    assert later is None
    assert limiter.check("someone-else", now=0.0) is None
    assert RateLimiter.retry_after_header(0.2) == "1"


def test_keyring_then_current_first_and_plain_value_is_version_1():
    ring = parse_keyring("3:new, 2:older")

    assert list(ring) == [3, 2] and len(ring[3]) == 32 and ring[3] != ring[2]
    assert list(parse_keyring("just-one-secret")) == [1]
    assert parse_keyring(None) == {}
    with pytest.raises(ValueError):
        parse_keyring("a:b:c, nope")


@pytest.mark.parametrize(("value", "expected"), [(None, 0), ("7", 7), ("x", 0), ("-3", 0)])
def test_last_event_id_then_parsed_or_zero(value, expected):
    assert parse_last_event_id(value) == expected


def test_wants_stream_then_only_for_event_stream_accept():
    assert wants_stream("text/event-stream")
    assert wants_stream("application/json, text/event-stream;q=0.9")
    assert not wants_stream("application/json") and not wants_stream(None)
