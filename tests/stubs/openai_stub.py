"""A local OpenAI-compatible server for tests: POST /v1/chat/completions, plain or streamed.

It stands in for vLLM, Ollama's /v1 or OpenAI itself: a real uvicorn server on a free
loopback port, in a thread. Each request is recorded (headers included, so a test can see
which key arrived) and answered by a script (tests.stubs.script): tool calls, text, or an
HTTP error. With ``"stream": true`` the answer is sent as SSE chunks in OpenAI's format —
content and tool-call argument deltas, a finish chunk, a usage chunk when asked, then
``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.stubs.script import Reply

START_TIMEOUT_S = 10.0


@dataclass
class Recorded:
    """One request the stub received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _pieces(text: str, n: int = 3) -> list[str]:
    """Split text into n roughly equal pieces, so that streamed deltas must be joined."""
    if not text:
        return []
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"id": tc.id, "type": "function", "function": {"name": tc.name, "arguments": tc.arguments}}
        for tc in reply.tool_calls
    ]


def completion(reply: Reply, model: str) -> dict[str, Any]:
    """Return a non-streamed chat completion."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def chunks(reply: Reply, model: str, *, include_usage: bool) -> Iterator[dict[str, Any]]:
    """Yield the streamed chunks of a reply, in the order OpenAI sends them."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(reply.content):
        yield chunk({"content": piece})
    for i, tc in enumerate(reply.tool_calls):
        head = {"index": i, "id": tc.id, "type": "function"}
        yield chunk({"tool_calls": [{**head, "function": {"name": tc.name, "arguments": ""}}]})
        for piece in _pieces(tc.arguments):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if include_usage:
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        yield {**base, "choices": [], "usage": usage}


class OpenAIStub:
    """The server, its recorded requests and the script that answers them."""

    def __init__(self, script: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.script: Callable[[dict[str, Any]], Reply] = script or (lambda _: Reply("ok"))
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """Return the OpenAI-style base URL (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self, script: Callable[[dict[str, Any]], Reply]) -> None:
        """Answer with ``script`` from now on and forget earlier requests."""
        with self._lock:
            self.script = script
            self.requests.clear()

    def chat_requests(self) -> list[Recorded]:
        """Return the chat completion requests received so far."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append(Recorded(request.url.path, dict(request.headers), body))
            script = self.script
        reply = script(body)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status != 200:
            error = {"message": "scripted failure", "type": "server_error", "code": None}
            return JSONResponse({"error": error}, status_code=reply.status)
        model = body.get("model", "stub-model")
        if not body.get("stream"):
            return JSONResponse(completion(reply, model))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events() -> AsyncIterator[str]:
            for item in chunks(reply, model, include_usage=include_usage):
                yield f"data: {json.dumps(item)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def start(self) -> None:
        """Serve on a free loopback port in a daemon thread; return once it accepts."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the OpenAI stub did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server and wait (bounded) for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextmanager
def running_stub(script: Callable[[dict[str, Any]], Reply] | None = None) -> Iterator[OpenAIStub]:
    """Run a stub for the duration of a ``with`` block."""
    stub = OpenAIStub(script)
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()
