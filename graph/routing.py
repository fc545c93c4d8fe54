"""Typed routers between the graph's nodes."""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import AIMessage

from graph.state import State


def route_after_requirements(state: State) -> Literal["clarify", "architect"]:
    """Ask when the requirements step decided to; plan otherwise."""
    return "clarify" if state.get("decision") == "clarify" else "architect"


def route_after_architect(state: State) -> Literal["tools", "synthesize"]:
    """Run the tools the architect asked for; write the plan when it asked for none."""
    work = state.get("work", [])
    last = work[-1] if work else None
    if isinstance(last, AIMessage) and last.tool_calls:
        return "tools"
    return "synthesize"
