"""What a scripted model answers, shared by the fake chat model and the HTTP stub.

A request is seen in OpenAI's shape (messages, tools, tool_choice) whichever double serves it,
so one script drives both. ``PlannerScript`` plays a whole planning turn: the requirements
reading, the architect's tool calls round by round, then the plan.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

STRUCTURED_TOOLS = ("RequirementsAnswer", "DeploymentPlan")


@dataclass
class ToolCall:
    """One call the model makes; ``arguments`` is raw text so it can be malformed on purpose."""

    name: str
    arguments: str
    id: str = "call_0"


@dataclass
class Reply:
    """One answer: text, tool calls, or an HTTP error status."""

    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0
    """Wait this long before answering (a slow provider); only the HTTP stub waits."""


def call(name: str, args: dict[str, Any], call_id: str = "call_0") -> ToolCall:
    """Build a well-formed tool call."""
    return ToolCall(name, json.dumps(args), call_id)


def forced_tool(request: dict[str, Any]) -> str | None:
    """Return the structured-output schema a request asks for, if it asks for one."""
    names = [t["function"]["name"] for t in request.get("tools") or []]
    if len(names) == 1 and names[0] in STRUCTURED_TOOLS:
        return names[0]
    return None


def architect_round(request: dict[str, Any]) -> int:
    """Count the architect's earlier rounds: the assistant messages already in the request."""
    return sum(1 for m in request.get("messages", []) if m.get("role") == "assistant")


@dataclass
class PlannerScript:
    """A model that reads the request, calls the tools in ``steps``, then writes ``plan``."""

    requirements: dict[str, Any]
    steps: list[list[tuple[str, dict[str, Any]]]] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)
    malformed_requirements: int = 0
    """Answer the requirements request with invalid JSON this many times first."""
    malformed_plan: int = 0
    """Answer the plan request with invalid JSON this many times first."""
    fail_status: int | None = None
    """Answer every request with this HTTP status (a provider outage)."""
    delay_s: float = 0.0
    """Answer every request this late (a provider slower than the client's timeout)."""
    seen: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _count(self, what: str) -> int:
        with self._lock:
            self.seen[what] = self.seen.get(what, 0) + 1
            return self.seen[what]

    def __call__(self, request: dict[str, Any]) -> Reply:
        """Answer one chat completion request."""
        reply = self._answer(request)
        reply.delay_s = self.delay_s
        return reply

    def _answer(self, request: dict[str, Any]) -> Reply:
        if self.fail_status is not None:
            self._count("failed")
            return Reply(status=self.fail_status)
        schema = forced_tool(request)
        if schema == "RequirementsAnswer":
            n = self._count(schema)
            if n <= self.malformed_requirements:
                return Reply(tool_calls=[ToolCall(schema, '{"spec": {"task_type": "infer')])
            return Reply(tool_calls=[call(schema, self.requirements)])
        if schema == "DeploymentPlan":
            n = self._count(schema)
            if n <= self.malformed_plan:
                return Reply(tool_calls=[ToolCall(schema, '{"understanding": ')])
            return Reply(tool_calls=[call(schema, self.plan)])
        round_ = architect_round(request)
        self._count("architect")
        if round_ < len(self.steps):
            return Reply(
                tool_calls=[
                    call(name, args, f"call_{round_}_{i}")
                    for i, (name, args) in enumerate(self.steps[round_])
                ]
            )
        return Reply(content="I have what the plan needs.")
