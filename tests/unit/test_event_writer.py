"""A run's events: stored in batches while the run goes on, delivered only once committed."""

from __future__ import annotations

import asyncio

import pytest

from graph.event_writer import RunEventWriter
from graph.run_events import RunEvent
from tests.support.waiting import until


class _Table:
    """Stands in for chat.run_events: each store is one transaction, slow or failing at will."""

    def __init__(self) -> None:
        self.transactions: list[list[int]] = []
        self.commit = asyncio.Event()
        self.commit.set()
        self.down = False

    async def store(self, batch: list[RunEvent]) -> None:
        await self.commit.wait()
        if self.down:
            raise ConnectionError("the database went away")
        self.transactions.append([e.seq for e in batch])


async def test_events_emitted_while_a_batch_commits_then_they_go_in_one_transaction():
    table, delivered = _Table(), []
    writer = RunEventWriter(table.store, lambda e: delivered.append(e.seq), stored_seq=1)
    table.commit.clear()  # the first batch is slow to commit

    for seq in range(2, 8):
        writer.add(RunEvent(seq, "status", {}))
        await asyncio.sleep(0)
    assert delivered == []  # nothing goes out before its commit
    table.commit.set()
    await until(lambda: len(delivered) == 6)

    assert await writer.settle() == []
    assert table.transactions == [[2], [3, 4, 5, 6, 7]]
    assert delivered == [2, 3, 4, 5, 6, 7]
    assert writer.stored_seq == 7


async def test_settle_with_events_not_yet_sent_then_they_are_handed_back_for_the_end():
    table, delivered = _Table(), []
    writer = RunEventWriter(table.store, lambda e: delivered.append(e.seq), stored_seq=1)
    table.commit.clear()
    writer.add(RunEvent(2, "tool", {}))
    await asyncio.sleep(0)
    writer.add(RunEvent(3, "plan", {}))

    settling = asyncio.ensure_future(writer.settle())
    await asyncio.sleep(0)
    table.commit.set()
    pending = await settling
    writer.committed([*pending, RunEvent(4, "end", {})])

    assert [e.seq for e in pending] == [3]  # stored with the end, not on its own
    assert table.transactions == [[2]]
    assert delivered == [2, 3, 4]
    assert writer.stored_seq == 4


async def test_database_gone_then_the_next_event_raises_and_nothing_unstored_is_delivered():
    table, delivered = _Table(), []
    writer = RunEventWriter(table.store, lambda e: delivered.append(e.seq), stored_seq=1)
    writer.add(RunEvent(2, "status", {}))
    await until(lambda: delivered == [2])
    table.down = True

    writer.add(RunEvent(3, "status", {}))
    await until(lambda: writer._flusher.done())
    with pytest.raises(ConnectionError):
        await writer.settle()
    with pytest.raises(ConnectionError):
        writer.add(RunEvent(4, "status", {}))

    assert delivered == [2]
    assert writer.stored_seq == 2  # where the events that close the lost run follow on


async def test_gather_window_then_events_of_several_steps_share_one_transaction():
    table, delivered = _Table(), []
    writer = RunEventWriter(
        table.store, lambda e: delivered.append(e.seq), stored_seq=1, gather_s=0.05
    )
    for seq in (2, 3, 4):
        writer.add(RunEvent(seq, "status", {}))
        await asyncio.sleep(0.005)  # a step's work between events

    await until(lambda: delivered == [2, 3, 4])

    assert table.transactions == [[2, 3, 4]]
