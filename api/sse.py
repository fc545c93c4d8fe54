"""Server-sent events for runs: one SSE event per run event, ``id`` = its sequence number."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from graph.run_events import RunEvent

PING_S = 15
# Tells EventSource-style clients how long to wait before reconnecting.
RETRY_MS = 2000


def wants_stream(accept: str | None) -> bool:
    """Say whether the client asked for an event stream."""
    return bool(accept) and "text/event-stream" in (accept or "").lower()


def parse_last_event_id(value: str | None) -> int:
    """Return the last sequence number a client saw (0 when absent or malformed)."""
    try:
        return max(0, int((value or "0").strip()))
    except ValueError:
        return 0


async def _encode(events: AsyncIterator[RunEvent]) -> AsyncIterator[ServerSentEvent]:
    async for item in events:
        yield ServerSentEvent(
            data=json.dumps(item.data, ensure_ascii=False, separators=(",", ":")),
            event=item.event,
            id=str(item.seq),
            retry=RETRY_MS if item.event == "metadata" else None,
        )


def event_stream(events: AsyncIterator[RunEvent]) -> EventSourceResponse:
    """Stream run events, with a ping every 15 s so proxies keep the connection open."""
    return EventSourceResponse(_encode(events), ping=PING_S)
