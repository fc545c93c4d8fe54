"""Following a run: its stored events first, then live ones, without a gap or a duplicate.

A run executing in this process pushes its events to the ``RunHub``; one executing in another
replica is followed through the table, which its ``NOTIFY`` notices say when to read
(``graph.notify``). Either way the stored ``seq`` orders the events, and ``end`` ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from psycopg_pool import AsyncConnectionPool

from graph import chat_store
from graph.notify import RunEventListener
from graph.run_events import RunEvent
from graph.run_hub import RunHub


async def follow_run(
    pool: AsyncConnectionPool[Any],
    hub: RunHub,
    listener: RunEventListener,
    user_id: str,
    run_id: str,
    after: int = 0,
    *,
    events: asyncio.Queue[RunEvent] | None = None,
    poll_s: float = 0.25,
    recheck_s: float = 2.0,
) -> AsyncIterator[RunEvent]:
    """Yield the run's events with ``seq > after``: stored ones, then live, up to ``end``.

    ``events`` is the queue of a run just started with ``subscribe``: it already holds
    every event, so the table is not read. A run executing in this process is followed
    through ``hub``; one executing elsewhere through the table, woken by ``listener``'s
    notices, or every ``poll_s`` while it is disconnected, and re-checked every
    ``recheck_s``.
    """
    # Subscribe before reading the table, so that nothing committed in between is lost;
    # the seq check drops what both paths deliver.
    queue = events if events is not None else hub.subscribe(run_id)
    # Watch before reading the table too, for the same reason.
    wake = listener.watch(run_id) if queue is None else None
    last = after
    try:
        stored = (
            [] if events is not None else await chat_store.events_after(pool, user_id, run_id, last)
        )
        for item in stored:
            last = item.seq
            yield item
            if item.event == "end":
                return
        while True:
            if queue is not None:
                item = await queue.get()
                if item.seq <= last:
                    continue
                last = item.seq
                yield item
                if item.event == "end":
                    return
                continue
            # The run executes in another process: its notices wake us (or, while the
            # listener is down, a short poll); a longer re-check catches a run that ends
            # without an event, such as one deleted with its chat.
            assert wake is not None
            patience = recheck_s if listener.connected else poll_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), patience)
            woken = wake.is_set()
            wake.clear()
            # Status first: once it says finished, the end event is already stored.
            running = True if woken else await chat_store.still_running(pool, user_id, run_id)
            for item in await chat_store.events_after(pool, user_id, run_id, last):
                last = item.seq
                yield item
                if item.event == "end":
                    return
            if not running:
                return
    finally:
        if queue is not None:
            hub.unsubscribe(run_id, queue)
        if wake is not None:
            listener.unwatch(run_id, wake)
