"""Short garbage collections on a server whose heap is large and long-lived.

The API holds an embedding model, the compiled graph and catalog lookups: millions of
objects that live as long as the process. Python's full collection walks all of them, a
pause of several hundred milliseconds on the event loop that every open stream and every
new request waits out, and it comes most often under load, when allocations pile up.
``gc.freeze()`` moves what exists now out of the collector's sight; it is done at start-up
and once more after the first turn, which loads the catalogs and the vocabulary lazily.
"""

from __future__ import annotations

import gc

from graph.run_events import RunEvent


def freeze_long_lived() -> None:
    """Collect once, then exempt every surviving object from future collections."""
    gc.collect()
    gc.freeze()


class FreezeAfterFirstTurn:
    """A run-event observer that freezes the heap when the first turn ends."""

    def __init__(self) -> None:
        """Wait for the first ``end`` event."""
        self.done = False

    def __call__(self, event: RunEvent) -> None:
        """Freeze on the first ``end``; nothing afterwards."""
        if not self.done and event.event == "end":
            self.done = True
            freeze_long_lived()
