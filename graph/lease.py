"""Run leases: how any replica tells, within seconds, that a run's process is gone.

The process that executes a run holds a session-level advisory lock on it, on one
connection of its own for all its runs, and beats the runs' ``heartbeat_at`` every
``beat_s`` through its pool. Postgres drops a session's locks as soon as the session ends,
which it does when the process dies (the kernel closes its socket), so a run whose lock is
free and whose heartbeat has stopped belongs to no one: ``graph.chat_store.sweep_stale_runs`` on
any replica closes it. Either sign alone is not enough: a lock is also lost with its
connection while the process lives on (its heartbeat says so), and a heartbeat can be late
while the process is busy (its lock says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger(__name__)

LOCK_SPACE = 817_001
"""First key of every run lock (the second is ``hashtext(run id)``): apart from other locks."""
LOCK_KEY_SQL = "%s, hashtext(%s::text)"


class RunLeases:
    """The advisory locks and heartbeats of the runs this process executes."""

    connect_timeout_s: float = 2.0
    """Longest a run's start waits for the lock connection; the heartbeat covers it after."""

    def __init__(self, pool: AsyncConnectionPool[Any], *, beat_s: float = 2.0) -> None:
        """Lock on a connection made like ``pool``'s, beat through ``pool``."""
        self._pool = pool
        kwargs = dict(pool.kwargs) if isinstance(pool.kwargs, dict) else {}
        kwargs.pop("prepare_threshold", None)
        self._kwargs = {**kwargs, "autocommit": True}
        self._beat_s = beat_s
        self._held: set[str] = set()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._guard = asyncio.Lock()
        self._beater: asyncio.Task[None] | None = None

    @property
    def held(self) -> frozenset[str]:
        """Return the runs whose lease this process holds."""
        return frozenset(self._held)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        """Return the lock connection, (re)opening it and taking every held run's lock again."""
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = await psycopg.AsyncConnection.connect(str(self._pool.conninfo), **self._kwargs)
        for run_id in self._held:
            await conn.execute(
                f"select pg_try_advisory_lock({LOCK_KEY_SQL})", (LOCK_SPACE, run_id)
            )
        self._conn = conn
        return conn

    async def _on_lock_connection(self, sql: str, run_id: str, *, reconnect: bool) -> None:
        async with self._guard:
            try:
                if reconnect:
                    conn = await asyncio.wait_for(self._connection(), self.connect_timeout_s)
                elif self._conn is None or self._conn.closed:
                    return  # no session, no lock to give back
                else:
                    conn = self._conn
                await conn.execute(sql, (LOCK_SPACE, run_id))
            except Exception as exc:  # the heartbeat still speaks for the run meanwhile
                logger.debug("run lease of %s not updated: %s", run_id, type(exc).__name__)
                await self._drop()

    async def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None

    async def hold(self, run_id: str) -> None:
        """Take the lease of a run this process starts executing."""
        self._held.add(run_id)
        if self._beater is None or self._beater.done():
            self._beater = asyncio.create_task(self._beat(), name="run-leases")
        await self._on_lock_connection(
            f"select pg_try_advisory_lock({LOCK_KEY_SQL})", run_id, reconnect=True
        )

    async def release(self, run_id: str) -> None:
        """Give up the lease of a run whose end is recorded (or that ends here unrecorded)."""
        if run_id not in self._held:
            return
        self._held.discard(run_id)
        # Never reconnects: a run that ends while the database is away must not wait for it.
        await self._on_lock_connection(
            f"select pg_advisory_unlock({LOCK_KEY_SQL})", run_id, reconnect=False
        )

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._beat_s)
            if not self._held:
                continue
            try:
                async with self._pool.connection() as conn:
                    await conn.execute(
                        "update chat.runs set heartbeat_at = now()"
                        " where id = any(%s::uuid[]) and status = 'running'",
                        (list(self._held),),
                    )
            except Exception as exc:  # the database is away; the next beat tries again
                logger.debug("run heartbeat skipped: %s", type(exc).__name__)
            async with self._guard:
                try:  # a lock connection found closed reopens, taking the locks again
                    conn = await asyncio.wait_for(self._connection(), self.connect_timeout_s)
                    await conn.execute("select 1")
                except Exception as exc:
                    logger.debug("run lease connection lost: %s", type(exc).__name__)
                    await self._drop()

    async def aclose(self) -> None:
        """Stop beating and close the lock connection (which frees every lock)."""
        if self._beater is not None:
            self._beater.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._beater
        async with self._guard:
            await self._drop()


async def owner_gone(conn: psycopg.AsyncConnection[Any], run_id: str) -> bool:
    """Take a run's lock on ``conn`` if no session holds it; say whether it was free.

    The caller holds the lock for its session when this returns True, and gives it back with
    ``let_go``: meanwhile the run's owner, should it still be alive, cannot take it again.
    """
    row = await (
        await conn.execute(
            f"select pg_try_advisory_lock({LOCK_KEY_SQL}) as free", (LOCK_SPACE, run_id)
        )
    ).fetchone()
    return bool(row and (row["free"] if isinstance(row, dict) else row[0]))


async def let_go(conn: psycopg.AsyncConnection[Any], run_id: str) -> None:
    """Give back a lock taken by ``owner_gone``."""
    await conn.execute(f"select pg_advisory_unlock({LOCK_KEY_SQL})", (LOCK_SPACE, run_id))
