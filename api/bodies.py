"""Bodies before gates: a request's whole body is read before anything admits it.

The middleware that puts turn-starting requests in the foreground (``api.foreground``)
admits a few at a time and holds running turns back while they are there. A client that
sends its body slowly would hold that place as long as it likes: four such clients stop
every offline turn of the process. So the body is read first, under a deadline and the
size limit, and only a request whose body is complete goes on; the handlers then read it
from memory.
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import choose_request_id

DEFAULT_MAX_BYTES = 64 * 1024
DEFAULT_TIMEOUT_S = 10.0


class ReadBodyFirstMiddleware:
    """Read each HTTP request's body in full (within ``timeout_s`` and ``max_bytes``) first.

    A body over the limit is a 413 and one that does not arrive in time a 408, both in the
    one error shape; a client that leaves mid-body gets no answer. The inner app receives
    the body as one message, then the client's later messages (a disconnect) as they come.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def _error(self, scope: Scope, status: int, code: str, message: str) -> JSONResponse:
        state = scope.get("state") or {}
        rid = state.get("request_id") or choose_request_id(
            Headers(scope=scope).get("x-request-id")
        )
        return JSONResponse(
            {"code": code, "message": message, "request_id": rid},
            status_code=status,
            # The rest of the body is never read: the connection cannot be reused.
            headers={"X-Request-ID": rid, "Connection": "close"},
        )

    async def _read(self, receive: Receive) -> tuple[bytes, bool] | None:
        """Return the body and whether it is over the limit, or None if the client left."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body, then hand the request on with the body already in memory."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        too_large = f"request bodies are limited to {self.max_bytes // 1024} KB"
        if length.isdigit() and int(length) > self.max_bytes:
            await self._error(scope, 413, "payload_too_large", too_large)(scope, receive, send)
            return
        try:
            read = await asyncio.wait_for(self._read(receive), self.timeout_s)
        except TimeoutError:
            slow = f"the request body did not arrive within {self.timeout_s:g} s"
            await self._error(scope, 408, "request_timeout", slow)(scope, receive, send)
            return
        if read is None:
            return  # the client left before its body was complete: nobody to answer
        body, over = read
        if over:
            await self._error(scope, 413, "payload_too_large", too_large)(scope, receive, send)
            return
        pending: Message | None = {"type": "http.request", "body": body, "more_body": False}

        async def replay() -> Message:
            nonlocal pending
            if pending is not None:
                message, pending = pending, None
                return message
            return await receive()

        await self.app(scope, replay, send)
