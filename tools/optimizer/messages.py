"""LangChain messages in and out of the optimizer's framework-free ``Turn``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from tools.optimizer.units import Role, ToolCall, Turn

_ROLES: dict[str, Role] = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}


def to_turn(message: BaseMessage) -> Turn:
    """Describe one LangChain message as a ``Turn``."""
    role = _ROLES.get(message.type)
    if role is None:
        # ChatMessage carries a free-form role; anything unknown is kept whole as a system turn.
        raw = str(getattr(message, "role", "")).lower()
        role = _ROLES.get({"user": "human", "assistant": "ai"}.get(raw, raw), "system")
    text, opaque = _text_of(message.content)
    calls: tuple[ToolCall, ...] = ()
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = tuple(
            ToolCall(id=str(call.get("id") or ""), name=call["name"], args=call.get("args", {}))
            for call in message.tool_calls
        )
    return Turn(
        role=role,
        content=text,
        tool_calls=calls,
        tool_call_id=getattr(message, "tool_call_id", None),
        name=message.name,
        opaque=opaque,
    )


def to_turns(messages: Sequence[BaseMessage]) -> list[Turn]:
    """Describe a conversation as turns."""
    return [to_turn(message) for message in messages]


def rebuild(
    messages: Sequence[BaseMessage], rendered: Sequence[tuple[int, str | None]]
) -> list[BaseMessage]:
    """Return the kept messages: the originals where unchanged, copies with new text otherwise.

    Copies keep the id, name, tool calls and metadata of the original, so that LangGraph's
    message reducer and the provider see the same message, only shorter.
    """
    out: list[BaseMessage] = []
    for index, content in rendered:
        original = messages[index]
        if content is not None:
            original = original.model_copy(update={"content": content})
        out.append(original)
    return out


def _text_of(content: Any) -> tuple[str, bool]:
    """Return the message text and whether it holds anything that is not plain text."""
    if isinstance(content, str):
        return content, False
    parts: list[str] = []
    opaque = False
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            opaque = True  # an image or other block: the message can only be kept whole
    return "\n".join(parts), opaque
