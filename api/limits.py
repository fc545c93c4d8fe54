"""Request limits: a per-user token bucket shared by all replicas, and a body size cap.

The buckets live in Postgres (``limits.rate_buckets``, migration 0009): each limited request
is one atomic upsert that refills the caller's bucket by the time since its last request
(on the database's clock) and takes a token, so every replica gives the same answer and N
replicas still allow the rate once, not N times. While the database cannot be reached, each
process falls back to buckets of its own. Admission by CPU (``api.foreground``,
``graph.runs``) is not shared: it protects the process it runs in.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import choose_request_id

logger = logging.getLogger(__name__)


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

    async def acquire(self, user_id: str) -> float | None:
        """Take one token for ``user_id``; return None if admitted, else seconds to wait."""
        return self.check(user_id)

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """Format a wait as a Retry-After value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait_s)))


# One statement, atomic per key (the upsert locks the row): refill by the time elapsed since
# the bucket's last update, capped at the burst, then take a token if there is one. In an
# UPDATE every right-hand side reads the row as it was, so the refill is computed alike.
_TAKE_SQL = """
insert into limits.rate_buckets as b (key, tokens, admitted, updated_at)
values (%(key)s, %(cap)s - 1, true, now())
on conflict (key) do update set
    admitted = least(%(cap)s, b.tokens
        + greatest(0, extract(epoch from now() - b.updated_at)) * %(rate)s) >= 1,
    tokens = least(%(cap)s, b.tokens
        + greatest(0, extract(epoch from now() - b.updated_at)) * %(rate)s)
        - case when least(%(cap)s, b.tokens
            + greatest(0, extract(epoch from now() - b.updated_at)) * %(rate)s) >= 1
          then 1 else 0 end,
    updated_at = now()
returning admitted, tokens
"""


class SharedRateLimiter(RateLimiter):
    """The per-user token bucket of ``RateLimiter``, kept in Postgres for every replica.

    ``pool`` is set once the app's pool exists; until then, and while the database does not
    answer, the buckets of this process decide.
    """

    def __init__(self, per_minute: int, *, enabled: bool = True) -> None:
        """Configure the rate; ``enabled=False`` admits everything."""
        super().__init__(per_minute, enabled=enabled)
        self.pool: AsyncConnectionPool[Any] | None = None

    async def acquire(self, user_id: str) -> float | None:
        """Take a token for ``user_id`` from the shared bucket; None if admitted, else the wait."""
        if not self.enabled or self.per_minute <= 0:
            return None
        if self.pool is None:
            return self.check(user_id)
        rate = self.per_minute / 60.0
        params = {"key": f"user:{user_id}", "cap": float(self.per_minute), "rate": rate}
        try:
            async with self.pool.connection() as conn:
                row = await (await conn.execute(_TAKE_SQL, params)).fetchone()
        except Exception as exc:  # the database is away: this process's buckets decide
            logger.debug("shared rate limit unavailable: %s", type(exc).__name__)
            return self.check(user_id)
        if row is None or row["admitted"]:
            return None
        return (1.0 - float(row["tokens"])) / rate

    async def prune(self) -> int:
        """Delete buckets idle long enough to be full again (they carry no information)."""
        if self.pool is None:
            return 0
        idle_s = 60.0 + 60.0  # a bucket refills within a minute; keep a minute's margin
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "delete from limits.rate_buckets"
                " where updated_at < now() - make_interval(secs => %s)",
                (idle_s,),
            )
            return cursor.rowcount


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
