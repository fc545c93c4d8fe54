"""Chat persistence: every statement on threads, runs and run events, in one place.

Whatever a user asks for runs as that user under row-level security (``core.db.as_user``):
the queries also name the owner, but RLS is what keeps one user's chats from another, and
another user's chat is simply not found. Two things run as the app's own role: the sweep of
runs whose process is gone (it must see every user's runs, and then closes each as its
owner), and the deletion of a chat's LangGraph checkpoints (the saver's tables, not RLS'd),
which happens in the same transaction as the ownership check that allows it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.db import as_user, fetchone_as_user
from graph.lease import let_go, owner_gone
from graph.notify import NOTIFY_SQL, notice_payload
from graph.run_events import INTERRUPTED_MESSAGE, RunEvent, lost_run_events

logger = logging.getLogger(__name__)

Pool = AsyncConnectionPool[Any]
Conn = psycopg.AsyncConnection[Any]

_COLUMNS = "id, title, created_at, updated_at"
_INSERT_EVENT = (
    "insert into chat.run_events (run_id, seq, user_id, event, data) values (%s, %s, %s, %s, %s)"
)
# The saver's tables (langgraph-checkpoint-postgres), all keyed by the thread id as text.
CHECKPOINT_TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints")


class ThreadNotFoundError(LookupError):
    """The thread does not exist, or belongs to someone else (RLS hides it)."""


class ActiveRunError(RuntimeError):
    """Another run of the same thread is still in progress."""


# ---------------------------------------------------------------- threads


async def create_thread(pool: Pool, user_id: str) -> dict[str, Any]:
    """Create an empty chat."""
    row = await fetchone_as_user(
        pool,
        user_id,
        f"insert into chat.threads (user_id) values (%s) returning {_COLUMNS}",
        (user_id,),
    )
    assert row is not None
    return dict(row)


async def get_thread(pool: Pool, user_id: str, thread_id: str) -> dict[str, Any] | None:
    """Return the chat with the id of a run still in progress, or None."""
    row = await fetchone_as_user(
        pool,
        user_id,
        f"select {_COLUMNS}, (select r.id from chat.runs r where r.thread_id = t.id"
        " and r.status = 'running' limit 1) as active_run_id"
        " from chat.threads t where id = %s and user_id = %s and deleted_at is null",
        (thread_id, user_id),
    )
    return dict(row) if row else None


async def list_threads(pool: Pool, user_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
    """Return a page of the caller's chats that have a message, most recently active first.

    A chat made by ``POST /chat/start`` and never written to is not listed: a page that opens
    a chat on every visit would otherwise fill the list with empty "New chat" entries.
    """
    async with as_user(pool, user_id) as conn:
        rows = await (
            await conn.execute(
                f"select {_COLUMNS} from chat.threads t"
                " where user_id = %s and deleted_at is null"
                " and exists (select 1 from chat.runs r"
                " where r.thread_id = t.id and r.user_id = t.user_id)"
                " order by updated_at desc, id desc limit %s offset %s",
                (user_id, limit, offset),
            )
        ).fetchall()
    return [dict(r) for r in rows]


async def rename_thread(
    pool: Pool, user_id: str, thread_id: str, title: str
) -> dict[str, Any] | None:
    """Set the chat's title; None when there is no such chat."""
    row = await fetchone_as_user(
        pool,
        user_id,
        "update chat.threads set title = %s, updated_at = now()"
        f" where id = %s and user_id = %s and deleted_at is null returning {_COLUMNS}",
        (title, thread_id, user_id),
    )
    return dict(row) if row else None


async def delete_thread(
    pool: Pool, user_id: str, thread_id: str
) -> Literal["deleted", "missing", "busy"]:
    """Delete the chat, its runs and events, and its checkpoints, unless a run is in progress.

    One transaction: the chat row is locked and checked as the caller (RLS: another user's
    chat is "missing"), then the role goes back to the app's own for the saver's tables,
    which only the app's role may write. A run that starts meanwhile waits for the lock and
    then finds no chat; nothing is deleted when any step fails.
    """
    async with as_user(pool, user_id) as conn:
        row = await (
            await conn.execute(
                "select id, exists (select 1 from chat.runs r where r.thread_id = t.id"
                " and r.status = 'running') as busy"
                " from chat.threads t where id = %s and user_id = %s for update",
                (thread_id, user_id),
            )
        ).fetchone()
        if row is None:
            return "missing"
        if row["busy"]:
            return "busy"
        await conn.execute("delete from chat.threads where id = %s", (thread_id,))  # cascades
        # Back to the login role for the rest of this transaction (SET LOCAL, like as_user's).
        await conn.execute("set local role none")
        for table in CHECKPOINT_TABLES:
            await conn.execute(f"delete from {table} where thread_id = %s", (thread_id,))
    return "deleted"


async def run_belongs(pool: Pool, user_id: str, thread_id: str, run_id: str) -> bool:
    """Say whether ``run_id`` is a run of the caller's chat ``thread_id``."""
    row = await fetchone_as_user(
        pool,
        user_id,
        "select 1 from chat.runs where id = %s and thread_id = %s and user_id = %s",
        (run_id, thread_id, user_id),
    )
    return row is not None


# ---------------------------------------------------------------- runs and events


async def claim_run(
    pool: Pool,
    user_id: str,
    thread_id: str,
    first: RunEvent,
    *,
    title: str | None,
    new_thread: bool = False,
    check: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Take the thread's single writer slot: insert the run with its first event, committed.

    With ``new_thread`` the thread is created by the same statement. Otherwise the caller's
    thread is touched (its title set from ``title`` when it has none) and ``check`` runs once
    the thread is known to be the caller's, before the run is inserted: it may raise to
    refuse the run (and nothing is written).

    Raises:
        ThreadNotFoundError: The caller has no such thread.
        ActiveRunError: A run of this thread is still in progress.

    """
    try:
        async with as_user(pool, user_id, pipelined=True) as conn:
            if not new_thread:
                found = await (
                    await conn.execute(
                        "update chat.threads set updated_at = now(),"
                        " title = coalesce(title, %s)"
                        " where id = %s and deleted_at is null returning id",
                        (title, thread_id),
                    )
                ).fetchone()
                if found is None:
                    raise ThreadNotFoundError(thread_id)
                if check is not None:  # only now: no oracle for other users' threads
                    await check()
            await _insert_run(conn, user_id, thread_id, first, title, new_thread)
    except psycopg.errors.UniqueViolation as exc:  # the partial unique index on running runs
        raise ActiveRunError(thread_id) from exc


async def _insert_run(
    conn: Conn, user_id: str, thread_id: str, first: RunEvent, title: str | None, new: bool
) -> None:
    """Insert the run and its first event (and the thread, when ``new``) in one statement.

    One statement, so the stream can start as soon as it commits; a new thread is a CTE the
    run selects from, and the foreign keys are checked at the statement's end.
    """
    thread = (
        "thread as (insert into chat.threads (id, user_id, title)"
        " values (%(thread)s, %(user)s, %(title)s) returning id), "
        if new
        else ""
    )
    await conn.execute(
        f"with {thread}run as (insert into chat.runs (id, thread_id, user_id)"
        f" select %(run)s, %(thread)s, %(user)s {'from thread' if new else ''}"
        " returning id)"
        " insert into chat.run_events (run_id, seq, user_id, event, data)"
        " select id, %(seq)s, %(user)s, %(event)s, %(data)s from run",
        {
            "thread": thread_id,
            "user": user_id,
            "title": title,
            "run": first.data["run_id"],
            "seq": first.seq,
            "event": first.event,
            "data": Jsonb(first.data),
        },
    )


async def _insert_events(
    conn: psycopg.AsyncConnection[Any], user_id: str, run_id: str, events: Sequence[RunEvent]
) -> None:
    """Insert ``events`` in one statement (a batch costs one statement, not one each)."""
    if not events:
        return
    rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(events))
    params: list[Any] = []
    for event in events:
        params += [run_id, event.seq, user_id, event.event, Jsonb(event.data)]
    await conn.execute(
        f"insert into chat.run_events (run_id, seq, user_id, event, data) values {rows}",
        params,
    )


async def insert_events(
    pool: Pool, user_id: str, run_id: str, events: Sequence[RunEvent]
) -> None:
    """Store a batch of a run's events in one transaction."""
    async with as_user(pool, user_id, pipelined=True) as conn:
        await _insert_events(conn, user_id, run_id, events)


async def finish_run(
    pool: Pool,
    user_id: str,
    run_id: str,
    events: Sequence[RunEvent],
    status: str,
    error: str | None,
) -> None:
    """Store a run's last events and its final status in one transaction.

    Together, so that whoever sees the run finished also finds its ``end`` in the table.
    """
    async with as_user(pool, user_id, pipelined=True) as conn:
        await _insert_events(conn, user_id, run_id, events)
        await conn.execute(
            "update chat.runs set status = %s, error = %s, finished_at = now(),"
            " heartbeat_at = now() where id = %s",
            (status, error, run_id),
        )


async def events_after(pool: Pool, user_id: str, run_id: str, after: int) -> list[RunEvent]:
    """Return the run's stored events with ``seq > after``, in order."""
    async with as_user(pool, user_id) as conn:
        rows = await (
            await conn.execute(
                "select seq, event, data from chat.run_events"
                " where run_id = %s and seq > %s order by seq",
                (run_id, after),
            )
        ).fetchall()
    return [RunEvent(r["seq"], r["event"], r["data"]) for r in rows]


async def still_running(pool: Pool, user_id: str, run_id: str) -> bool:
    """Say whether the run is still ``running`` (False when it is gone, or not the caller's)."""
    row = await fetchone_as_user(
        pool, user_id, "select status from chat.runs where id = %s", (run_id,)
    )
    return row is not None and row["status"] == "running"


async def close_interrupted_run(
    conn: Conn,
    run_id: str,
    user_id: str,
    code: str,
    message: str,
    *,
    stale_after_s: float | None = None,
) -> bool:
    """Mark a run that is still ``running`` as failed and append its ``error`` and ``end``.

    Runs in the caller's transaction on ``conn``. The claim is one atomic update, so two
    closers never close the same run twice; with ``stale_after_s`` it claims the run only if
    its heartbeat is at least that old.

    Returns:
        Whether this call closed the run.

    """
    stale = " and heartbeat_at < now() - make_interval(secs => %s)"
    if stale_after_s is None:
        stale = ""
    params: tuple[Any, ...] = (code, run_id, stale_after_s) if stale else (code, run_id)
    claimed = await (
        await conn.execute(
            "update chat.runs set status = 'failed', error = %s, finished_at = now()"
            " where id = %s and status = 'running'" + stale + " returning id",
            params,
        )
    ).fetchone()
    if claimed is None:
        return False
    top = await (
        await conn.execute(
            "select coalesce(max(seq), 0) as n from chat.run_events where run_id = %s", (run_id,)
        )
    ).fetchone()
    seq = int(top["n"]) if top else 0
    lost = lost_run_events(run_id, seq, code, message)
    for item in lost:
        await conn.execute(_INSERT_EVENT, (run_id, item.seq, user_id, item.event, Jsonb(item.data)))
    await conn.execute(NOTIFY_SQL, (notice_payload(run_id, seq + len(lost)),))
    return True


async def record_lost_run(pool: Pool, user_id: str, run_id: str, code: str, message: str) -> bool:
    """Close the caller's run as lost (``close_interrupted_run``) in a transaction of its own."""
    async with as_user(pool, user_id) as conn:
        return await close_interrupted_run(conn, run_id, user_id, code, message)


async def _act_as(conn: Conn, user_id: str) -> None:
    """Make the rest of ``conn``'s transaction run as ``user_id`` under RLS (as ``as_user``)."""
    await conn.execute(
        "select set_config('request.jwt.claims', %s, true),"
        " set_config('role', 'authenticated', true)",
        (json.dumps({"sub": user_id, "role": "authenticated"}),),
    )


async def sweep_stale_runs(
    pool: Pool,
    stale_after_s: float = 5.0,
    hung_after_s: float = 60.0,
    *,
    exclude: Collection[str] = (),
    restart_grace_s: float = 10.0,
) -> int:
    """Close the runs whose process is gone, with ``error`` and ``end`` events.

    A run's process is gone when nobody holds the run's lease lock and its heartbeat is at
    least ``stale_after_s`` old (``graph.lease``: the owner beats every 2 s), or when its
    heartbeat is ``hung_after_s`` old whoever holds the lock. A free lock means nothing in the
    ``restart_grace_s`` after Postgres starts (every lock went with the old server; owners take
    them again as they reconnect), and the runs in ``exclude`` (this process's own) are left
    to their owner. Runs as the app's login role so it sees every user's runs; each claim is an
    atomic update, and the lease lock is held while closing, so replicas sweeping together
    never close the same run twice.

    Returns:
        How many runs were closed.

    """
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "select id, user_id, heartbeat_at < now() - make_interval(secs => %s) as hung,"
                " pg_postmaster_start_time() < now() - make_interval(secs => %s) as settled"
                " from chat.runs where status = 'running'"
                " and heartbeat_at < now() - make_interval(secs => %s)",
                (hung_after_s, restart_grace_s, stale_after_s),
            )
        ).fetchall()
    closed = 0
    for row in rows:
        run_id, user_id = str(row["id"]), str(row["user_id"])
        if run_id in exclude:
            continue
        async with pool.connection() as conn:
            free = await owner_gone(conn, run_id)
            try:
                if not (free and row["settled"]) and not row["hung"]:
                    continue  # its process lives (or may, just after a restart)
                async with conn.transaction():
                    await _act_as(conn, user_id)
                    # Staleness is checked again in the claim: the run may have beaten since.
                    if await close_interrupted_run(
                        conn,
                        run_id,
                        user_id,
                        "run_interrupted",
                        INTERRUPTED_MESSAGE,
                        stale_after_s=stale_after_s if free and row["settled"] else hung_after_s,
                    ):
                        closed += 1
            finally:
                if free:
                    await let_go(conn, run_id)
    if closed:
        logger.warning("closed %d interrupted run(s)", closed)
    return closed
