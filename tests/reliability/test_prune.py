"""Checkpoint pruning: old history goes, the newest checkpoints stay, and chats continue.

Chats are made through the API on a dedicated Postgres (pruning touches every thread of a
database, so not the shared one); ages are moved back with SQL instead of waiting days.
"""

import argparse

import httpx
import pytest

from api.app import create_app
from cli.prune import add_prune_parser
from core.db import connect
from core.settings import Settings
from graph.prune import prune_checkpoints
from tests.support.live_server import serve_asgi

TIMEOUT = httpx.Timeout(60.0)
TURNS = ["I want to deploy AI", "A Llama 3.1 8B chatbot for 20 users on AWS", "make it 40 users"]


@pytest.fixture(scope="module")
def api(faultdb):
    app = create_app(Settings(database_url=faultdb.url, _env_file=None))
    with serve_asgi(app) as url:
        yield url


@pytest.fixture
def db(faultdb):
    with connect(faultdb.url) as conn:
        yield conn


def _chat(api, turns=TURNS):
    chat_id = httpx.post(f"{api}/api/v1/chat/start", timeout=TIMEOUT).json()["conversation_id"]
    for text in turns:
        response = httpx.post(
            f"{api}/api/v1/chat/message",
            json={"conversation_id": chat_id, "message": text},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
    return chat_id


def _age(db, chat_id, days):
    """Move a chat's checkpoints and finished runs ``days`` into the past."""
    db.execute(
        "update checkpoints set checkpoint = jsonb_set(checkpoint, '{ts}',"
        " to_jsonb(((checkpoint ->> 'ts')::timestamptz - make_interval(days => %s))::text))"
        " where thread_id = %s",
        (days, chat_id),
    )
    db.execute(
        "update chat.runs set finished_at = finished_at - make_interval(days => %s)"
        " where thread_id = %s",
        (days, chat_id),
    )


def _count(db, table, chat_id):
    query = f"select count(*) as n from {table} where thread_id = %s"
    return db.execute(query, (chat_id,)).fetchone()["n"]


def _unreferenced_blobs(db, chat_id):
    return db.execute(
        "select count(*) as n from checkpoint_blobs b where b.thread_id = %s and not exists ("
        " select 1 from checkpoints c, jsonb_each_text(c.checkpoint -> 'channel_versions') v"
        " where c.thread_id = b.thread_id and c.checkpoint_ns = b.checkpoint_ns"
        " and v.key = b.channel and v.value = b.version)",
        (chat_id,),
    ).fetchone()["n"]


def _run_events(db, chat_id):
    return db.execute(
        "select count(*) as n from chat.run_events e join chat.runs r on r.id = e.run_id"
        " where r.thread_id = %s",
        (chat_id,),
    ).fetchone()["n"]


def test_prune_old_chat_then_newest_kept_history_loads_and_chat_continues(api, db):
    chat_id = _chat(api)
    before = httpx.get(f"{api}/api/v1/chat/{chat_id}", timeout=TIMEOUT).json()
    newest = db.execute(
        "select max(checkpoint_id) as id from checkpoints where thread_id = %s", (chat_id,)
    ).fetchone()["id"]
    total = _count(db, "checkpoints", chat_id)
    _age(db, chat_id, 40)

    report = prune_checkpoints(db, keep_last=3, older_than_days=30)

    # Each offline turn leaves three: its input as sent and as applied, and its end.
    assert total >= 3 * len(TURNS) and report.checkpoints >= total - 3 and report.blobs > 0
    assert _count(db, "checkpoints", chat_id) == 3
    kept = db.execute(
        "select checkpoint_id from checkpoints where thread_id = %s", (chat_id,)
    ).fetchall()
    assert newest in {r["checkpoint_id"] for r in kept}
    orphan_writes = db.execute(
        "select count(*) as n from checkpoint_writes w where thread_id = %s and not exists"
        " (select 1 from checkpoints c where c.thread_id = w.thread_id"
        " and c.checkpoint_ns = w.checkpoint_ns and c.checkpoint_id = w.checkpoint_id)",
        (chat_id,),
    ).fetchone()["n"]
    assert orphan_writes == 0 and _unreferenced_blobs(db, chat_id) == 0
    assert _run_events(db, chat_id) == 0
    after = httpx.get(f"{api}/api/v1/chat/{chat_id}", timeout=TIMEOUT).json()
    assert after == before
    more = httpx.post(
        f"{api}/api/v1/chat/message",
        json={"conversation_id": chat_id, "message": "and on GCP instead"},
        timeout=TIMEOUT,
    )
    assert more.json()["response_type"] == "deployment_plan"
    grown = httpx.get(f"{api}/api/v1/chat/{chat_id}", timeout=TIMEOUT).json()
    assert grown["messages"][: len(before["messages"])] == before["messages"]
    assert len(grown["messages"]) == len(before["messages"]) + 2


def test_prune_recent_chat_then_nothing_deleted(api, db):
    chat_id = _chat(api, TURNS[1:2])
    total = _count(db, "checkpoints", chat_id)
    events = _run_events(db, chat_id)

    prune_checkpoints(db, keep_last=1, older_than_days=1)

    assert _count(db, "checkpoints", chat_id) == total
    assert _run_events(db, chat_id) == events > 0


def test_prune_chat_with_a_run_in_progress_then_skipped(api, db):
    chat_id = _chat(api, TURNS[1:2])
    _age(db, chat_id, 40)
    total = _count(db, "checkpoints", chat_id)
    owner = db.execute("select user_id from chat.threads where id = %s", (chat_id,)).fetchone()
    db.execute(
        "insert into chat.runs (thread_id, user_id) values (%s, %s)", (chat_id, owner["user_id"])
    )
    try:
        prune_checkpoints(db, keep_last=1, older_than_days=30)
        assert _count(db, "checkpoints", chat_id) == total
    finally:
        db.execute("delete from chat.runs where thread_id = %s and status = 'running'", (chat_id,))


def test_prune_dry_run_then_counts_without_deleting(api, db):
    chat_id = _chat(api, TURNS[1:2])
    _age(db, chat_id, 40)
    total = _count(db, "checkpoints", chat_id)

    report = prune_checkpoints(db, keep_last=1, older_than_days=30, dry_run=True)

    assert report.checkpoints >= total - 1 and report.run_events > 0
    assert _count(db, "checkpoints", chat_id) == total


def test_prune_keep_last_zero_then_refused():
    with pytest.raises(ValueError):
        prune_checkpoints(None, keep_last=0, older_than_days=1)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="stack8s")
    add_prune_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_prune_command_then_prints_what_it_deleted(api, faultdb, capsys):
    chat_id = _chat(api, TURNS[1:2])
    with connect(faultdb.url) as conn:
        _age(conn, chat_id, 40)
    args = _parse(["prune", "--keep-last", "2", "--older-than", "30"])

    code = args.handler(Settings(database_url=faultdb.url, _env_file=None), args)

    assert code == 0
    assert "deleted" in capsys.readouterr().out
    with connect(faultdb.url) as conn:
        assert _count(conn, "checkpoints", chat_id) == 2


def test_prune_command_every_hours_then_prunes_again_after_each_sleep(faultdb, monkeypatch):
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        if len(slept) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("cli.prune.time.sleep", sleep)
    args = _parse(["prune", "--keep-last", "5", "--older-than", "30", "--every", "6"])

    with pytest.raises(KeyboardInterrupt):
        args.handler(Settings(database_url=faultdb.url, _env_file=None), args)

    assert slept == [6 * 3600, 6 * 3600]


@pytest.mark.parametrize("argv", [["--keep-last", "0"], ["--older-than", "-1"]])
def test_prune_command_bad_arguments_then_usage_error(argv):
    with pytest.raises(SystemExit) as exit_info:
        _parse(["prune", *argv])

    assert exit_info.value.code == 2
