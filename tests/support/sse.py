"""Read a server-sent event stream in tests, from sync or async lines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

Event = tuple[int, str, Any]


class _EventReader:
    """Gathers one event's fields line by line; pings (comments) are skipped."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def feed(self, line: str) -> Event | None:
        """Take one line; return the event that a blank line completes, if any."""
        if line == "":
            fields, self.fields = self.fields, {}
            if "event" in fields:
                return int(fields["id"]), fields["event"], json.loads(fields.get("data", "null"))
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            self.fields[name] = value[1:] if value.startswith(" ") else value
        return None


def parse_sse(lines: Iterable[str]) -> Iterator[Event]:
    """Yield (id, event, data) per SSE event."""
    reader = _EventReader()
    for line in lines:
        if (event := reader.feed(line)) is not None:
            yield event


async def aparse_sse(lines: AsyncIterable[str]) -> AsyncIterator[Event]:
    """Yield (id, event, data) per SSE event from an async stream of lines."""
    reader = _EventReader()
    async for line in lines:
        if (event := reader.feed(line)) is not None:
            yield event
