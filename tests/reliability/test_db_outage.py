"""Postgres killed (SIGKILL to the postmaster) in the middle of a turn, over real HTTP.

The API runs on a dedicated embedded Postgres (tests.reliability.dedicated). While the
database is down every request must answer 503 ``db_unavailable`` within 2 s and the
streamed turn must end; once it is back, the chat's history is intact and the interrupted
turn resumes from its last checkpoint: an offline turn from its saved message (it is saved
at its input and its end), without repeating the message in the history.
"""

import threading
import time

import httpx
import psycopg
import pytest

from api.app import create_app
from core.db import connect
from core.settings import Settings
from tests.reliability.support import started_nodes, wait_until
from tests.support.live_server import serve_asgi
from tests.support.sse import parse_sse

FAST = httpx.Timeout(2.0)
SLOW = httpx.Timeout(60.0)
FIRST = "Deploy Llama 3.1 8B for 20 users on AWS"
SECOND = "Now serve Mistral 7B with 8k context for 20 users on GCP"


@pytest.fixture(scope="module")
def api(faultdb):
    app = create_app(Settings(database_url=faultdb.url, _env_file=None))
    with serve_asgi(app) as url:
        yield url


@pytest.fixture(scope="module")
def other_api(faultdb):
    """A second app on the same database: it follows the first one's runs from the table."""
    app = create_app(Settings(database_url=faultdb.url, _env_file=None))
    with serve_asgi(app) as url:
        yield url


def _stall_chart_search(url):
    """Hold k8s.charts locked: the turn stalls in the tools node, at its chart searches."""
    conn = psycopg.connect(url, autocommit=False)
    conn.execute("lock table k8s.charts in access exclusive mode")
    return conn


def _stream_in_background(url, body, events, done):
    def run():
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
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _rejoin_in_background(url, chat_id, run_id, events, done):
    def run():
        try:
            with httpx.stream(
                "GET",
                f"{url}/api/v1/chat/{chat_id}/runs/{run_id}/stream",
                headers={"Accept": "text/event-stream", "Last-Event-ID": "0"},
                timeout=SLOW,
            ) as response:
                for event in parse_sse(response.iter_lines()):
                    events.append(event)
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _json_in_background(url, body, answer):
    def run():
        try:
            answer["response"] = httpx.post(f"{url}/api/v1/chat/message", json=body, timeout=SLOW)
        except httpx.HTTPError as exc:
            answer["response"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _stalled_at_chart_search(db_url, chat_id):
    """Say whether the chat's run has called the chart search (and so waits on the lock)."""
    with connect(db_url) as conn:
        row = conn.execute(
            "select count(*) as n from chat.run_events e join chat.runs r on r.id = e.run_id"
            " where r.thread_id = %s and r.status = 'running' and e.event = 'tool'"
            " and e.data->>'name' = 'k8s_chart_search'",
            (chat_id,),
        ).fetchone()
    return row["n"] > 0


def _requests_while_down(api, chat_id):
    return {
        "list": lambda c: c.get(f"{api}/api/v1/chats"),
        "history": lambda c: c.get(f"{api}/api/v1/chat/{chat_id}"),
        "start": lambda c: c.post(f"{api}/api/v1/chat/start"),
        "message": lambda c: c.post(
            f"{api}/api/v1/chat/message", json={"conversation_id": chat_id, "message": "hi"}
        ),
        "rename": lambda c: c.patch(f"{api}/api/v1/chat/{chat_id}", json={"title": "t"}),
        "compute": lambda c: c.post(f"{api}/api/v1/tools/compute/search", json={"top_k": 1}),
        "charts": lambda c: c.post(f"{api}/api/v1/tools/k8s/search", json={"query": "redis"}),
    }


def test_postgres_killed_mid_turn_then_fast_503_intact_history_and_resume(
    api, other_api, faultdb
):
    chat_id = httpx.post(f"{api}/api/v1/chat/start", timeout=SLOW).json()["conversation_id"]
    json_chat = httpx.post(f"{api}/api/v1/chat/start", timeout=SLOW).json()["conversation_id"]
    first = httpx.post(
        f"{api}/api/v1/chat/message",
        json={"conversation_id": chat_id, "message": FIRST},
        timeout=SLOW,
    )
    assert first.json()["response_type"] == "deployment_plan"
    lock = _stall_chart_search(faultdb.url)
    events, done = [], threading.Event()
    _stream_in_background(api, {"conversation_id": chat_id, "message": SECOND}, events, done)
    wait_until(
        lambda: any(e[1] == "tool" and e[2].get("name") == "k8s_chart_search" for e in events), 30
    )
    time.sleep(0.3)  # the tools node is now waiting on the lock
    run_id = events[0][2]["run_id"]
    # The same run followed from the other app, which reads it from the table.
    rejoined, rejoin_done = [], threading.Event()
    _rejoin_in_background(other_api, chat_id, run_id, rejoined, rejoin_done)
    wait_until(lambda: rejoined and rejoined[-1][0] == events[-1][0], 15)
    # A message answered as JSON, stalled at the same place.
    json_answer: dict = {}
    json_thread = _json_in_background(
        api, {"conversation_id": json_chat, "message": FIRST}, json_answer
    )
    wait_until(lambda: _stalled_at_chart_search(faultdb.url, json_chat), 30)

    pid = faultdb.postmaster_pid()
    faultdb.kill()
    killed_at = time.monotonic()
    answers = {}
    with httpx.Client(timeout=FAST) as client:
        for name, send in _requests_while_down(api, chat_id).items():
            started = time.monotonic()
            response = send(client)  # a hang past 2 s raises ReadTimeout: the test fails
            answers[name] = (response.status_code, response.json(), time.monotonic() - started)
        ready = client.get(f"{api}/ready")
    stream_ended = done.wait(timeout=5)
    stream_end_s = time.monotonic() - killed_at
    rejoin_ended = rejoin_done.wait(timeout=5)
    json_thread.join(timeout=5)
    lock.close()

    for name, (status, body, elapsed) in answers.items():
        assert status == 503, (name, status, body)
        assert body["code"] == "db_unavailable" and set(body) == {"code", "message", "request_id"}
        assert elapsed < 2.0, (name, elapsed)
    assert ready.status_code == 503
    assert stream_ended and stream_end_s < 5, stream_end_s
    assert [e[1] for e in events[-2:]] == ["error", "end"]
    assert events[-2][2]["code"] == "db_unavailable" and events[-1][2]["status"] == "failed"
    # The stream followed from the other app ends too (it used to be cut with no end).
    assert rejoin_ended
    assert [e[1] for e in rejoined[-2:]] == ["error", "end"], rejoined[-3:]
    assert rejoined[-2][2]["code"] == "db_unavailable"
    assert [e[0] for e in rejoined] == [e[0] for e in events]
    # The JSON answer says the database went away and that the turn can be resumed.
    response = json_answer["response"]
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "db_unavailable" and body["resumable"] is True
    assert set(body) == {"code", "message", "request_id", "resumable"}

    faultdb.wait_stopped(pid)
    faultdb.restart()
    wait_until(lambda: httpx.get(f"{api}/ready", timeout=FAST).status_code == 200, 20)

    # The run could not record its end while the database was down; it does once it is back.
    detail = wait_until(
        lambda: (
            d := httpx.get(f"{api}/api/v1/chat/{chat_id}", timeout=FAST).json()
        )["active_run_id"]
        is None
        and d,
        15,
    )
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "user"]
    assert [m["content"] for m in detail["messages"][::2]] == [FIRST, SECOND]
    assert detail["deployment_plan"] == first.json()["deployment_plan"]
    with connect(faultdb.url) as conn:
        stored = conn.execute(
            "select r.status, r.error, e.seq, e.event, e.data from chat.runs r"
            " join chat.run_events e on e.run_id = r.id where r.id = %s order by e.seq desc",
            (run_id,),
        ).fetchall()
    assert stored[0]["status"] == "failed" and stored[0]["error"] == "db_unavailable"
    assert [r["event"] for r in stored[:2]] == ["end", "error"]
    assert stored[1]["data"]["code"] == "db_unavailable"
    # What the stream showed live is what the table holds, ids included.
    assert [(e[0], e[1], e[2]) for e in events[-2:]] == [
        (r["seq"], r["event"], r["data"]) for r in stored[1::-1]
    ]

    with httpx.stream(
        "POST",
        f"{api}/api/v1/chat/{chat_id}/resume",
        headers={"Accept": "text/event-stream"},
        timeout=SLOW,
    ) as response:
        assert response.status_code == 200, response.read()
        resumed = list(parse_sse(response.iter_lines()))

    nodes = started_nodes(resumed)
    assert resumed[0][2]["resumed"] is True
    # An offline turn is saved at its input and its end (graph.runs): the database went
    # before the end, so the turn runs again from its saved message, once.
    assert nodes[0] == "optimize" and nodes.count("optimize") == 1, nodes
    assert [e[1] for e in resumed[-2:]] == ["plan", "end"] and resumed[-1][2]["status"] == "done"
    after = httpx.get(f"{api}/api/v1/chat/{chat_id}", timeout=SLOW).json()
    assert [m["role"] for m in after["messages"]] == ["user", "assistant"] * 2
    assert after["deployment_plan"] == resumed[-2][2]["plan"]
    assert all(g["provider"] == "gcp" for g in after["deployment_plan"]["gpu_recommendations"])

    # The turn answered 503 resumable continues where it stopped.
    wait_until(
        lambda: httpx.get(f"{api}/api/v1/chat/{json_chat}", timeout=FAST).json()["active_run_id"]
        is None,
        15,
    )
    resumed_json = httpx.post(f"{api}/api/v1/chat/{json_chat}/resume", timeout=SLOW)
    assert resumed_json.status_code == 200, resumed_json.text
    assert resumed_json.json()["response_type"] == "deployment_plan"


def test_resume_when_the_last_turn_finished_then_409(api):
    chat_id = httpx.post(f"{api}/api/v1/chat/start", timeout=SLOW).json()["conversation_id"]
    httpx.post(
        f"{api}/api/v1/chat/message",
        json={"conversation_id": chat_id, "message": FIRST},
        timeout=SLOW,
    )

    response = httpx.post(f"{api}/api/v1/chat/{chat_id}/resume", timeout=SLOW)

    assert response.status_code == 409 and response.json()["code"] == "conflict"
