from typing import Any

import psycopg

from core.migrate import apply_migrations, discover


def _schema_fingerprint(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    columns = conn.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_schema in ('chat', 'cloud', 'k8s', 'hf', 'cache', 'auth') order by 1, 2, 3"
    ).fetchall()
    indexes = conn.execute(
        "select schemaname, indexname, indexdef from pg_indexes "
        "where schemaname in ('chat', 'cloud', 'k8s', 'hf', 'cache') order by 1, 2"
    ).fetchall()
    policies = conn.execute(
        "select schemaname, tablename, policyname, qual from pg_policies order by 1, 2, 3"
    ).fetchall()
    return [tuple(r.values()) for r in [*columns, *indexes, *policies]]


def test_migrations_when_applied_twice_then_second_run_changes_nothing(db):
    before = _schema_fingerprint(db)

    applied = apply_migrations(db)

    assert applied == []
    assert _schema_fingerprint(db) == before
    versions = [r["version"] for r in db.execute("select version from schema_migrations")]
    assert sorted(versions) == [m.version for m in discover()]


def test_migrations_create_hnsw_index_and_row_level_security(db):
    index = db.execute(
        "select indexdef from pg_indexes where indexname = 'card_chunks_embedding_idx'"
    ).fetchone()
    rls = db.execute(
        "select relrowsecurity from pg_class where oid = 'chat.threads'::regclass"
    ).fetchone()
    policy = db.execute("select qual from pg_policies where tablename = 'threads'").fetchone()

    assert "hnsw" in index["indexdef"] and "vector_cosine_ops" in index["indexdef"]
    assert rls["relrowsecurity"] is True
    assert "auth.uid()" in policy["qual"]


def test_authenticated_role_cannot_bypass_rls(db):
    row = db.execute(
        "select rolbypassrls, rolsuper from pg_roles where rolname = 'authenticated'"
    ).fetchone()

    assert row == {"rolbypassrls": False, "rolsuper": False}
