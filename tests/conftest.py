"""Shared fixtures: one embedded Postgres per test session, migrated and ingested once."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from core.db import connect, connection_kwargs, start_embedded_postgres, stop_embedded_postgres
from core.embeddings import Embedder, LocalEmbedder
from core.ingest import IngestReport, ingest
from core.migrate import apply_migrations
from core.settings import PROJECT_ROOT

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """Yield a migrated database: TEST_DATABASE_URL if set, else a fresh embedded Postgres.

    The embedded data lives under the project's .stack8s/ (not /tmp/pytest-of-root, which
    the unprivileged postgres user cannot enter) and is removed after the session.
    """
    if os.environ.get("TEST_DATABASE_URL"):
        url = os.environ["TEST_DATABASE_URL"]
        data_dir = None
    else:
        data_dir = PROJECT_ROOT / ".stack8s" / "test" / uuid.uuid4().hex[:12] / "pgdata"
        url = start_embedded_postgres(data_dir)
    with connect(url) as conn:
        apply_migrations(conn)
    yield url
    if data_dir is not None:
        stop_embedded_postgres(data_dir)
        shutil.rmtree(data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """Return the packaged MiniLM embedder (loaded once per session)."""
    return LocalEmbedder()


@pytest.fixture(scope="session")
def ingested(pg_url: str, embedder: Embedder) -> IngestReport:
    """Load the shipped catalogs once for the whole session."""
    with connect(pg_url) as conn:
        return ingest(conn, embedder)


@pytest.fixture
def db(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    """Yield a synchronous autocommit connection to the test database."""
    with connect(pg_url) as conn:
        yield conn


@pytest.fixture
async def adb(pg_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """Yield an async autocommit connection to the test database."""
    conn = await psycopg.AsyncConnection.connect(pg_url, **connection_kwargs())
    try:
        yield conn
    finally:
        await conn.close()
