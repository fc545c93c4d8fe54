"""``stack8s plan``: one turn of the planning graph in the terminal.

Progress (each node as it starts and finishes, the tools the architect calls and what they
returned) goes to stderr as the graph streams; the answer goes to stdout: the plan as
Markdown, the plan as JSON with ``--json``, or the clarifying questions. Threads persist in
Postgres with LangGraph's checkpointer, so ``--thread ID`` continues a conversation.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, TextIO

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig

from agents.architect import describe_calls
from agents.schemas import DeploymentPlan
from core.db import create_pool
from core.embeddings import get_embedder
from core.resources import Resources
from core.settings import Settings
from graph.checkpointer import compile_with_postgres
from graph.context import Context


@dataclass(frozen=True)
class PlanRequest:
    """What one ``stack8s plan`` call asks for."""

    text: str
    thread_id: str
    as_json: bool = False
    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    """Name of an environment variable holding the caller's key (never the key on argv)."""

    def context(self, resources: Resources | None = None) -> Context:
        """Return the run's context, with ``resources``; the key, if any, travels only here."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return Context(
            llm_provider=self.provider,
            llm_model=self.model,
            llm_base_url=self.base_url,
            llm_api_key=key or None,
            request_id=f"cli-{uuid.uuid4().hex[:12]}",
            resources=resources,
        )


def _writes(result: dict[str, Any], channel: str) -> list[Any]:
    value = result.get(channel)
    if value is None:
        return []
    if isinstance(value, dict) and "$writes" in value:
        return [item for write in value["$writes"] for item in write]
    return list(value) if isinstance(value, list) else [value]


def _details(name: str, result: dict[str, Any]) -> list[str]:
    """Say what a finished node did, in a line or a few."""
    if name == "requirements":
        questions = _writes(result, "questions")
        decision = result.get("decision")
        return [f"decision: {decision}" + (f" ({len(questions)} questions)" if questions else "")]
    lines: list[str] = []
    for message in _writes(result, "work"):
        if isinstance(message, AIMessage) and message.tool_calls:
            lines += [f"tool call: {describe_calls([dict(call)])}" for call in message.tool_calls]
        elif isinstance(message, AIMessage) and message.text:
            lines.append(f"architect: {message.text[:120]}")
        elif isinstance(message, ToolMessage):
            status = "error" if message.status == "error" else "ok"
            first = (message.text.splitlines() or [""])[0]
            lines.append(f"tool result: {message.name} {status}: {first[:120]}")
    plan = result.get("plan")
    if name == "validate" and isinstance(plan, dict):
        lines += [f"warning: {w}" for w in plan.get("warnings", [])]
    return lines


async def stream_turn(
    graph: Any,
    request: PlanRequest,
    config: RunnableConfig,
    err: TextIO,
    resources: Resources | None = None,
) -> dict[str, Any]:
    """Run the turn, narrating each task on ``err``; return the thread's state afterwards."""
    started: dict[str, float] = {}
    inputs = {"messages": [HumanMessage(request.text)]}
    async for event in graph.astream(
        inputs, config, context=request.context(resources), stream_mode="tasks"
    ):
        name = event["name"]
        if "input" in event:
            started[event["id"]] = time.perf_counter()
            print(f"[{name}] started", file=err, flush=True)
            continue
        elapsed = time.perf_counter() - started.pop(event["id"], time.perf_counter())
        if event.get("error") is not None:
            print(f"[{name}] failed after {elapsed:.2f}s", file=err, flush=True)
            continue
        print(f"[{name}] finished in {elapsed:.2f}s", file=err, flush=True)
        for line in _details(name, event.get("result") or {}):
            print(f"    {line}", file=err, flush=True)
    snapshot = await graph.aget_state(config)
    return dict(snapshot.values)


def answer(state: dict[str, Any], request: PlanRequest, out: TextIO) -> None:
    """Print the questions or the plan (Markdown, or JSON with ``--json``)."""
    if state.get("decision") == "clarify":
        if request.as_json:
            body = {"decision": "clarify", "questions": state.get("questions", [])}
            print(json.dumps(body, indent=2), file=out)
        else:
            print(state["messages"][-1].text, file=out)
        return
    plan = DeploymentPlan.model_validate(state["plan"])
    if request.as_json:
        print(plan.model_dump_json(indent=2), file=out)
    else:
        print(state["messages"][-1].text, file=out, end="")


async def run_plan(
    settings: Settings, url: str, request: PlanRequest, *, out: TextIO, err: TextIO
) -> int:
    """Open the pool, run one turn on the Postgres-checkpointed graph, print the answer."""
    pool = create_pool(url, settings)
    await pool.open()
    resources = Resources(settings, pool, get_embedder(settings))
    try:
        graph = await compile_with_postgres(pool)
        config: RunnableConfig = {"configurable": {"thread_id": request.thread_id}}
        state = await stream_turn(graph, request, config, err, resources)
    finally:
        await pool.close()
    answer(state, request, out)
    print(
        f"thread: {request.thread_id} (continue with --thread {request.thread_id})",
        file=err,
        flush=True,
    )
    return 0
