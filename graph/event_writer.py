"""Store one run's events in batches, in order, and deliver each once it is committed.

A turn emits about 40 events (node status, tool calls, the plan) in a few hundred
milliseconds. Storing each in a transaction of its own made the event table the largest
cost of a turn under load: two commits per event (the insert, then its notice), about 70 of
a turn's 115 commits. The writer lets the graph go on while a batch commits; what it emits
meanwhile goes into the next batch, so the busier the server, the fewer transactions per
event. Nothing is delivered before it is committed, so a follower that rejoins from the
table finds every id it saw live; a failed store stops the writer, and the run learns of it
at its next event (``add`` raises) or when it finishes (``settle`` raises).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from graph.run_events import RunEvent

StoreEvents = Callable[[list[RunEvent]], Awaitable[None]]
DeliverEvent = Callable[[RunEvent], None]


class RunEventWriter:
    """The stored and live side of one run's events."""

    def __init__(
        self,
        store: StoreEvents,
        deliver: DeliverEvent,
        *,
        stored_seq: int,
        gather_s: float = 0.0,
    ) -> None:
        """Write batches with ``store`` and hand each committed event to ``deliver``.

        ``stored_seq`` is the last event already in the table (the run's ``metadata``). A
        batch waits ``gather_s`` for the events that follow before it is stored: a turn
        whose steps each wait on their checkpoint emits a few events a step, and the wait
        joins those of several steps in one transaction, for that much more live latency.
        """
        self._gather_s = gather_s
        self._store = store
        self._deliver = deliver
        self._pending: list[RunEvent] = []
        self._flusher: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self.stored_seq = stored_seq
        """The last event committed; what follows it was never delivered."""

    def add(self, event: RunEvent) -> None:
        """Queue ``event`` for the next batch and make sure a batch is on its way.

        Raises:
            BaseException: The error that stopped an earlier batch (the database is gone).

        """
        if self._failure is not None:
            raise self._failure
        self._pending.append(event)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="run-events")

    async def _flush(self) -> None:
        if self._gather_s:
            await asyncio.sleep(self._gather_s)
        while self._pending and self._failure is None:
            batch, self._pending = self._pending, []
            try:
                await self._store(batch)
            except Exception as exc:
                # Kept, not raised: the run reads it at its next event or at its end.
                self._failure = exc
                return
            self.stored_seq = batch[-1].seq
            for event in batch:
                self._deliver(event)

    async def settle(self) -> list[RunEvent]:
        """Wait for the batch in flight; return what is still pending, to store with the end.

        The run's last events go into the transaction that ends the run, so a turn's end costs
        one commit however its events fell into batches.

        Raises:
            BaseException: The error that stopped a batch (the database is gone).

        """
        # Taken before waiting: the batch in flight is the flusher's last, and what was
        # emitted behind it commits with the run's end instead of in a transaction of its own.
        pending, self._pending = self._pending, []
        flusher = self._flusher
        if flusher is not None:
            if not flusher.done():
                # Shielded: a run cancelled while settling must not cut a batch mid-commit;
                # it settles again on its way out and finds the batch done.
                try:
                    await asyncio.shield(flusher)
                except asyncio.CancelledError:
                    self._pending = pending + self._pending  # for the settle on the way out
                    raise
            if flusher.cancelled() and self._failure is None:  # only when the loop closes
                self._failure = RuntimeError("a batch of run events was cut short")
        if self._failure is not None:
            raise self._failure
        return pending

    def committed(self, events: list[RunEvent]) -> None:
        """Record and deliver ``events``, stored by the caller in a transaction of its own."""
        if events:
            self.stored_seq = events[-1].seq
        for event in events:
            self._deliver(event)
