"""What the client returns: typed views of the API's answers, and its one error."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

ResponseType = Literal["clarification", "deployment_plan", "error"]


class Stack8sError(RuntimeError):
    """The API answered with an error: ``{code, message, request_id}`` and the HTTP status."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None) -> None:
        """Keep the error's fields; the message reads like the API's."""
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class StreamLostError(Stack8sError):
    """The run's stream broke and could not be rejoined within the allowed attempts."""


@dataclass(frozen=True)
class LLMOptions:
    """The model one request runs with (the ``X-LLM-*`` headers); all optional."""

    provider: Literal["offline", "openai", "openai_compatible"] | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        """Return the request headers these options stand for."""
        pairs = {
            "X-LLM-Provider": self.provider,
            "X-LLM-Model": self.model,
            "X-LLM-Base-URL": self.base_url,
            "X-LLM-API-Key": self.api_key,
        }
        return {name: value for name, value in pairs.items() if value}


@dataclass(frozen=True)
class ChatTurn:
    """The assistant's answer to one message."""

    conversation_id: str
    run_id: str
    response: str
    response_type: ResponseType
    spec: dict[str, Any] | None = None
    deployment_plan: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ChatTurn:
        """Read a ``ChatTurnPublic`` body."""
        return cls(
            conversation_id=str(body["conversation_id"]),
            run_id=str(body["run_id"]),
            response=str(body.get("response") or ""),
            response_type=body["response_type"],
            spec=body.get("spec"),
            deployment_plan=body.get("deployment_plan"),
        )


@dataclass(frozen=True)
class ChatSummary:
    """A chat as listed."""

    conversation_id: str
    title: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Event:
    """One event of a run's stream: its sequence number, name and JSON data."""

    id: int
    event: str
    data: Any

    @property
    def is_end(self) -> bool:
        """Say whether this is the run's last event."""
        return self.event == "end"


class EventParser:
    """Turn the lines of a ``text/event-stream`` into events; comments (pings) are skipped."""

    def __init__(self) -> None:
        """Start with no fields gathered."""
        self._fields: dict[str, str] = {}
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        """Take one line; return the event that a blank line completes, if any."""
        if line == "":
            fields, data = self._fields, self._data
            self._fields, self._data = {}, []
            if "event" not in fields or "id" not in fields:
                return None
            text = "\n".join(data)
            return Event(int(fields["id"]), fields["event"], json.loads(text) if text else None)
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        else:
            self._fields[name] = value
        return None
