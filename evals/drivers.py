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

from evals.metrics import TurnOutput
from graph.context import Context

API_START = "/api/v1/chat/start"
API_MESSAGE = "/api/v1/chat/message"
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
    """Run turns through the HTTP chat API (AUTH_ENABLED=false), as documented.

    ``POST /api/v1/chat/start`` → ``{conversation_id}``; ``POST /api/v1/chat/message`` with
    ``{conversation_id, message}`` → ``{conversation_id, response, response_type, spec,
    deployment_plan}`` where ``response_type`` is clarification, deployment_plan or error.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 180.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.AsyncClient(timeout=timeout_s, headers=headers)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    async def start(self) -> str:
        """Open a conversation.

        Raises:
            httpx.HTTPError: If the API is unreachable or refuses.
            ValueError: If the answer carries no conversation id.

        """
        response = await self.client.post(self.base_url + API_START, json={})
        response.raise_for_status()
        conversation_id = response.json().get("conversation_id")
        if not conversation_id:
            raise ValueError("chat/start answered without a conversation_id")
        return str(conversation_id)

    async def send(self, conversation_id: str, text: str) -> TurnOutput:
        """Send one message; HTTP and protocol errors are recorded in the output."""
        started = perf_counter()
        try:
            response = await self.client.post(
                self.base_url + API_MESSAGE,
                json={"conversation_id": conversation_id, "message": text},
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return TurnOutput(decision=None, latency_s=perf_counter() - started, error=_error(exc))
        latency = perf_counter() - started
        kind = body.get("response_type")
        decision = DECISIONS.get(kind or "")
        answer = str(body.get("response") or "")
        return TurnOutput(
            decision=decision,
            questions=questions_from_text(answer) if decision == "clarify" else [],
            spec=body.get("spec"),
            plan=body.get("deployment_plan") if decision == "plan" else None,
            trajectory=None,
            response=answer,
            latency_s=latency,
            error=None if decision else f"response_type {kind!r}: {answer[:300]}",
        )
