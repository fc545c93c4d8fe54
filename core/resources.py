"""Process-wide resources the graph and its tools share: settings, the pool, the embedder.

The API installs its own at start-up (``install``); anything else that runs the graph
(``langgraph dev``, the CLI, the eval runner) gets them built lazily from the settings. An
async pool belongs to the event loop it was opened in, so resources are kept per loop.
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
_installed: Resources | None = None
_lock = asyncio.Lock()


def install(resources: Resources | None) -> None:
    """Make ``resources`` the ones every run in this process uses (None to forget them)."""
    global _installed
    _installed = resources
    _by_loop.clear()


async def get_resources() -> Resources:
    """Return the installed resources, or build ones for the running event loop."""
    if _installed is not None:
        return _installed
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
