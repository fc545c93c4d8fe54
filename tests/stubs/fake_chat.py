"""A fake chat model driven by a script: bind_tools and with_structured_output work on it.

It answers like ChatOpenAI would: well-formed tool-call arguments become ``tool_calls``,
malformed ones ``invalid_tool_calls`` (plus the raw calls in ``additional_kwargs``, which is
what makes the tools parser raise), and an error status raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from tests.stubs.script import Reply


class ScriptedProviderError(RuntimeError):
    """The scripted provider answered with an HTTP error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"scripted provider error {status}")
        self.status_code = status


def to_message(reply: Reply) -> AIMessage:
    """Turn a scripted reply into the AIMessage ChatOpenAI would have built."""
    calls, invalid, raw = [], [], []
    for tc in reply.tool_calls:
        raw.append(
            {
                "id": tc.id,
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments},
            }
        )
        try:
            calls.append(
                {
                    "id": tc.id,
                    "name": tc.name,
                    "args": json.loads(tc.arguments),
                    "type": "tool_call",
                }
            )
        except json.JSONDecodeError as exc:
            invalid.append(
                {
                    "id": tc.id,
                    "name": tc.name,
                    "args": tc.arguments,
                    "error": str(exc),
                    "type": "invalid_tool_call",
                }
            )
    extra = {"tool_calls": raw} if invalid else {}
    return AIMessage(
        reply.content, tool_calls=calls, invalid_tool_calls=invalid, additional_kwargs=extra
    )


class ScriptedChatModel(BaseChatModel):
    """Answer each request with ``script(request)``, the request seen in OpenAI's shape."""

    script: Callable[[dict[str, Any]], Reply]
    requests: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools the way ChatOpenAI does: as OpenAI tool dicts."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = {
            "messages": convert_to_openai_messages(messages),
            "tools": kwargs.get("tools") or [],
            "tool_choice": kwargs.get("tool_choice"),
        }
        self.requests.append(request)
        reply = self.script(request)
        if reply.status != 200:
            raise ScriptedProviderError(reply.status)
        return ChatResult(generations=[ChatGeneration(message=to_message(reply))])
