"""Cross-replica wake-ups for run events: Postgres ``LISTEN``/``NOTIFY``.

Once a run event is committed, the process that stored it announces it on the channel
``stack8s_run_events`` with the payload ``'<run id>:<seq>'``: not in the event's own
transaction, because a transaction that notifies holds a database-wide lock from its commit
to the end of its WAL flush, which serialises every committing event (measured: 20 writers
went from ~1,000 to ~500 commits/s). A ``RunEventNotifier`` sends what was committed
meanwhile in one statement, one transaction for many events, right after. A replica
that streams a run executing in another process listens on that channel with one connection
of its own and wakes the run's followers, which then read ``seq > last`` from
``chat.run_events``: the table stays the source of truth, a notice only says "look now".
While the listening connection is down, followers fall back to polling the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

CHANNEL = "stack8s_run_events"
NOTIFY_SQL = "select pg_notify('" + CHANNEL + "', %s)"
"""Announce a stored event; its one parameter is ``notice_payload(run_id, seq)``."""
GATHER_S = 0.005
"""How long the notifier waits for more notices before sending; it adds that to the live
latency of a run followed on another replica (target 50 ms p50)."""
NOTIFY_MANY_SQL = "select pg_notify('" + CHANNEL + "', p) from unnest(%s::text[]) as p"


def notice_payload(run_id: str, seq: int) -> str:
    """Return the payload of the notice for event ``seq`` of ``run_id``."""
    return f"{run_id}:{seq}"


def parse_notice(payload: str) -> tuple[str, int] | None:
    """Return ``(run_id, seq)`` from a notice payload, or None when it is not one of ours."""
    run_id, sep, seq = payload.rpartition(":")
    if not sep or not run_id or not seq.isdigit():
        return None
    return run_id, int(seq)


class RunEventNotifier:
    """Announce committed events in batches, from one task, on a connection of its own.

    ``announce`` returns at once; the task sends the latest seq of every run announced since
    its last send. Its own connection keeps it out of the pool's queue, where the runs wait
    to store their events. A lost batch (database away) costs followers on other replicas
    their wake-up, not an event: they read the table on their next re-check.
    """

    def __init__(self, conninfo: str, kwargs: dict[str, Any]) -> None:
        """Connect with ``conninfo`` and connection ``kwargs`` (those of the app's pool)."""
        self._conninfo = conninfo
        self._kwargs = {k: v for k, v in kwargs.items() if k != "prepare_threshold"}
        self._kwargs["autocommit"] = True
        self._pending: dict[str, int] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None

    def announce(self, run_id: str, seq: int) -> None:
        """Queue the notice for committed event ``seq`` of ``run_id``."""
        self._pending[run_id] = max(seq, self._pending.get(run_id, 0))
        self._ready.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send(), name="run-event-notifier")

    async def _send(self) -> None:
        while True:
            await self._ready.wait()
            # A short wait gathers the notices of the runs committing meanwhile: under load
            # one transaction announces tens of events, instead of one per commit.
            await asyncio.sleep(GATHER_S)
            self._ready.clear()
            batch, self._pending = self._pending, {}
            payloads = [notice_payload(run_id, seq) for run_id, seq in batch.items()]
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await asyncio.wait_for(
                        psycopg.AsyncConnection.connect(self._conninfo, **self._kwargs), 2.0
                    )
                await self._conn.execute(NOTIFY_MANY_SQL, (payloads,))
            except Exception as exc:  # followers elsewhere re-check the table on their own
                logger.debug("run event notices not sent: %s", type(exc).__name__)
                await self._close()

    async def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None

    async def aclose(self) -> None:
        """Stop sending (what is pending is dropped) and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._close()


class RunEventListener:
    """One ``LISTEN`` connection per process that wakes the followers of remote runs.

    The connection opens on the first ``watch`` and reconnects after a failure, with back-off;
    each (re)connection wakes every follower, since notices sent while it was down are lost.
    """

    def __init__(self, conninfo: str, kwargs: dict[str, Any], *, retry_s: float = 1.0) -> None:
        """Connect with ``conninfo`` and connection ``kwargs`` (those of the app's pool)."""
        self._conninfo = conninfo
        self._kwargs = {k: v for k, v in kwargs.items() if k != "prepare_threshold"}
        self._kwargs["autocommit"] = True
        self._retry_s = retry_s
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        """Whether notices arrive now; followers poll the table while they do not."""

    def watch(self, run_id: str) -> asyncio.Event:
        """Return an event set whenever ``run_id`` may have new stored events."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="run-event-listener")
        wake = asyncio.Event()
        self._waiters.setdefault(run_id, set()).add(wake)
        return wake

    def unwatch(self, run_id: str, wake: asyncio.Event) -> None:
        """Stop waking ``wake``."""
        waiters = self._waiters.get(run_id)
        if waiters is not None:
            waiters.discard(wake)
            if not waiters:
                self._waiters.pop(run_id, None)

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for wake in waiters:
                wake.set()

    async def _listen(self) -> None:
        delay = self._retry_s
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, **self._kwargs)
                async with conn:
                    await conn.execute("listen " + CHANNEL)
                    self.connected, delay = True, self._retry_s
                    self._wake_all()  # what was committed before LISTEN took effect
                    async for notice in conn.notifies():
                        parsed = parse_notice(notice.payload)
                        if parsed is None:
                            continue
                        for wake in self._waiters.get(parsed[0], ()):
                            wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: poll until it is back
                logger.debug("run event listener lost: %s", type(exc).__name__)
            finally:
                self.connected = False
                self._wake_all()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def aclose(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
