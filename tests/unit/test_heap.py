"""Heap freezing: once at the first turn's end, never again."""

import gc

from api.heap import FreezeAfterFirstTurn
from graph.run_events import RunEvent


def test_first_end_event_then_heap_frozen_once_and_later_events_change_nothing():
    observer = FreezeAfterFirstTurn()
    kept = [object() for _ in range(1000)]
    gc.unfreeze()
    try:
        observer(RunEvent(1, "metadata", {}))
        before_end = gc.get_freeze_count()
        observer(RunEvent(9, "end", {"status": "done"}))
        after_end = gc.get_freeze_count()
        gc.unfreeze()
        observer(RunEvent(9, "end", {"status": "done"}))
        after_second_end = gc.get_freeze_count()
    finally:
        gc.unfreeze()

    assert before_end == 0
    assert after_end >= len(kept)
    assert after_second_end == 0
