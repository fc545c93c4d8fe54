"""What the chat endpoints share for the life of the app: graph runs, auth, vault, limits.

Started in the app's lifespan: it builds the graph's resources (settings, the app's pool, the
embedder), which the run manager hands to every run in its runtime context so that every
node uses the app's pool; compiles the graph once with the Postgres checkpointer; and closes
the runs a dead process left behind. When the
database is not reachable at start-up the app still starts (``/ready`` says 503) and the
graph is compiled on the first chat request instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from psycopg_pool import AsyncConnectionPool

from api.auth import LOCAL_NOTICE, TokenVerifier
from api.heap import FreezeAfterFirstTurn, freeze_long_lived
from api.limits import SharedRateLimiter
from api.metrics import observe_run_event
from api.vault import Vault
from core.embeddings import get_embedder
from core.resources import Resources
from core.settings import Settings
from graph.chat_store import sweep_stale_runs
from graph.checkpointer import compile_with_postgres
from graph.context import Context
from graph.foreground import ForegroundGate
from graph.run_events import RunEvent
from graph.runs import RunManager

logger = logging.getLogger(__name__)

_STARTUP_TIMEOUT_S = 15.0


class ChatRuntime:
    """The chat API's long-lived parts; one per app."""

    sweep_every_s: float = 1.0
    """How often runs whose process is gone are looked for after start-up (one indexed query
    while there are none): a replica that crashed leaves runs only the others can close, and
    with runs' heartbeats 2 s apart and a 5 s threshold they are closed within about 6 s."""

    prune_buckets_every: int = 60
    """Sweeps between two prunings of idle rate-limit buckets."""

    def __init__(self, settings: Settings) -> None:
        """Build the parts that need no database."""
        self.settings = settings
        self.verifier = TokenVerifier(settings)
        self.vault = Vault(settings.vault_master_key)
        self.limiter = SharedRateLimiter(
            settings.rate_limit_per_minute, enabled=settings.rate_limit_enabled
        )
        self.pool: AsyncConnectionPool[Any] | None = None
        self._resources: Resources | None = None
        self._runs: RunManager | None = None
        self._lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None
        self._freeze_after_first_turn = FreezeAfterFirstTurn()
        self.foreground = ForegroundGate()
        """Requests starting a turn go ahead of running turns (api.foreground)."""
        self.draining = False
        """Set on SIGTERM: new turns are refused (503) while running ones finish."""

    async def start(self, pool: AsyncConnectionPool[Any]) -> None:
        """Build the graph's resources, compile the graph and sweep stale runs."""
        self.pool = pool
        self.limiter.pool = pool
        self._resources = Resources(self.settings, pool, get_embedder(self.settings))
        if not self.settings.auth_enabled:
            logger.warning(LOCAL_NOTICE)
        try:
            await asyncio.wait_for(self.runs(), timeout=_STARTUP_TIMEOUT_S)
            await asyncio.wait_for(sweep_stale_runs(pool), timeout=_STARTUP_TIMEOUT_S)
        except Exception as exc:  # the database may come later; chat requests retry
            logger.warning("chat runtime not ready at start-up: %s", type(exc).__name__)
        self._sweeper = asyncio.create_task(self._sweep_periodically(pool))
        freeze_long_lived()

    async def _sweep_periodically(self, pool: AsyncConnectionPool[Any]) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self.sweep_every_s)
            rounds += 1
            try:
                own = self._runs.leases.held if self._runs is not None else frozenset()
                await sweep_stale_runs(pool, exclude=own)
                if rounds % self.prune_buckets_every == 0:
                    await self.limiter.prune()
            except Exception as exc:  # the database may be away; the next round retries
                logger.debug("stale-run sweep skipped: %s", type(exc).__name__)

    async def runs(self) -> RunManager:
        """Return the run manager, compiling the graph on first use."""
        if self._runs is not None:
            return self._runs
        async with self._lock:
            if self._runs is None:
                if self.pool is None:
                    raise RuntimeError("the chat runtime has not been started")
                graph = await compile_with_postgres(self.pool)
                self._runs = RunManager(
                    self.pool,
                    graph,
                    on_event=self._observe,
                    cpu_bound=self._offline,
                    # Measured on 2 cores (bench/load_sse.py): 4 at a time keeps a core busy
                    # while another run waits on Postgres; more only adds contention.
                    max_cpu_bound=2 * (os.cpu_count() or 1),
                    foreground=self.foreground,
                    resources=self._resources,
                )
        return self._runs

    def _observe(self, event: RunEvent) -> None:
        observe_run_event(event)
        self._freeze_after_first_turn(event)

    def _offline(self, context: Context) -> bool:
        return (context.llm_provider or self.settings.llm_provider) == "offline"

    async def drain(self, grace_s: float) -> None:
        """Refuse new turns, give running ones ``grace_s`` to finish, interrupt the rest."""
        self.draining = True
        if self._runs is not None:
            await self._runs.drain(grace_s)

    async def stop(self) -> None:
        """Cancel local runs (they record themselves as failed) and release resources."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._runs is not None:
            await self._runs.shutdown()
        await self.verifier.aclose()
