"""What the API asks about chats, answered without exposing the graph or the database.

``ChatAccess`` is the chat half of ``graph.runs.RunManager``: create, list, read, rename and
delete chats, and read a chat's conversation state from its checkpoints. The statements live
in ``graph.chat_store``; the compiled graph (and its checkpointer) is read only here and in
the run manager, so that routes never reach into either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from psycopg_pool import AsyncConnectionPool

from graph import chat_store


@dataclass(frozen=True)
class ChatView:
    """A chat as its owner sees it: the thread row and the conversation state."""

    thread: dict[str, Any]
    """``id``, ``title``, ``created_at``, ``updated_at`` and ``active_run_id`` (or None)."""
    values: dict[str, Any]
    """The state of the chat's latest checkpoint (``messages``, ``spec``, ``plan``...)."""


class ChatAccess:
    """Chats of a user: rows under row-level security, state from the graph's checkpoints."""

    def __init__(self, pool: AsyncConnectionPool[Any], graph: Any) -> None:
        """Read and write chats through ``pool``; read their state through ``graph``."""
        self._pool = pool
        self._graph = graph

    async def _state(self, thread_id: str) -> Any:
        return await self._graph.aget_state({"configurable": {"thread_id": thread_id}})

    async def _resumable(self, thread_id: str) -> bool:
        """Say whether the thread's last checkpoint has work left (an interrupted turn)."""
        return bool((await self._state(thread_id)).next)

    async def create_chat(self, user_id: str) -> dict[str, Any]:
        """Create an empty chat for ``user_id``; return its row."""
        return await chat_store.create_thread(self._pool, user_id)

    async def list_chats(self, user_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
        """Return a page of the user's chats that have a message, most recently active first."""
        return await chat_store.list_threads(self._pool, user_id, limit, offset)

    async def get_chat(self, user_id: str, thread_id: str) -> ChatView | None:
        """Return the user's chat with its conversation state, or None when there is none."""
        thread = await chat_store.get_thread(self._pool, user_id, thread_id)
        if thread is None:
            return None
        # Only once the chat is known to be the caller's: checkpoints are not under RLS.
        snapshot = await self._state(thread_id)
        return ChatView(thread, dict(snapshot.values or {}))

    async def rename_chat(self, user_id: str, thread_id: str, title: str) -> dict[str, Any] | None:
        """Set the chat's title; return its row, or None when there is no such chat."""
        return await chat_store.rename_thread(self._pool, user_id, thread_id, title)

    async def delete_chat(
        self, user_id: str, thread_id: str
    ) -> Literal["deleted", "missing", "busy"]:
        """Delete the chat with its runs, events and checkpoints, unless a run is in progress."""
        return await chat_store.delete_thread(self._pool, user_id, thread_id)

    async def run_belongs(self, user_id: str, thread_id: str, run_id: str) -> bool:
        """Say whether ``run_id`` is a run of the user's chat ``thread_id``."""
        return await chat_store.run_belongs(self._pool, user_id, thread_id, run_id)
