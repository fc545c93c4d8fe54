"""Drive a conversation turn by turn: through the compiled graph, or through the HTTP chat API.

Both drivers return a ``TurnOutput`` per user message, so the scoring does not care which ran.
The graph driver also sees the tool trajectory and, with a real model, the tokens used; the
API driver sees only what the documented response carries.
"""

from __future__ import annotations

import re
import uuid
from time import perf_counter
from typing import Any, Protocol

import httpx
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import RunnableConfig

from client import AsyncStack8sClient, Stack8sError
from evals.metrics import TurnOutput
from graph.context import Context

_QUESTION_LINE = re.compile(r"^\s*\d+[.)]\s+(.+\S)\s*$", re.MULTILINE)
DECISIONS = {"clarification": "clarify", "deployment_plan": "plan"}


class Driver(Protocol):
    """Something that holds conversations: start one, then send it messages."""

    async def start(self) -> str:
        """Open a conversation and return its id."""
        ...

    async def send(self, conversation_id: str, text: str) -> TurnOutput:
        """Send one user message and return what the turn produced."""
        ...


class CompiledGraph(Protocol):
    """The part of a compiled LangGraph graph the driver uses."""

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run the graph to the end of the turn."""
        ...


class TokenCounter(BaseCallbackHandler):
    """Add up the tokens every chat model call of a turn reports (``usage_metadata``).

    Unlike LangChain's usage handler it does not need the provider to name its model, which
    OpenAI-compatible servers do not all do.
    """

    def __init__(self) -> None:
        self.total = 0

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Count one call's tokens."""
        for generations in response.generations:
            for generation in generations:
                if isinstance(generation, ChatGeneration) and isinstance(
                    generation.message, AIMessage
                ):
                    usage = generation.message.usage_metadata
                    self.total += int(usage["total_tokens"]) if usage else 0


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def output_from_state(state: dict[str, Any], latency_s: float, tokens: int | None) -> TurnOutput:
    """Read a turn's outcome from the graph state after the turn."""
    decision = state.get("decision")
    messages = state.get("messages") or []
    last = messages[-1] if messages else None
    return TurnOutput(
        decision=decision,
        questions=list(state.get("questions") or []) if decision == "clarify" else [],
        spec=state.get("spec"),
        plan=state.get("plan") if decision == "plan" else None,
        trajectory=list((state.get("tool_results") or {}).get("trajectory") or []),
        response=last.text if isinstance(last, AIMessage) else "",
        latency_s=latency_s,
        tokens=tokens,
        optimizer_report=state.get("optimizer_report"),
    )


class GraphDriver:
    """Run turns through a compiled graph (with a checkpointer) in this process."""

    def __init__(self, graph: CompiledGraph, context: Context) -> None:
        self.graph = graph
        self.context = context

    async def start(self) -> str:
        """Return a fresh thread id; the checkpointer creates the thread on first use."""
        return str(uuid.uuid4())

    async def send(self, conversation_id: str, text: str) -> TurnOutput:
        """Run one turn and read its outcome from the state; errors are recorded, not raised."""
        usage = TokenCounter()
        config: RunnableConfig = {
            "configurable": {"thread_id": conversation_id},
            "callbacks": [usage],
        }
        started = perf_counter()
        try:
            state = await self.graph.ainvoke(
                {"messages": [HumanMessage(text)]}, config, context=self.context
            )
        except Exception as exc:  # a failing turn is a result to score, not a crash
            return TurnOutput(decision=None, latency_s=perf_counter() - started, error=_error(exc))
        latency = perf_counter() - started
        return output_from_state(state, latency, usage.total or None)


def questions_from_text(text: str) -> list[str]:
    """Read the numbered questions of a clarification rendered as Markdown."""
    return _QUESTION_LINE.findall(text)


class ApiDriver:
    """Run turns through the HTTP chat API, with the project's client (``client``).

    ``POST /api/v1/chat/start`` → ``{conversation_id}``; ``POST /api/v1/chat/message`` with
    ``{conversation_id, message}`` → ``{conversation_id, run_id, response, response_type,
    spec, deployment_plan}`` where ``response_type`` is clarification, deployment_plan or
    error. ``token`` is needed when the server has auth on (``stack8s login`` saves one).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 180.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client = AsyncStack8sClient(
            base_url, token=token, timeout_s=timeout_s, transport=transport
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    async def start(self) -> str:
        """Open a conversation.

        Raises:
            httpx.HTTPError: If the API is unreachable.
            Stack8sError: If the API refuses.

        """
        return await self.client.start_chat()

    async def send(self, conversation_id: str, text: str) -> TurnOutput:
        """Send one message; HTTP and protocol errors are recorded in the output."""
        started = perf_counter()
        try:
            turn = await self.client.send_message(text, conversation_id)
        except (httpx.HTTPError, Stack8sError, ValueError, KeyError) as exc:
            return TurnOutput(decision=None, latency_s=perf_counter() - started, error=_error(exc))
        latency = perf_counter() - started
        decision = DECISIONS.get(turn.response_type)
        answer = turn.response
        return TurnOutput(
            decision=decision,
            questions=questions_from_text(answer) if decision == "clarify" else [],
            spec=turn.spec,
            plan=turn.deployment_plan if decision == "plan" else None,
            trajectory=None,
            response=answer,
            latency_s=latency,
            error=None if decision else f"response_type {turn.response_type!r}: {answer[:300]}",
        )
