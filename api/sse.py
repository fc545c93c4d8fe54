"""Server-sent events for runs: one SSE event per run event, ``id`` = its sequence number."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import psycopg
from psycopg_pool import PoolTimeout
from sse_starlette import EventSourceResponse, ServerSentEvent

from core.db import DatabaseUnavailableError
from graph.run_events import DB_LOST_MESSAGE, RunEvent, lost_run_events

logger = logging.getLogger(__name__)

PING_S = 15
# Tells EventSource-style clients how long to wait before reconnecting.
RETRY_MS = 2000
STREAM_FAILED_MESSAGE = (
    "This stream failed before the run ended. Rejoin it with Last-Event-ID to read the rest."
)


def wants_stream(accept: str | None) -> bool:
    """Say whether the client asked for an event stream."""
    return bool(accept) and "text/event-stream" in (accept or "").lower()


def parse_last_event_id(value: str | None) -> int:
    """Return the last sequence number a client saw (0 when absent or malformed)."""
    try:
        return max(0, int((value or "0").strip()))
    except ValueError:
        return 0


def _sse(item: RunEvent) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(item.data, ensure_ascii=False, separators=(",", ":")),
        event=item.event,
        id=str(item.seq),
        retry=RETRY_MS if item.event == "metadata" else None,
    )


async def _encode(events: AsyncIterator[RunEvent], run_id: str) -> AsyncIterator[ServerSentEvent]:
    """Encode the events; a stream whose source fails still ends with ``error`` and ``end``.

    Once the response has started, an exception can no longer become an error answer: it
    would cut the stream with no end, and the client would rejoin a run that may be over.
    The closing ids follow the last event sent, as the closer of the run stores them when
    the stream had caught up with the table.
    """
    last = 0
    try:
        async for item in events:
            last = item.seq
            yield _sse(item)
            if item.event == "end":
                return
    except Exception as exc:
        if _database_error(exc):
            code, message = "db_unavailable", DB_LOST_MESSAGE
        else:
            logger.exception("run %s: its stream failed", run_id)
            code, message = "stream_failed", STREAM_FAILED_MESSAGE
        logger.warning("run %s: stream ended early (%s)", run_id, type(exc).__name__)
        for item in lost_run_events(run_id, last, code, message):
            yield _sse(item)


def _database_error(exc: BaseException) -> bool:
    return isinstance(exc, DatabaseUnavailableError | PoolTimeout | psycopg.OperationalError)


def event_stream(events: AsyncIterator[RunEvent], run_id: str) -> EventSourceResponse:
    """Stream run ``run_id``'s events, with a ping every 15 s so proxies keep it open."""
    return EventSourceResponse(_encode(events, run_id), ping=PING_S)
