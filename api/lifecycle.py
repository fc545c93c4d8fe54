"""Serving with a clean end: on SIGTERM or Ctrl+C the server drains before it stops.

uvicorn, on a signal, stops listening and then waits for every open connection to finish;
a turn streamed to a client would keep it waiting for as long as the turn lasts, and a
pod's SIGKILL would then cut the stream with no end. Here the app first refuses new
turns, gives the running ones ``shutdown_grace_s`` to finish, and interrupts the rest:
each records ``error`` (``run_interrupted``, resumable from its checkpoint) and ``end``, so
every stream ends before uvicorn's own shutdown runs.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn
from sse_starlette.sse import AppStatus

from api.app import create_app
from api.runtime import ChatRuntime
from core.settings import Settings

logger = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """A uvicorn server that drains the chat runtime before its shutdown."""

    def __init__(self, config: uvicorn.Config, runtime: ChatRuntime, grace_s: float) -> None:
        """Serve ``config``; drain ``runtime`` for up to ``grace_s`` on shutdown."""
        super().__init__(config)
        self.runtime = runtime
        self.grace_s = grace_s
        # sse-starlette ends every stream as soon as uvicorn sees the signal, cutting them
        # with no `end`; here they end once their runs have, and the rest after the drain.
        AppStatus.disable_automatic_graceful_drain()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop listening, drain the runs, then shut down as uvicorn does."""
        for server in self.servers:
            server.close()
        logger.info("shutting down: draining running turns")
        drain = asyncio.create_task(self.runtime.drain(self.grace_s))
        # A second Ctrl+C (uvicorn's force_exit) cuts the drain short.
        while not drain.done() and not self.force_exit:
            await asyncio.sleep(0.1)
        if not drain.done():
            drain.cancel()
        try:
            await drain
        except asyncio.CancelledError:
            logger.warning("drain cut short: the stale-run sweep closes what was running")
        except Exception:  # a drain that fails must not keep the process alive
            logger.exception("drain failed")
        AppStatus.should_exit = True  # streams still open (none should be) end now
        await super().shutdown(sockets)


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve the app on ``host:port`` until a signal, then drain and stop."""
    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, log_level=settings.log_level.lower())
    DrainingServer(config, app.state.chat, settings.shutdown_grace_s).run()
