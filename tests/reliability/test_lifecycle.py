"""The embedded Postgres and the server's life, through `stack8s serve` processes and the CLI.

Each test runs real `stack8s serve` processes on one embedded Postgres of its own (a data
directory filled from the session database, then released by this process, so that the
servers are its only users): the app restarts a Postgres that dies, SIGTERM drains the
running turns, and the embedded Postgres stops with its last user even after others were
killed, or with `stack8s db stop`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from api.app import create_app
from core.db import stop_embedded_postgres
from core.embedded import embedded_status, postmaster_pid, stop_if_unused, watchdog_pid
from core.settings import PROJECT_ROOT, Settings
from tests.reliability.dedicated import dedicated_postgres
from tests.reliability.support import started_nodes, wait_until
from tests.support.live_server import free_port, serve_asgi
from tests.support.sse import parse_sse

SLOW = httpx.Timeout(60.0)
MESSAGE = "Deploy Llama 3.1 8B for 20 users on AWS"


@pytest.fixture
def home(pg_url, ingested, tmp_path) -> Iterator[Path]:
    """Yield a STACK8S_HOME whose pgdata is migrated and filled, and whose server is stopped."""
    with dedicated_postgres(pg_url) as db:
        stop_embedded_postgres(db.data_dir)  # this process was its only user: it stops
        try:
            yield db.data_dir.parent
        finally:
            stop_if_unused(db.data_dir)


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {
        **env,
        "STACK8S_HOME": str(home),
        "AUTH_ENABLED": "false",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "warning",
        **extra,
    }


@contextmanager
def _server(home: Path, log: Path, **extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `stack8s serve` on the embedded Postgres of ``home``; kill it afterwards if alive."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=_env(home, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or httpx.get(f"{url}/ready").is_success, 90)
        assert proc.poll() is None, log.read_text()[-3000:]
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _db(home: Path, action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "db", action],
        cwd=PROJECT_ROOT,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _pgdata(home: Path) -> Path:
    return (home / "pgdata").resolve()


def test_embedded_postgres_killed_then_ready_recovers_without_a_restart(home, tmp_path):
    with _server(home, tmp_path / "serve.log") as (url, _):
        before = postmaster_pid(_pgdata(home))
        assert before is not None
        os.kill(before, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: httpx.get(f"{url}/ready", timeout=2).status_code == 503, 10)

        wait_until(lambda: httpx.get(f"{url}/ready", timeout=2).status_code == 200, 60)
        recovered_s = time.monotonic() - killed
        answer = httpx.post(f"{url}/api/v1/chat/message", json={"message": MESSAGE}, timeout=SLOW)

    after = postmaster_pid(_pgdata(home))
    assert after is None or after != before  # a new postmaster (stopped with the server)
    assert answer.status_code == 200 and answer.json()["response_type"] == "deployment_plan"
    print(f"/ready recovered {recovered_s:.1f} s after the postmaster was killed")  # noqa: T201


def test_draining_then_new_turns_are_503_and_other_requests_still_answered(pg_url, ingested):
    app = create_app(Settings(database_url=pg_url, _env_file=None))
    with serve_asgi(app) as url:
        chat_id = httpx.post(f"{url}/api/v1/chat/start", timeout=SLOW).json()["conversation_id"]
        app.state.chat.draining = True  # what SIGTERM sets before the grace period

        message = httpx.post(
            f"{url}/api/v1/chat/message",
            json={"conversation_id": chat_id, "message": MESSAGE},
            timeout=SLOW,
        )
        resume = httpx.post(f"{url}/api/v1/chat/{chat_id}/resume", timeout=SLOW)
        detail = httpx.get(f"{url}/api/v1/chat/{chat_id}", timeout=SLOW)

    assert message.status_code == 503 and message.json()["code"] == "service_unavailable"
    assert resume.status_code == 503
    assert detail.status_code == 200


def _stream(url: str, body: dict, events: list, done: threading.Event) -> None:
    def run() -> None:
        try:
            with httpx.stream(
                "POST",
                f"{url}/api/v1/chat/message",
                json=body,
                headers={"Accept": "text/event-stream"},
                timeout=SLOW,
            ) as response:
                for event in parse_sse(response.iter_lines()):
                    events.append(event)
        except httpx.HTTPError as exc:
            events.append((0, "cut", repr(exc)))
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()


def test_sigterm_mid_turn_then_the_stream_ends_and_the_turn_resumes(home, tmp_path):
    log = tmp_path / "serve.log"
    events: list = []
    done = threading.Event()
    with _server(home, log, SHUTDOWN_GRACE_S="1") as (url, proc):
        chat_id = httpx.post(f"{url}/api/v1/chat/start", timeout=SLOW).json()["conversation_id"]
        # Hold the chart catalog locked: the turn stalls in the tools node, past the grace.
        lock = psycopg.connect(f"postgresql://postgres:@/postgres?host={_pgdata(home)}")
        lock.execute("lock table k8s.charts in access exclusive mode")
        _stream(url, {"conversation_id": chat_id, "message": MESSAGE}, events, done)
        wait_until(
            lambda: any(e[1] == "tool" and e[2].get("name") == "k8s_chart_search" for e in events),
            60,
        )
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert done.wait(timeout=15)
        code = proc.wait(timeout=30)
        stopped_s = time.monotonic() - signalled
        lock.close()

    assert code == 0, log.read_text()[-3000:]
    assert [e[1] for e in events[-2:]] == ["error", "end"], events[-3:]
    assert events[-2][2]["code"] == "run_interrupted" and events[-1][2]["status"] == "failed"
    assert stopped_s < 15, stopped_s
    print(f"SIGTERM to exit with a 1 s grace: {stopped_s:.1f} s")  # noqa: T201
    # The only server is gone, and the embedded Postgres with it.
    wait_until(lambda: not embedded_status(_pgdata(home)).running, 15)

    with _server(home, log) as (url, _):
        with httpx.stream(
            "POST",
            f"{url}/api/v1/chat/{chat_id}/resume",
            headers={"Accept": "text/event-stream"},
            timeout=SLOW,
        ) as response:
            assert response.status_code == 200, response.read()
            resumed = list(parse_sse(response.iter_lines()))
        stored = httpx.get(f"{url}/api/v1/chat/{chat_id}/runs/{events[0][2]['run_id']}/stream")

    assert started_nodes(resumed)[0] == "tools"
    assert [e[1] for e in resumed[-2:]] == ["plan", "end"]
    # What the stream showed live is what the run holds.
    assert [(e[0], e[1]) for e in parse_sse(stored.text.splitlines())] == [
        (e[0], e[1]) for e in events
    ]


def test_a_server_killed_then_the_last_one_still_stops_postgres(home, tmp_path):
    with (
        _server(home, tmp_path / "one.log") as (_, one),
        _server(home, tmp_path / "two.log") as (_, two),
    ):
        status = _db(home, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "running" in status.stdout
        assert str(one.pid) in status.stdout and str(two.pid) in status.stdout

        one.kill()
        one.wait(timeout=10)
        after_kill = _db(home, "status")
        refused = _db(home, "stop")
        two.send_signal(signal.SIGTERM)
        assert two.wait(timeout=30) == 0

    assert "stale pids" in after_kill.stdout and str(one.pid) in after_kill.stdout
    assert refused.returncode == 1 and str(two.pid) in refused.stdout
    wait_until(lambda: not embedded_status(_pgdata(home)).running, 15)
    stopped = _db(home, "status")
    assert stopped.returncode == 3 and "stopped" in stopped.stdout


def test_every_server_killed_then_postgres_stops_by_itself(home, tmp_path):
    with _server(home, tmp_path / "serve.log") as (_, proc):
        assert watchdog_pid(_pgdata(home)) is not None
        proc.kill()
        proc.wait(timeout=10)

    # Its watchdog, a process of its own, saw the last user go.
    wait_until(lambda: not embedded_status(_pgdata(home)).running, 15)
    status = _db(home, "status")
    assert status.returncode == 3 and "stale" not in status.stdout


def test_server_and_watchdog_killed_then_db_stop_stops_postgres(home, tmp_path):
    with _server(home, tmp_path / "serve.log") as (_, proc):
        watchdog = watchdog_pid(_pgdata(home))
        assert watchdog is not None
        os.kill(watchdog, signal.SIGKILL)
        proc.kill()
        proc.wait(timeout=10)
    outlived = _db(home, "status")

    stop = _db(home, "stop")

    assert outlived.returncode == 0 and str(proc.pid) in outlived.stdout  # running, stale pid
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "stopped" in stop.stdout
    assert _db(home, "status").returncode == 3
