"""Debug endpoint of the context optimizer: paste a conversation, see what it would keep.

``POST /api/v1/tools/optimizer/analyze`` runs the optimizer exactly as the graph does before
an LLM call (the app's embedder and embedding cache, the configured NLI provider, the
offline requirements extractor as field reader) and returns the compressed messages with
the report. No LLM is called.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.vocabulary import field_reader, load_vocabulary
from api.deps import AppSettings, Pool
from api.openapi import errors
from core.embeddings import EmbeddingError, get_embedder
from tools.optimizer import OptimizerReport, build_nli, optimize_messages
from tools.optimizer.messages import to_turn

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/tools/optimizer", tags=["tools"])

# The app refuses bodies over 64 KB before they are parsed; these bounds keep one request's
# work (units to embed, pairs to compare) in proportion even below that.
MAX_MESSAGES = 400
MAX_CONTENT_CHARS = 32_000
MAX_TOOL_CALLS = 16
MAX_BUDGET_TOKENS = 200_000


class ToolCallBody(BaseModel):
    """One tool call of an assistant message."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=128)
    args: dict[str, Any] = Field(default_factory=dict)


class OptimizerMessage(BaseModel):
    """One chat message, as sent and as returned."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant", "system", "tool"]
    content: str = Field(max_length=MAX_CONTENT_CHARS)
    tool_call_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="Required for tool messages."
    )
    name: str | None = Field(default=None, max_length=128)
    tool_calls: list[ToolCallBody] = Field(
        default_factory=list,
        max_length=MAX_TOOL_CALLS,
        description="Calls an assistant message makes; a tool message without a matching "
        "call is paired with the assistant message before it.",
    )

    @model_validator(mode="after")
    def _tool_fields(self) -> OptimizerMessage:
        if self.role == "tool" and self.tool_call_id is None:
            raise ValueError("a tool message needs a tool_call_id")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self


class OptimizeRequest(BaseModel):
    """A conversation and the token budget to compress it to."""

    model_config = ConfigDict(extra="forbid")

    messages: list[OptimizerMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    budget_tokens: int = Field(ge=1, le=MAX_BUDGET_TOKENS)


class OptimizeResponse(BaseModel):
    """The messages an LLM would see, in order, and what the optimizer did."""

    messages: list[OptimizerMessage]
    report: OptimizerReport


@router.post("/analyze", response_model=OptimizeResponse, responses=errors(400, 413, 503))
async def analyze(body: OptimizeRequest, pool: Pool, settings: AppSettings) -> OptimizeResponse:
    """Compress the conversation to the budget and report every decision."""
    embedder = get_embedder(settings)
    messages = [_to_langchain(m) for m in body.messages]
    async with pool.connection() as conn:
        vocabulary = await load_vocabulary(conn)
        try:
            result = await optimize_messages(
                messages,
                embedder=embedder,
                budget_tokens=body.budget_tokens,
                field_reader=field_reader(vocabulary),
                nli=build_nli(settings),
                cache_conn=conn if settings.embeddings_cache_enabled else None,
            )
        except EmbeddingError as exc:
            logger.warning("optimizer could not embed: %s", type(exc).__name__)
            raise HTTPException(503, "the embedding provider is unavailable") from exc
    return OptimizeResponse(
        messages=[_from_langchain(m) for m in result.messages], report=result.report
    )


def _to_langchain(message: OptimizerMessage) -> BaseMessage:
    if message.role == "user":
        return HumanMessage(message.content, name=message.name)
    if message.role == "system":
        return SystemMessage(message.content, name=message.name)
    if message.role == "tool":
        return ToolMessage(
            message.content, tool_call_id=message.tool_call_id or "", name=message.name
        )
    calls = [{"id": c.id, "name": c.name, "args": c.args} for c in message.tool_calls]
    return AIMessage(message.content, tool_calls=calls, name=message.name)


def _from_langchain(message: BaseMessage) -> OptimizerMessage:
    turn = to_turn(message)
    return OptimizerMessage(
        role=turn.role,
        content=turn.content,
        tool_call_id=turn.tool_call_id,
        name=turn.name,
        tool_calls=[ToolCallBody(id=c.id, name=c.name, args=c.args) for c in turn.tool_calls],
    )
