import json
import uuid

import pytest

from core.db import as_user, create_pool
from core.settings import Settings

USER_A = str(uuid.uuid4())
USER_B = str(uuid.uuid4())


@pytest.fixture
def two_users_threads(db):
    db.execute(
        "insert into chat.threads (user_id, title) values (%s, 'a1'), (%s, 'a2'), (%s, 'b1')",
        (USER_A, USER_A, USER_B),
    )
    yield
    db.execute("delete from chat.threads where user_id in (%s, %s)", (USER_A, USER_B))


def test_select_without_where_as_user_a_then_only_a_rows(db, two_users_threads):
    with db.transaction():
        db.execute(
            "select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": USER_A}),)
        )
        db.execute("set local role authenticated")
        rows = db.execute("select * from chat.threads").fetchall()

    assert sorted(r["title"] for r in rows) == ["a1", "a2"]
    assert {str(r["user_id"]) for r in rows} == {USER_A}


def test_insert_for_another_user_as_user_a_then_refused(db, two_users_threads):
    import psycopg

    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute(
            "select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": USER_A}),)
        )
        db.execute("set local role authenticated")
        db.execute("insert into chat.threads (user_id, title) values (%s, 'x')", (USER_B,))


def test_role_without_claims_then_sees_nothing(db, two_users_threads):
    with db.transaction():
        db.execute("set local role authenticated")
        rows = db.execute("select * from chat.threads").fetchall()

    assert rows == []


async def test_as_user_on_the_pool_then_role_is_reset_after_the_transaction(
    pg_url, two_users_threads
):
    pool = create_pool(pg_url, Settings(db_pool_max_size=1))
    await pool.open()
    try:
        async with as_user(pool, USER_B) as conn:
            titles = [
                r["title"] async for r in await conn.execute("select title from chat.threads")
            ]
        async with pool.connection() as conn:
            role = await (await conn.execute("select current_user as u")).fetchone()
    finally:
        await pool.close()

    assert titles == ["b1"]
    assert role["u"] != "authenticated"
