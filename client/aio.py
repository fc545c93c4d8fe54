"""The asyncio client: ``AsyncStack8sClient``, the same calls as ``Stack8sClient``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from client import _http
from client.models import ChatSummary, ChatTurn, Event, EventParser, LLMOptions, StreamLostError


class AsyncStack8sClient:
    """Talk to a Stack8s server from asyncio code; see ``Stack8sClient`` for each call."""

    def __init__(
        self,
        base_url: str = _http.DEFAULT_URL,
        *,
        token: str | None = None,
        timeout_s: float = 180.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Open an HTTP client for ``base_url`` (``transport`` is for tests and proxies)."""
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=_http.headers(token),
            timeout=timeout_s,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncStack8sClient:
        """Return the client."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close the client."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        _http.raise_for_error(response)
        return response.json() if response.content else None

    async def health(self) -> dict[str, Any]:
        """Return ``GET /health``."""
        result: dict[str, Any] = await self._json("GET", "/health")
        return result

    async def ready(self) -> dict[str, Any]:
        """Return ``GET /ready`` (its ``status`` says ready, catalogs_empty or unavailable)."""
        response = await self._http.get("/ready")
        result: dict[str, Any] = response.json()
        return result

    async def start_chat(self) -> str:
        """Start an empty chat and return its id."""
        return str((await self._json("POST", "/api/v1/chat/start"))["conversation_id"])

    async def send_message(
        self, message: str, conversation_id: str | None = None, *, llm: LLMOptions | None = None
    ) -> ChatTurn:
        """Send one message and wait for the answer (a new chat without ``conversation_id``).

        Raises:
            Stack8sError: the API refused (404 no such chat, 409 busy, 413, 422, 429, ...).

        """
        body = await self._json(
            "POST",
            "/api/v1/chat/message",
            json=_http.message_body(message, conversation_id),
            headers=(llm or LLMOptions()).headers(),
        )
        return ChatTurn.from_json(body)

    async def stream_message(
        self,
        message: str,
        conversation_id: str | None = None,
        *,
        llm: LLMOptions | None = None,
        max_rejoins: int = 5,
    ) -> AsyncIterator[Event]:
        """Send one message and yield the run's events until ``end``, rejoining if cut.

        Raises:
            Stack8sError: the API refused the message.
            StreamLostError: the stream could not be rejoined ``max_rejoins`` times in a row.

        """
        headers = {"Accept": _http.SSE, **(llm or LLMOptions()).headers()}
        body = _http.message_body(message, conversation_id)
        run_id, thread_id, last = None, conversation_id, 0
        try:
            async with self._http.stream(
                "POST", "/api/v1/chat/message", json=body, headers=headers
            ) as response:
                if response.status_code >= 400:
                    _http.raise_for_error(response, await response.aread())
                async for event in _events(response):
                    if event.event == "metadata":
                        run_id = str(event.data["run_id"])
                        thread_id = str(event.data.get("thread_id") or thread_id)
                    last = event.id
                    yield event
                    if event.is_end:
                        return
        except _http.BROKEN:
            if run_id is None:
                raise
        if run_id is None or thread_id is None:
            raise StreamLostError(0, "stream_lost", "the stream ended before its metadata", None)
        async for event in self._follow(thread_id, run_id, last, max_rejoins):
            yield event

    async def rejoin(
        self, conversation_id: str, run_id: str, last_event_id: int = 0
    ) -> AsyncIterator[Event]:
        """Yield a run's events after ``last_event_id`` until ``end`` (one connection).

        Raises:
            Stack8sError: no such run in this chat (404).

        """
        headers = {"Accept": _http.SSE, "Last-Event-ID": str(last_event_id)}
        path = _http.rejoin_path(conversation_id, run_id)
        async with self._http.stream("GET", path, headers=headers) as response:
            if response.status_code >= 400:
                _http.raise_for_error(response, await response.aread())
            async for event in _events(response):
                yield event
                if event.is_end:
                    return

    async def _follow(
        self, conversation_id: str, run_id: str, last: int, max_rejoins: int
    ) -> AsyncIterator[Event]:
        failures = 0
        while failures < max_rejoins:
            try:
                async for event in self.rejoin(conversation_id, run_id, last):
                    last = event.id
                    failures = 0
                    yield event
                    if event.is_end:
                        return
            except _http.BROKEN:
                pass
            failures += 1
            await asyncio.sleep(min(0.25 * 2**failures, 4.0))
        raise StreamLostError(0, "stream_lost", f"could not rejoin run {run_id}", None)

    async def get_chat(self, conversation_id: str) -> dict[str, Any]:
        """Return a chat's messages, latest spec and plan, and any run in progress."""
        result: dict[str, Any] = await self._json("GET", f"/api/v1/chat/{conversation_id}")
        return result

    async def list_chats(
        self, *, limit: int = 20, offset: int = 0
    ) -> tuple[list[ChatSummary], int | None]:
        """Return one page of chats (newest first) and the next page's offset, if any."""
        body = await self._json("GET", "/api/v1/chats", params={"limit": limit, "offset": offset})
        return _http.chats(body)

    async def rename_chat(self, conversation_id: str, title: str) -> None:
        """Rename a chat."""
        await self._json("PATCH", f"/api/v1/chat/{conversation_id}", json={"title": title})

    async def delete_chat(self, conversation_id: str) -> None:
        """Delete a chat, its runs, events and checkpoints."""
        await self._json("DELETE", f"/api/v1/chat/{conversation_id}")

    async def compute_search(self, **filters: Any) -> dict[str, Any]:
        """Rank instances (``POST /api/v1/tools/compute/search``; see /docs for filters)."""
        path = "/api/v1/tools/compute/search"
        result: dict[str, Any] = await self._json("POST", path, json=filters)
        return result

    async def k8s_search(self, query: str, *, top_k: int = 5) -> dict[str, Any]:
        """Rank Helm charts for ``query``."""
        body = {"query": query, "top_k": top_k}
        result: dict[str, Any] = await self._json("POST", "/api/v1/tools/k8s/search", json=body)
        return result

    async def hf_search(self, query: str, **filters: Any) -> dict[str, Any]:
        """Find catalog models whose cards match ``query`` (pipeline_tag, license_filter, ...)."""
        body = {"query": query, **filters}
        result: dict[str, Any] = await self._json("POST", "/api/v1/tools/hf/search", json=body)
        return result

    async def sizing(self, **workload: Any) -> dict[str, Any]:
        """Size a model's VRAM (``model_id`` or ``architecture``, and the workload)."""
        result: dict[str, Any] = await self._json("POST", "/api/v1/tools/sizing", json=workload)
        return result


async def _events(response: httpx.Response) -> AsyncIterator[Event]:
    parser = EventParser()
    async for line in response.aiter_lines():
        event = parser.feed(line)
        if event is not None:
            yield event
