"""The caller's chats in ``chat.threads``; every query runs as the caller under RLS.

Queries also name the owner, but that is belt and braces: row-level security is what
keeps one user's chats from another (a missing WHERE still returns only the caller's
rows), and another user's chat is simply not found.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from psycopg_pool import AsyncConnectionPool

from core.db import as_user, fetchone_as_user

_COLUMNS = "id, title, created_at, updated_at"


def parse_id(value: str) -> str | None:
    """Return ``value`` as a canonical UUID string, or None when it is not one."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


async def create_thread(pool: AsyncConnectionPool[Any], user_id: str) -> dict[str, Any]:
    """Create an empty chat."""
    row = await fetchone_as_user(
        pool,
        user_id,
        f"insert into chat.threads (user_id) values (%s) returning {_COLUMNS}",
        (user_id,),
    )
    assert row is not None
    return dict(row)


async def get_thread(
    pool: AsyncConnectionPool[Any], user_id: str, thread_id: str
) -> dict[str, Any] | None:
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


async def list_threads(
    pool: AsyncConnectionPool[Any], user_id: str, limit: int, offset: int
) -> list[dict[str, Any]]:
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
    pool: AsyncConnectionPool[Any], user_id: str, thread_id: str, title: str
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
    pool: AsyncConnectionPool[Any], user_id: str, thread_id: str
) -> Literal["deleted", "missing", "busy"]:
    """Delete the chat with its runs and events, unless a run is in progress.

    The caller deletes the LangGraph checkpoints afterwards (they are the saver's tables).
    """
    async with as_user(pool, user_id) as conn:
        row = await (
            await conn.execute(
                "select id from chat.threads where id = %s and user_id = %s for update",
                (thread_id, user_id),
            )
        ).fetchone()
        if row is None:
            return "missing"
        busy = await (
            await conn.execute(
                "select 1 from chat.runs where thread_id = %s and status = 'running'",
                (thread_id,),
            )
        ).fetchone()
        if busy:
            return "busy"
        await conn.execute("delete from chat.threads where id = %s", (thread_id,))
    return "deleted"


async def run_belongs(
    pool: AsyncConnectionPool[Any], user_id: str, thread_id: str, run_id: str
) -> bool:
    """Say whether ``run_id`` is a run of the caller's chat ``thread_id``."""
    row = await fetchone_as_user(
        pool,
        user_id,
        "select 1 from chat.runs where id = %s and thread_id = %s and user_id = %s",
        (run_id, thread_id, user_id),
    )
    return row is not None
