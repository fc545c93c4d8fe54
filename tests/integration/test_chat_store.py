"""Chat persistence on the real Postgres: deleting a chat, its runs, events and checkpoints.

The checkpoints are written by LangGraph's own Postgres saver, as a chat turn writes them.
"""

import uuid

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from core.db import create_pool
from core.settings import Settings
from graph import chat_store
from graph.checkpointer import postgres_saver
from graph.run_events import RunEvent

CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


@pytest.fixture
async def pool(pg_url):
    pool = create_pool(pg_url, Settings(database_url=pg_url, _env_file=None))
    await pool.open()
    try:
        yield pool
    finally:
        await pool.close()


async def _chat_with_history(pool, user_id, *, running=False):
    """Create a chat with one run (finished unless ``running``) and a saved checkpoint."""
    thread = (await chat_store.create_thread(pool, user_id))["id"]
    thread_id = str(thread)
    run_id = str(uuid.uuid4())
    first = RunEvent(1, "metadata", {"run_id": run_id, "thread_id": thread_id})
    await chat_store.claim_run(pool, user_id, thread_id, first, title="a chat")
    if not running:
        end = RunEvent(2, "end", {"status": "done", "response_type": "clarification"})
        await chat_store.finish_run(pool, user_id, run_id, [end], "done", None)
    saver = await postgres_saver(pool)
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"messages": ["Deploy Llama 3.1 8B"]}
    checkpoint["channel_versions"] = {"messages": "1"}
    saved = await saver.aput(config, checkpoint, {"source": "input", "step": -1}, {"messages": "1"})
    await saver.aput_writes(saved, [("messages", "an answer")], "task-1")
    return thread_id, run_id


def _rows(db, thread_id, run_id):
    """Count what is stored for the chat, per table."""
    counts = {
        table: db.execute(
            f"select count(*) as n from {table} where thread_id = %s", (thread_id,)
        ).fetchone()["n"]
        for table in CHECKPOINT_TABLES
    }
    for table, column, key in [
        ("chat.threads", "id", thread_id),
        ("chat.runs", "thread_id", thread_id),
        ("chat.run_events", "run_id", run_id),
    ]:
        counts[table] = db.execute(
            f"select count(*) as n from {table} where {column} = %s", (key,)
        ).fetchone()["n"]
    return counts


async def test_delete_chat_then_its_checkpoints_runs_and_events_are_gone(pool, db):
    alice = str(uuid.uuid4())
    thread_id, run_id = await _chat_with_history(pool, alice)
    other_id, other_run = await _chat_with_history(pool, alice)
    assert all(_rows(db, thread_id, run_id).values())

    result = await chat_store.delete_thread(pool, alice, thread_id)

    assert result == "deleted"
    assert _rows(db, thread_id, run_id) == dict.fromkeys(_rows(db, thread_id, run_id), 0)
    assert all(_rows(db, other_id, other_run).values()), "another chat lost its rows"


async def test_delete_chat_with_a_running_run_then_busy_and_nothing_deleted(pool, db):
    alice = str(uuid.uuid4())
    thread_id, run_id = await _chat_with_history(pool, alice, running=True)
    before = _rows(db, thread_id, run_id)

    result = await chat_store.delete_thread(pool, alice, thread_id)

    assert result == "busy"
    assert _rows(db, thread_id, run_id) == before
    assert all(before.values())


async def test_delete_another_users_chat_then_missing_and_nothing_deleted(pool, db):
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    thread_id, run_id = await _chat_with_history(pool, alice)
    before = _rows(db, thread_id, run_id)

    result = await chat_store.delete_thread(pool, bob, thread_id)

    assert result == "missing"
    assert _rows(db, thread_id, run_id) == before
    assert await chat_store.delete_thread(pool, alice, thread_id) == "deleted"


async def test_delete_chat_then_the_pooled_connection_is_the_app_role_again(pool, db):
    alice = str(uuid.uuid4())
    thread_id, _ = await _chat_with_history(pool, alice)
    login = db.execute("select current_user as role").fetchone()["role"]

    await chat_store.delete_thread(pool, alice, thread_id)

    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "select current_user as role, current_setting('request.jwt.claims', true) as c"
            )
        ).fetchone()
    assert row["role"] == login and not row["c"]
