"""Run events: how LangGraph stream chunks become the chat stream's named events.

Events: ``metadata`` (run and thread ids), ``status`` (a node started or finished),
``optimizer`` (the context optimizer's report), ``tool`` (a call and a summary of its
result), ``token`` (text a streaming LLM produced), then ``clarification`` or ``plan`` (or
``error``), then ``end``. Pure functions, so they are tested without a database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

ResponseType = Literal["clarification", "deployment_plan", "error"]
# "values" only gives the turn its final state (no event), without reading it back.
STREAM_MODES = ["tasks", "updates", "custom", "messages", "values"]
# A computing turn (the offline provider) calls no chat model: "messages" would only add a
# callback to every runnable it runs.
COMPUTING_STREAM_MODES = [mode for mode in STREAM_MODES if mode != "messages"]
# Events a graph node may emit itself through LangGraph's stream writer ("custom" mode).
CUSTOM_EVENTS = frozenset({"status", "optimizer", "tool", "token"})
SUMMARY_CHARS = 240
FAILED_MESSAGE = "The planner failed on this message; please try again."
INTERRUPTED_MESSAGE = (
    "The server running this turn stopped before it finished. Resume the turn, or send "
    "the message again."
)
DB_LOST_MESSAGE = (
    "The database became unavailable during this turn. Nothing that was saved is lost: "
    "resume the turn, or send the message again."
)


@dataclass(frozen=True)
class RunEvent:
    """One event of a run's stream."""

    seq: int
    event: str
    data: dict[str, Any]


@dataclass
class TurnOutcome:
    """What one turn produced, in the shape of the chat API's reply."""

    response_type: ResponseType
    response: str
    spec: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    questions: list[str] = field(default_factory=list)
    error_code: str | None = None
    """Why an ``error`` turn failed, when it was not the planner (``db_unavailable``)."""
    resumable: bool = False
    """Whether ``/resume`` can continue the turn from a checkpoint once the cause is gone."""


def _summary(text: Any) -> str:
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return first[:SUMMARY_CHARS]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def map_chunk(mode: str, chunk: Any) -> list[tuple[str, dict[str, Any]]]:
    """Turn one ``astream`` chunk into zero or more ``(event, data)`` pairs."""
    if mode == "tasks" and isinstance(chunk, dict) and "input" in chunk:
        return [("status", {"node": chunk.get("name"), "state": "started"})]
    if mode == "custom":
        if isinstance(chunk, dict) and chunk.get("event") in CUSTOM_EVENTS:
            data = {k: v for k, v in chunk.items() if k != "event"}
            return [(str(chunk["event"]), _jsonable(data))]
        return [("status", {"state": "progress", "detail": _jsonable(chunk)})]
    if mode == "messages":
        message = chunk[0] if isinstance(chunk, tuple) else chunk
        meta = chunk[1] if isinstance(chunk, tuple) and len(chunk) > 1 else {}
        if isinstance(message, AIMessageChunk) and isinstance(message.content, str):
            if message.content:
                return [("token", {"node": meta.get("langgraph_node"), "text": message.content})]
        return []
    if mode != "updates" or not isinstance(chunk, dict):
        return []
    events: list[tuple[str, dict[str, Any]]] = []
    for node, update in chunk.items():
        if node.startswith("__"):
            continue
        update = update if isinstance(update, dict) else {}
        if node == "optimize" and update.get("optimizer_report") is not None:
            events.append(("optimizer", _jsonable(update["optimizer_report"])))
        for message in update.get("work", []) or []:
            if isinstance(message, AIMessage):
                for call in message.tool_calls:
                    events.append(
                        (
                            "tool",
                            {
                                "phase": "call",
                                "id": call.get("id"),
                                "name": call["name"],
                                "args": _jsonable(call.get("args", {})),
                            },
                        )
                    )
            elif isinstance(message, ToolMessage):
                events.append(
                    (
                        "tool",
                        {
                            "phase": "result",
                            "id": message.tool_call_id,
                            "name": message.name,
                            "status": message.status,
                            "summary": _summary(message.content),
                        },
                    )
                )
        events.append(("status", {"node": node, "state": "finished"}))
    return events


def outcome_from_state(values: dict[str, Any]) -> TurnOutcome:
    """Read the reply of the turn that just ended from the thread's state."""
    messages = values.get("messages") or []
    last = messages[-1] if messages else None
    text = str(last.content) if isinstance(last, AIMessage) else ""
    spec = values.get("spec")
    decision = values.get("decision")
    if decision == "clarify" and text:
        return TurnOutcome("clarification", text, spec, None, list(values.get("questions") or []))
    if decision == "plan" and values.get("plan") and text:
        return TurnOutcome("deployment_plan", text, spec, values["plan"])
    return TurnOutcome("error", FAILED_MESSAGE, spec)


def terminal_event(run_id: str, outcome: TurnOutcome) -> tuple[str, dict[str, Any]]:
    """Return the event that carries the turn's answer: plan, clarification or error."""
    if outcome.response_type == "deployment_plan":
        return "plan", {"text": outcome.response, "plan": outcome.plan, "spec": outcome.spec}
    if outcome.response_type == "clarification":
        return "clarification", {
            "text": outcome.response,
            "questions": outcome.questions,
            "spec": outcome.spec,
        }
    code = outcome.error_code or "run_failed"
    return "error", {"code": code, "message": outcome.response, "run_id": run_id}


def lost_run_events(run_id: str, after: int, code: str, message: str) -> list[RunEvent]:
    """Return the ``error`` and ``end`` events that close a lost run after event ``after``.

    The same events go out live (to the listeners of the executing process) and into the
    table (``graph.chat_store.close_interrupted_run``), so a client that rejoins sees the ids
    it saw live.
    """
    return [
        RunEvent(after + 1, "error", {"code": code, "message": message, "run_id": run_id}),
        RunEvent(after + 2, "end", {"status": "failed", "response_type": "error"}),
    ]
