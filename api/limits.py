"""Request limits: a per-user token bucket (in this process) and a body size cap.

Each replica keeps its own buckets, so N replicas allow up to N times the rate; that is
the price of needing no shared store (``REDIS_URL`` is reserved for a shared limiter).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import choose_request_id


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allow ``per_minute`` requests per user, in bursts of up to ``per_minute``."""

    def __init__(self, per_minute: int, *, enabled: bool = True, max_users: int = 100_000) -> None:
        """Configure the rate; ``enabled=False`` admits everything."""
        self.per_minute = per_minute
        self.enabled = enabled
        self._max_users = max_users
        self._buckets: dict[str, _Bucket] = {}

    def check(self, user_id: str, now: float | None = None) -> float | None:
        """Take one token for ``user_id``; return None if admitted, else seconds to wait."""
        if not self.enabled or self.per_minute <= 0:
            return None
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= self._max_users:
                # Full buckets carry no information; dropping them all only forgives bursts.
                self._buckets.clear()
            bucket = self._buckets[user_id] = _Bucket(float(self.per_minute), now)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """Format a wait as a Retry-After value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait_s)))


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes``, in the one error shape.

    By Content-Length before anyone reads the body; a chunked body (no Content-Length) is
    counted as it is read and refused once it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = 64 * 1024) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes
        self._message = f"request bodies are limited to {max_bytes // 1024} KB"

    def _too_large(self, scope: Scope, headers: Headers) -> JSONResponse:
        # The request-id middleware runs first and keeps its choice in the scope.
        state = scope.get("state") or {}
        rid = state.get("request_id") or choose_request_id(headers.get("x-request-id"))
        return JSONResponse(
            {
                "code": "payload_too_large",
                "message": self._message,
                "request_id": rid,
            },
            status_code=413,
            headers={"X-Request-ID": rid},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413 in the one error shape."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(scope, headers)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body, so the
                    # app's handler answers it in the one error shape.
                    raise HTTPException(413, self._message)
            return message

        await self.app(scope, counting_receive, send)
