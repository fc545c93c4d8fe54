"""Graph state: the conversation plus what the agents concluded. Facts only, never secrets."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict


def replace_work(left: list[AnyMessage], right: list[AnyMessage] | None) -> list[AnyMessage]:
    """Reduce the architect's scratch messages: append, or reset with an empty list."""
    if right is None or right == []:
        return []
    return add_messages(left, right)  # type: ignore[arg-type, return-value]


class InputState(TypedDict):
    """What a caller sends: new messages."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation: user turns and the assistant's answers (questions or plans)."""


class State(InputState, total=False):
    """Everything a thread remembers between turns."""

    spec: dict[str, Any] | None
    """The latest WorkloadSpec (as a dict) read from the whole conversation."""

    decision: Literal["plan", "clarify"] | None
    """What the requirements step decided this turn."""

    questions: list[str]
    """Clarifying questions asked this turn (empty when planning)."""

    clarification_rounds: int
    """How many times the assistant has asked questions in this thread."""

    asked: list[str]
    """Every clarifying question asked in this thread, oldest first: none is asked twice."""

    work: Annotated[list[AnyMessage], replace_work]
    """The architect's tool-calling scratchpad for this turn, reset at the start of a turn."""

    tool_results: dict[str, Any]
    """Compact results of this turn's tool calls, by tool name (ids and numbers, not rows)."""

    plan: dict[str, Any] | None
    """The validated DeploymentPlan (as a dict) of the latest planning turn."""

    optimizer_report: dict[str, Any] | None
    """What the context optimizer kept and dropped before this turn's LLM calls."""

    llm_context: list[AnyMessage]
    """The (optimized) messages the LLM nodes read this turn; the full history stays above."""
