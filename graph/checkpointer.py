"""Compile the graph with LangGraph's Postgres checkpointer on the app's own pool."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph.state import CompiledStateGraph
from psycopg_pool import AsyncConnectionPool

from graph.builder import builder


async def postgres_saver(pool: AsyncConnectionPool[Any]) -> AsyncPostgresSaver:
    """Return a saver on ``pool`` (autocommit, dict_row; it prepares nothing) set up once.

    ``setup()`` creates and migrates the saver's own tables; it is idempotent.
    """
    saver = AsyncPostgresSaver(pool)
    await saver.setup()
    return saver


async def compile_with_postgres(
    pool: AsyncConnectionPool[Any],
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile ``builder`` with the Postgres checkpointer."""
    return builder.compile(checkpointer=await postgres_saver(pool))
