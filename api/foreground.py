"""ASGI middleware: a request that starts a turn is foreground until its first byte is sent.

See ``graph.foreground``. Only the endpoints that start a turn take part; a handler that
then waits for the whole turn (a message answered as JSON) steps aside first with
``step_aside(request)``, or it would hold back the very turn it waits for.
"""

from __future__ import annotations

import asyncio
import re

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.foreground import ForegroundGate

_STARTS_A_TURN = re.compile(r"^/api/v1/chat/(message|[^/]+/resume)$")
_RELEASE_KEY = "foreground_release"


class ForegroundFirstMiddleware:
    """Hold running turns back while a turn-starting request is on its way to a first byte.

    At most ``admit`` such requests are handled at once; the others wait here, in arrival
    order. Two hundred started together would otherwise take turns on the event loop step
    by step and all get their first byte near the end; admitted a few at a time, the first
    ones are answered at once and the median halves.
    """

    def __init__(self, app: ASGIApp, gate: ForegroundGate, admit: int = 4) -> None:
        """Wrap ``app``; ``gate`` is the one the run manager waits on."""
        self.app = app
        self.gate = gate
        self._admission = asyncio.Semaphore(admit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Mark the request foreground until its first body chunk (or its end)."""
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not _STARTS_A_TURN.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        self.gate.enter()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.gate.leave()
                self._admission.release()

        try:
            await self._admission.acquire()
        except BaseException:
            self.gate.leave()
            raise

        scope.setdefault("state", {})[_RELEASE_KEY] = release

        async def send_then_release(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body":
                release()

        try:
            await self.app(scope, receive, send_then_release)
        finally:
            release()


def step_aside(request: Request) -> None:
    """Leave the foreground before waiting on a turn (no-op outside the middleware)."""
    release = request.scope.get("state", {}).get(_RELEASE_KEY)
    if release is not None:
        release()
