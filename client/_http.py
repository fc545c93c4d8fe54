"""What the sync and async clients share: paths, headers, and reading answers."""

from __future__ import annotations

from typing import Any

import httpx

from client.models import ChatSummary, Stack8sError

DEFAULT_URL = "http://127.0.0.1:8000"
SSE = "text/event-stream"
# Errors that mean the connection broke, not that the server refused: worth a rejoin.
BROKEN = (httpx.TransportError,)


def headers(token: str | None) -> dict[str, str]:
    """Return the headers every request carries."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def message_body(message: str, conversation_id: str | None) -> dict[str, Any]:
    """Return the body of ``POST /api/v1/chat/message``."""
    body: dict[str, Any] = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return body


def rejoin_path(conversation_id: str, run_id: str) -> str:
    """Return the path that rejoins a run's stream."""
    return f"/api/v1/chat/{conversation_id}/runs/{run_id}/stream"


def raise_for_error(response: httpx.Response, body: bytes | None = None) -> None:
    """Raise ``Stack8sError`` for an error answer (read in the one error shape when it is).

    Raises:
        Stack8sError: the status is 400 or above.

    """
    if response.status_code < 400:
        return
    raw = body if body is not None else response.content
    try:
        error = httpx.Response(response.status_code, content=raw).json()
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    raise Stack8sError(
        response.status_code,
        str(error.get("code") or "http_error"),
        str(error.get("message") or response.reason_phrase),
        error.get("request_id") or response.headers.get("x-request-id"),
    )


def chats(body: dict[str, Any]) -> tuple[list[ChatSummary], int | None]:
    """Read a ``ChatList`` body."""
    items = [
        ChatSummary(
            conversation_id=str(item["conversation_id"]),
            title=item.get("title"),
            created_at=str(item["created_at"]),
            updated_at=str(item["updated_at"]),
        )
        for item in body.get("items", [])
    ]
    return items, body.get("next_offset")
