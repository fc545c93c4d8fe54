"""Read a server-sent event stream in tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[int, str, Any]]:
    """Yield (id, event, data) per SSE event; pings (comments) are skipped."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "event" in fields:
                yield int(fields["id"]), fields["event"], json.loads(fields.get("data", "null"))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
