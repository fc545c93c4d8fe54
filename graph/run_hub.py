"""The in-process side of live runs: fan-out of events to listeners, and a started run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from graph.run_events import RunEvent, TurnOutcome


class RunHub:
    """In-process fan-out of live events to the listeners of each run."""

    def __init__(self) -> None:
        """Start with no live runs."""
        self._listeners: dict[str, set[asyncio.Queue[RunEvent]]] = {}

    def open(self, run_id: str) -> None:
        """Register a run that this process executes."""
        self._listeners.setdefault(run_id, set())

    def close(self, run_id: str) -> None:
        """Forget a finished run; its listeners already received ``end``."""
        self._listeners.pop(run_id, None)

    def subscribe(self, run_id: str) -> asyncio.Queue[RunEvent] | None:
        """Return a queue of the run's future events, or None when it is not live here."""
        listeners = self._listeners.get(run_id)
        if listeners is None:
            return None
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        listeners.add(queue)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[RunEvent]) -> None:
        """Stop delivering to ``queue``."""
        self._listeners.get(run_id, set()).discard(queue)

    def publish(self, run_id: str, event: RunEvent) -> None:
        """Deliver ``event`` to every listener of the run."""
        for queue in self._listeners.get(run_id, ()):
            queue.put_nowait(event)


@dataclass
class StartedRun:
    """A run that was accepted: its id, the task that executes it, and its live events.

    ``events`` (when asked for at start) was subscribed before the run began, so it holds
    every event from ``metadata`` on: following it needs no read of the table.
    """

    run_id: str
    task: asyncio.Task[TurnOutcome]
    events: asyncio.Queue[RunEvent] | None = None
