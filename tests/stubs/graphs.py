"""Build the real graph for a test, on the session's database, with chosen LLM settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph

from core.db import create_pool
from core.embeddings import Embedder
from core.resources import Resources, install
from core.settings import Settings
from graph.builder import builder
from graph.checkpointer import compile_with_postgres

# Every LLM setting a test depends on, stated, so the runner's environment cannot leak in.
LLM_DEFAULTS: dict[str, Any] = {
    "llm_provider": "offline",
    "llm_model": "stub-model",
    "llm_base_url": None,
    "llm_api_key": None,
    "llm_fallback_provider": None,
    "allow_env_provider_keys": False,
    "llm_without_key": "offline",
    "llm_timeout_s": 10.0,
}


def llm_settings(pg_url: str, **overrides: Any) -> Settings:
    """Return settings for the test database with the given LLM settings."""
    return Settings(database_url=pg_url, _env_file=None, **{**LLM_DEFAULTS, **overrides})


@asynccontextmanager
async def graph_with(
    pg_url: str, embedder: Embedder, *, postgres: bool = False, **overrides: Any
) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    """Install resources with these settings and yield the compiled graph."""
    settings = llm_settings(pg_url, **overrides)
    pool = create_pool(pg_url, settings)
    await pool.open()
    install(Resources(settings, pool, embedder))
    try:
        if postgres:
            yield await compile_with_postgres(pool)
        else:
            yield builder.compile(checkpointer=InMemorySaver())
    finally:
        install(None)
        await pool.close()
