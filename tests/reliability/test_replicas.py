"""Two API replicas on one Postgres behave as one service.

Two ``stack8s serve`` processes share the session's Postgres, with auth on (the Supabase
stand-in) and a per-user rate limit: one writer per chat whichever replica a message lands
on, a stream rejoined on the replica that does not run the turn still follows it live, the
rate budget is one budget across both, and when one replica is SIGKILLed mid-turn the other
closes its run within 10 s so that the chat takes messages again. The tests run in file
order and share the two processes; the last one kills replica A.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import psycopg
import pytest

from core.db import connect
from core.settings import PROJECT_ROOT
from tests.reliability.support import wait_until
from tests.stubs.supabase_auth import SupabaseAuthStub, running_supabase_auth
from tests.support.live_server import free_port
from tests.support.sse import parse_sse

TIMEOUT = httpx.Timeout(60.0)
PER_MINUTE = 20
MESSAGE = "Serve Mistral 7B with 8k context for 20 users on GCP"
Replica = tuple[str, subprocess.Popen[bytes]]


@contextmanager
def _replicas(database_url: str, env: dict[str, str], n: int = 2) -> Iterator[list[Replica]]:
    """Start ``n`` API processes at once on free loopback ports; stop them afterwards."""
    environment = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning", **env}
    started: list[Replica] = []
    try:
        for _ in range(n):
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1"]
                + ["--port", str(port)],
                cwd=PROJECT_ROOT,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started.append((f"http://127.0.0.1:{port}", proc))
        for url, proc in started:
            wait_until(lambda: proc.poll() is not None or httpx.get(f"{url}/ready").is_success, 60)  # noqa: B023
            assert proc.poll() is None, "an API process exited at start-up"
        yield started
    finally:
        for _, proc in started:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in started:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@pytest.fixture(scope="module")
def auth() -> Iterator[SupabaseAuthStub]:
    with running_supabase_auth() as stub:
        yield stub


@pytest.fixture(scope="module")
def replicas(pg_url, ingested, auth) -> Iterator[list[Replica]]:
    env = {
        "AUTH_ENABLED": "true",
        "SUPABASE_URL": auth.base_url,
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_PER_MINUTE": str(PER_MINUTE),
    }
    with _replicas(pg_url, env) as pair:
        # A first turn on each, side by side: it loads the models, which the tests would
        # otherwise wait for one replica after the other.
        user = _new_user(auth)
        with ThreadPoolExecutor(2) as pool:
            warm = list(pool.map(lambda r: _turn(r[0], user, _new_chat(r[0], user)), pair))
        assert warm == [200, 200]
        yield pair


def _new_user(auth: SupabaseAuthStub) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.mint(str(uuid.uuid4()))}"}


def _new_chat(url: str, user: dict[str, str]) -> str:
    response = httpx.post(f"{url}/api/v1/chat/start", headers=user, timeout=TIMEOUT)
    response.raise_for_status()
    return str(response.json()["conversation_id"])


def _turn(url: str, user: dict[str, str], chat_id: str) -> int:
    return httpx.post(
        f"{url}/api/v1/chat/message",
        json={"conversation_id": chat_id, "message": MESSAGE},
        headers=user,
        timeout=TIMEOUT,
    ).status_code


@contextmanager
def _stalled_tools(database_url: str) -> Iterator[None]:
    """Hold the chart table locked: a turn stops in its tools node until the block ends."""
    lock = psycopg.connect(database_url, autocommit=False)
    try:
        lock.execute("lock table k8s.charts in access exclusive mode")
        yield
    finally:
        lock.rollback()
        lock.close()


def _stream_in_background(url, user, chat_id, events) -> threading.Thread:
    def run():
        try:
            with httpx.stream(
                "POST",
                f"{url}/api/v1/chat/message",
                json={"conversation_id": chat_id, "message": MESSAGE},
                headers={**user, "Accept": "text/event-stream"},
                timeout=TIMEOUT,
            ) as response:
                events.extend(parse_sse(response.iter_lines()))
        except httpx.HTTPError:
            pass  # the replica dies under the stream

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _stalled_in_tools(events) -> bool:
    return any(e[1] == "tool" and e[2].get("name") == "k8s_chart_search" for e in events)


def test_messages_to_one_chat_on_both_replicas_then_one_writer(replicas, auth, pg_url):
    (a, _), (b, _) = replicas
    user = _new_user(auth)
    chat_id = _new_chat(a, user)

    with ThreadPoolExecutor(8) as pool:
        # The accepted turn waits at its tools until the others were all answered.
        with _stalled_tools(pg_url):
            sent = [pool.submit(_turn, url, user, chat_id) for url in [a, b] * 4]
            wait_until(lambda: sum(f.done() for f in sent) == 7, 30)
        statuses = [f.result() for f in sent]
    detail = httpx.get(f"{b}/api/v1/chat/{chat_id}", headers=user, timeout=TIMEOUT).json()

    assert sorted(statuses) == [200] + [409] * 7
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]


def test_stream_rejoined_on_the_other_replica_then_live_events_to_the_end(
    replicas, auth, pg_url
):
    (a, _), (b, _) = replicas
    user = _new_user(auth)
    chat_id = _new_chat(a, user)
    on_a: list = []
    with _stalled_tools(pg_url):
        _stream_in_background(a, user, chat_id, on_a)
        wait_until(lambda: _stalled_in_tools(on_a), 30)
        time.sleep(0.3)  # whatever the run emits before it blocks has come
        run_id = on_a[0][2]["run_id"]
        rejoined = httpx.stream(
            "GET",
            f"{b}/api/v1/chat/{chat_id}/runs/{run_id}/stream",
            headers={**user, "Accept": "text/event-stream", "Last-Event-ID": "1"},
            timeout=TIMEOUT,
        )
        response = rejoined.__enter__()
        events = parse_sse(response.iter_lines())
        replayed = [next(events) for _ in range(len(on_a) - 1)]
    # The lock is gone: the rest of the turn happens on A, and B hears of it live.
    live = list(events)
    rejoined.__exit__(None, None, None)

    ids = [e[0] for e in replayed + live]
    assert ids == list(range(2, len(ids) + 2))  # every event once, in order, none missing
    assert [e[1] for e in replayed] == [e[1] for e in on_a[1:]][: len(replayed)]
    assert any(e[1] == "plan" for e in live)
    assert live[-1][1] == "end" and live[-1][2]["status"] == "done"


def test_requests_spread_over_both_replicas_then_one_rate_budget(replicas, auth):
    (a, _), (b, _) = replicas
    user = _new_user(auth)

    statuses = [
        httpx.get(f"{url}/api/v1/chats", headers=user, timeout=TIMEOUT).status_code
        for url in [a, b] * PER_MINUTE
    ]

    admitted = statuses.count(200)
    # One budget of PER_MINUTE (plus what refills while the requests go out), not two.
    assert PER_MINUTE <= admitted <= PER_MINUTE + 2, statuses
    assert set(statuses) == {200, 429}
    assert 429 in statuses[PER_MINUTE + 2 :: 2] and 429 in statuses[PER_MINUTE + 3 :: 2]


def test_replica_killed_mid_turn_then_the_other_closes_the_run_within_10_s(
    replicas, auth, pg_url
):
    (a, proc_a), (b, _) = replicas
    user = _new_user(auth)
    chat_id = _new_chat(b, user)
    on_a: list = []
    with _stalled_tools(pg_url):
        _stream_in_background(a, user, chat_id, on_a)
        wait_until(lambda: _stalled_in_tools(on_a), 30)
        run_id = on_a[0][2]["run_id"]
        proc_a.kill()
        killed_at = time.monotonic()
        proc_a.wait(timeout=10)
    with connect(pg_url) as db:
        closed = wait_until(
            lambda: db.execute(
                "select error from chat.runs where id = %s and status = 'failed'", (run_id,)
            ).fetchone(),
            15,
            interval_s=0.05,
        )
    detected_s = time.monotonic() - killed_at
    with httpx.stream(
        "GET",
        f"{b}/api/v1/chat/{chat_id}/runs/{run_id}/stream",
        headers={**user, "Accept": "text/event-stream", "Last-Event-ID": str(len(on_a))},
        timeout=TIMEOUT,
    ) as response:
        ending = list(parse_sse(response.iter_lines()))
    again = httpx.post(
        f"{b}/api/v1/chat/message",
        json={"conversation_id": chat_id, "message": MESSAGE},
        headers=user,
        timeout=TIMEOUT,
    )

    assert closed["error"] == "run_interrupted"
    assert detected_s < 10, detected_s
    # The client may not have read all that A stored before it died; then comes the close.
    assert [e[1] for e in ending][-2:] == ["error", "end"]
    assert [e[0] for e in ending] == list(range(len(on_a) + 1, len(on_a) + len(ending) + 1))
    assert ending[-2][2]["code"] == "run_interrupted"
    assert again.status_code == 200 and again.json()["response_type"] == "deployment_plan"
