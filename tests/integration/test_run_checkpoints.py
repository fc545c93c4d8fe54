"""What a turn leaves in its checkpoints, by kind of turn (graph.runs.RunManager).

A turn that waits on an LLM is saved after every step, so that /resume does not pay for its
LLM calls twice; a turn that computes (the offline provider) is saved at its input and at its
end, so that /resume can run it again. Both are driven here by the offline graph, the kind
chosen through the manager's ``cpu_bound`` predicate, with the chart catalog locked to hold
the turn in its tools step while its saved state is read.
"""

import asyncio
import uuid

import psycopg
import pytest

from core.db import create_pool
from core.resources import Resources
from core.settings import Settings
from graph.checkpointer import compile_with_postgres
from graph.context import Context
from graph.runs import RunManager

MESSAGE = "Serve Mistral 7B with 8k context for 20 users on GCP"


@pytest.fixture
async def pool(pg_url, ingested):
    settings = Settings(database_url=pg_url, _env_file=None)
    pool = create_pool(pg_url, settings)
    await pool.open()
    try:
        yield pool
    finally:
        await pool.close()


async def _turn_held_in_tools(pool, embedder, pg_url, computing: bool):
    """Run one turn, read its saved state while it waits on the chart search, let it end.

    Returns what the thread's latest checkpoint had left to run at that moment, the number
    of checkpoints the thread holds after the turn, and the turn's outcome.
    """
    graph = await compile_with_postgres(pool)
    settings = Settings(database_url=pg_url, _env_file=None)
    manager = RunManager(
        pool,
        graph,
        cpu_bound=lambda _: computing,
        resources=Resources(settings, pool, embedder),
    )
    user = str(uuid.uuid4())
    thread = (await manager.create_chat(user))["id"]
    config = {"configurable": {"thread_id": str(thread)}}
    lock = await psycopg.AsyncConnection.connect(pg_url)
    try:
        await lock.execute("lock table k8s.charts in access exclusive mode")
        started = await manager.start(user, str(thread), MESSAGE, Context(), subscribe=True)
        assert started.events is not None
        async with asyncio.timeout(60):
            while True:
                event = await started.events.get()
                if event.event == "tool" and event.data.get("name") == "k8s_chart_search":
                    break
        saved_next = (await graph.aget_state(config)).next
    finally:
        await lock.rollback()
        await lock.close()
    outcome = await asyncio.wait_for(started.task, 60)
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "select count(*) as n from checkpoints where thread_id = %s and checkpoint_ns = ''",
                (str(thread),),
            )
        ).fetchone()
    await manager.shutdown()
    return saved_next, row["n"], outcome


async def test_turn_waiting_on_an_llm_then_each_step_is_saved_before_the_next(
    pool, embedder, pg_url
):
    saved_next, checkpoints, outcome = await _turn_held_in_tools(
        pool, embedder, pg_url, computing=False
    )

    # Held in its tools step: the architect's step (its LLM call) is already saved.
    assert saved_next == ("tools",)
    assert outcome.response_type == "deployment_plan"
    assert checkpoints >= 10  # the input and one per step


async def test_computing_turn_then_saved_at_its_input_and_at_its_end_only(
    pool, embedder, pg_url
):
    saved_next, checkpoints, outcome = await _turn_held_in_tools(
        pool, embedder, pg_url, computing=True
    )

    # Held in its tools step, it has its message saved: lost now, it would run again whole.
    assert saved_next == ("optimize",)
    assert outcome.response_type == "deployment_plan"
    # The input as sent and as applied (before the first step), then the end: 3, not 11.
    assert checkpoints == 3
