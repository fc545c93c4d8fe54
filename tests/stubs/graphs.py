"""Build the real graph for a test, on the session's database, with chosen LLM settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph

from core.db import create_pool
from core.embeddings import Embedder
from core.resources import Resources
from core.settings import Settings
from graph.builder import builder
from graph.checkpointer import compile_with_postgres
from graph.context import Context

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


class WithResources:
    """A compiled graph whose runs get ``resources`` in their context (as the app's runs do).

    A test passes its own ``Context`` (or none); the resources are added to it, so the nodes
    use the test's settings and pool rather than building their own from the environment.
    """

    def __init__(self, graph: CompiledStateGraph[Any, Any, Any, Any], resources: Resources):
        """Wrap ``graph``; every run gets ``resources``."""
        self.graph = graph
        self.resources = resources

    def context(self, context: Context | None = None) -> Context:
        """Return ``context`` (or a default one) carrying the resources."""
        context = context if context is not None else Context()
        if context.resources is not None:
            return context
        return replace(context, resources=self.resources)

    async def ainvoke(
        self, input: Any, config: Any = None, *, context: Context | None = None, **kw: Any
    ) -> Any:
        """Run the graph to its end (``CompiledStateGraph.ainvoke``)."""
        return await self.graph.ainvoke(input, config, context=self.context(context), **kw)

    def astream(
        self, input: Any, config: Any = None, *, context: Context | None = None, **kw: Any
    ) -> Any:
        """Stream the run (``CompiledStateGraph.astream``)."""
        return self.graph.astream(input, config, context=self.context(context), **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.graph, name)


@asynccontextmanager
async def graph_with(
    pg_url: str, embedder: Embedder, *, postgres: bool = False, **overrides: Any
) -> AsyncIterator[WithResources]:
    """Yield the compiled graph whose runs get resources with these settings."""
    settings = llm_settings(pg_url, **overrides)
    pool = create_pool(pg_url, settings)
    await pool.open()
    resources = Resources(settings, pool, embedder)
    try:
        if postgres:
            yield WithResources(await compile_with_postgres(pool), resources)
        else:
            yield WithResources(builder.compile(checkpointer=InMemorySaver()), resources)
    finally:
        await pool.close()
