"""What the graph and its tools share: settings, the pool, the embedder, catalog facts.

Whoever runs the graph (the API, the CLI, the eval runner, the benches) builds its
``Resources`` and hands them to every run in the runtime context (``graph.context.Context``).
``get_resources`` is the fallback for a run whose context carries none, which is how
``langgraph dev`` (Studio) runs the graph: resources built lazily from the settings, kept
per event loop, because an async pool belongs to the loop it was opened in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from core.db import create_pool, database_url
from core.embeddings import Embedder, get_embedder
from core.settings import Settings, get_settings


@dataclass
class Resources:
    """What a graph run needs besides its state: configuration, database, embeddings."""

    settings: Settings
    pool: AsyncConnectionPool[Any]
    embedder: Embedder
    # Small catalog-derived lookups (model name index, region names), built once per process.
    catalog_facts: dict[str, Any] = field(default_factory=dict)


_by_loop: dict[int, Resources] = {}
_lock = asyncio.Lock()


async def get_resources() -> Resources:
    """Return resources for the running event loop, built from the settings on first use.

    Only for runs whose context carries no resources (``langgraph dev``).
    """
    key = id(asyncio.get_running_loop())
    if key not in _by_loop:
        async with _lock:
            if key not in _by_loop:
                settings = get_settings()
                url = await asyncio.to_thread(database_url, settings)
                pool = create_pool(url, settings)
                await pool.open()
                _by_loop[key] = Resources(settings, pool, get_embedder(settings))
    return _by_loop[key]
