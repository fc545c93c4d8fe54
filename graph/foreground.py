"""Foreground before background: requests that start a turn go ahead of turns already running.

A turn run by the offline provider is Python work on the API's event loop from end to end.
With hundreds of them running, a new chat request would wait behind every turn's next step
before its first event goes out. The gate counts the requests in the foreground (from their
arrival to their first byte of response); running turns wait at their next event until the
count is back to zero. Turns still progress whenever no request is starting, so the work
only changes order: first events go out at once, and turns finish as fast as before.
"""

from __future__ import annotations

import asyncio


class ForegroundGate:
    """Count foreground requests; let background work through only when there are none."""

    def __init__(self) -> None:
        """Start with nothing in the foreground."""
        self._count = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @property
    def busy(self) -> bool:
        """Say whether a request is in the foreground now."""
        return self._count > 0

    def enter(self) -> None:
        """Put one request in the foreground."""
        self._count += 1
        self._quiet.clear()

    def leave(self) -> None:
        """Take one request out of the foreground."""
        self._count -= 1
        if self._count <= 0:
            self._count = 0
            self._quiet.set()

    async def wait_quiet(self) -> None:
        """Return once no request is in the foreground (at once when none is)."""
        while self._count > 0:
            await self._quiet.wait()
