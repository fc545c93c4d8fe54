"""An API process killed with SIGKILL mid-run: the next process closes the run at start-up.

Both processes are ``stack8s serve`` subprocesses on a dedicated Postgres. The run is
stalled in its tools node (a table lock), the process is killed, and the run stays
``running`` until a new process starts: its sweeper marks the run failed with an ``error``
event, after which the chat takes messages again and the turn can be resumed from its
last checkpoint: an offline turn is saved at its input, so it runs again from its message
(tests/integration/test_run_checkpoints.py shows a turn that waits on an LLM resuming at
the step it stopped in). A replica that dies after the others started is covered by their periodic
sweep.
"""

import threading
import time

import httpx
import psycopg

from api.app import create_app
from core.db import connect
from core.settings import Settings
from tests.reliability.support import api_process, started_nodes, wait_until
from tests.support.live_server import serve_asgi
from tests.support.sse import parse_sse

TIMEOUT = httpx.Timeout(60.0)
MESSAGE = "Serve Mistral 7B with 8k context for 20 users on GCP"


def _follow(url, chat_id, events):
    def run():
        try:
            with httpx.stream(
                "POST",
                f"{url}/api/v1/chat/message",
                json={"conversation_id": chat_id, "message": MESSAGE},
                headers={"Accept": "text/event-stream"},
                timeout=TIMEOUT,
            ) as response:
                for event in parse_sse(response.iter_lines()):
                    events.append(event)
        except httpx.HTTPError:
            pass  # the server dies under the stream

    threading.Thread(target=run, daemon=True).start()


def test_api_killed_mid_run_then_next_start_closes_the_run_and_it_resumes(faultdb):
    with api_process(faultdb.url) as (url, proc):
        chat_id = httpx.post(f"{url}/api/v1/chat/start", timeout=TIMEOUT).json()[
            "conversation_id"
        ]
        lock = psycopg.connect(faultdb.url, autocommit=False)
        lock.execute("lock table k8s.charts in access exclusive mode")
        events = []
        _follow(url, chat_id, events)
        wait_until(
            lambda: any(e[1] == "tool" and e[2].get("name") == "k8s_chart_search" for e in events),
            60,
        )
        time.sleep(0.3)
        proc.kill()
        proc.wait(timeout=10)
        lock.rollback()
        lock.close()
    run_id = events[0][2]["run_id"]

    with connect(faultdb.url) as db:
        left = db.execute("select status from chat.runs where id = %s", (run_id,)).fetchone()
        # The crash happened a moment ago; the sweeper waits for a stale heartbeat (60 s).
        # Age the heartbeat instead of sleeping, as if the next start came two minutes later.
        db.execute(
            "update chat.runs set heartbeat_at = now() - interval '2 minutes' where id = %s",
            (run_id,),
        )
    assert left["status"] == "running"

    with api_process(faultdb.url) as (url, _):
        with connect(faultdb.url) as db:
            run = db.execute(
                "select status, error from chat.runs where id = %s", (run_id,)
            ).fetchone()
            stored = db.execute(
                "select event, data from chat.run_events where run_id = %s order by seq",
                (run_id,),
            ).fetchall()
        with httpx.stream(
            "POST",
            f"{url}/api/v1/chat/{chat_id}/resume",
            headers={"Accept": "text/event-stream"},
            timeout=TIMEOUT,
        ) as response:
            resumed = list(parse_sse(response.iter_lines()))
        detail = httpx.get(f"{url}/api/v1/chat/{chat_id}", timeout=TIMEOUT).json()

    assert (run["status"], run["error"]) == ("failed", "run_interrupted")
    assert [r["event"] for r in stored[-2:]] == ["error", "end"]
    assert stored[-2]["data"]["code"] == "run_interrupted" and stored[-2]["data"]["message"]
    nodes = started_nodes(resumed)
    assert nodes[0] == "optimize" and nodes.count("optimize") == 1, nodes
    assert resumed[-1][1] == "end" and resumed[-1][2]["status"] == "done"
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert detail["deployment_plan"] is not None and detail["active_run_id"] is None


def test_run_left_by_a_replica_that_died_after_start_up_then_a_periodic_sweep_closes_it(
    faultdb,
):
    app = create_app(Settings(database_url=faultdb.url, _env_file=None))
    app.state.chat.sweep_every_s = 0.2  # production: every 30 s
    with serve_asgi(app) as url:
        chat_id = httpx.post(f"{url}/api/v1/chat/start", timeout=TIMEOUT).json()[
            "conversation_id"
        ]
        with connect(faultdb.url) as db:
            # Another replica's run whose heartbeat stopped: this one started before it went
            # stale, so only a sweep after start-up can find it.
            owner = db.execute("select user_id from chat.threads where id = %s", (chat_id,))
            run = db.execute(
                "insert into chat.runs (thread_id, user_id, heartbeat_at)"
                " values (%s, %s, now() - interval '5 minutes') returning id",
                (chat_id, owner.fetchone()["user_id"]),
            ).fetchone()
            closed = wait_until(
                lambda: db.execute(
                    "select status from chat.runs where id = %s and status = 'failed'",
                    (run["id"],),
                ).fetchone(),
                10,
            )
        after = httpx.post(
            f"{url}/api/v1/chat/message",
            json={"conversation_id": chat_id, "message": MESSAGE},
            timeout=TIMEOUT,
        )

    assert closed["status"] == "failed"
    assert after.status_code == 200
