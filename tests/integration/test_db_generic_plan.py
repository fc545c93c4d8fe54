"""core.db.fetchone_generic_plan on a real Postgres: what it leaves behind on the connection."""

import psycopg
import pytest

from core.db import connection_kwargs, fetchone_generic_plan
from core.settings import Settings

pytestmark = pytest.mark.integration

IDLE = psycopg.pq.TransactionStatus.IDLE


async def _connect(pg_url, mode):
    settings = Settings(_env_file=None, db_prepared_statements=mode)
    return await psycopg.AsyncConnection.connect(pg_url, **connection_kwargs(settings))


async def _state(conn):
    cursor = await conn.execute(
        "select current_setting('plan_cache_mode') as mode,"
        " (select count(*) from pg_prepared_statements) as prepared"
    )
    return await cursor.fetchone()


async def test_failing_statement_then_error_raised_and_connection_left_clean(pg_url):
    conn = await _connect(pg_url, "on")
    try:
        with pytest.raises(psycopg.errors.DivisionByZero):
            await fetchone_generic_plan(conn, "select 1 / %(n)s as x", {"n": 0})

        assert conn.info.transaction_status == IDLE
        assert (await _state(conn))["mode"] == "auto"
        assert await fetchone_generic_plan(conn, "select 1 / %(n)s as x", {"n": 1}) == {"x": 1}
    finally:
        await conn.close()


async def test_connection_that_may_not_prepare_then_nothing_prepared(pg_url):
    conn = await _connect(pg_url, "off")
    try:
        row = await fetchone_generic_plan(conn, "select %(n)s::int * 2 as x", {"n": 21})

        assert row == {"x": 42}
        assert await _state(conn) == {"mode": "auto", "prepared": 0}
    finally:
        await conn.close()
