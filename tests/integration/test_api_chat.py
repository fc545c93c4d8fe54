"""The chat API over real HTTP: the reference conversations (JSON and SSE), the chat list,
history, rename and delete, one writer per chat, reconnecting to a run, and the limits.

The server runs with auth on against the Supabase Auth stand-in (tests.stubs.supabase_auth).
"""

import asyncio
import json
import time
import uuid

import httpx
import pytest

from agents.schemas import DeploymentPlan
from api.app import create_app
from core.db import create_pool
from core.settings import Settings
from graph.chat_store import sweep_stale_runs
from graph.lease import LOCK_SPACE
from tests.support.live_server import serve_asgi
from tests.support.sse import aparse_sse, parse_sse

ALLOWED_ORIGIN = "http://allowed.example"
TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module")
def server(pg_url, ingested, auth_stub):
    settings = Settings(
        database_url=pg_url,
        auth_enabled=True,
        supabase_url=auth_stub.base_url,
        cors_origins=[ALLOWED_ORIGIN],
        _env_file=None,
    )
    app = create_app(settings)
    with serve_asgi(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def api(server):
    return server[0]


@pytest.fixture
def alice(auth_stub):
    return {"Authorization": f"Bearer {auth_stub.mint(str(uuid.uuid4()))}"}


def _new_chat(api, headers):
    response = httpx.post(f"{api}/api/v1/chat/start", headers=headers, timeout=TIMEOUT)
    assert response.status_code == 200
    return response.json()["conversation_id"]


def _send(api, headers, chat_id, text, stream=False):
    body = {"conversation_id": chat_id, "message": text}
    if not stream:
        return httpx.post(f"{api}/api/v1/chat/message", json=body, headers=headers, timeout=TIMEOUT)
    sse_headers = {**headers, "Accept": "text/event-stream"}
    with httpx.stream(
        "POST", f"{api}/api/v1/chat/message", json=body, headers=sse_headers, timeout=TIMEOUT
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(parse_sse(response.iter_lines()))


def _turn(api, headers, chat_id, text, stream):
    """Return (response_type, spec, plan) of one turn, sent as JSON or as a stream."""
    if not stream:
        response = _send(api, headers, chat_id, text)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["conversation_id"] == chat_id and body["response"]
        return body["response_type"], body["spec"], body["deployment_plan"]
    events = _send(api, headers, chat_id, text, stream=True)
    ids = [e[0] for e in events]
    names = [e[1] for e in events]
    assert ids == list(range(1, len(events) + 1))
    assert names[0] == "metadata" and names[-1] == "end"
    assert "status" in names
    final = events[-2]
    if final[1] == "plan":
        assert "tool" in names
        return "deployment_plan", final[2]["spec"], final[2]["plan"]
    assert final[1] == "clarification", final
    return "clarification", final[2]["spec"], None


def _plan(result):
    kind, _, plan = result
    assert kind == "deployment_plan"
    return DeploymentPlan.model_validate(plan)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_llama_70b_then_plan_with_the_model_and_fitting_gpus(api, alice, stream):
    text = "Deploy Llama 3.1 70B for inference"

    plan = _plan(_turn(api, alice, _new_chat(api, alice), text, stream))

    assert plan.model_recommendations[0].model_id == "meta-llama/Llama-3.1-70B-Instruct"
    assert plan.gpu_recommendations[0].vram_total_gb * 0.9 >= plan.sizing.total_vram_gb


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_cv_training_on_budget_then_every_gpu_within_it(api, alice, stream):
    text = "We need to train a computer vision model for object detection, budget $2,000/month"

    plan = _plan(_turn(api, alice, _new_chat(api, alice), text, stream))

    assert plan.gpu_recommendations
    assert all(g.price_monthly_usd <= 2000 for g in plan.gpu_recommendations)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_sdxl_serving_then_text_to_image_models(api, alice, stream):
    text = "Set up Stable Diffusion XL serving"

    plan = _plan(_turn(api, alice, _new_chat(api, alice), text, stream))

    assert {m.pipeline_tag for m in plan.model_recommendations} == {"text-to-image"}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_lora_with_mlflow_then_mlflow_chart(api, alice, stream):
    text = "Fine-tune a 7B model with LoRA and track experiments with MLflow"

    result = _turn(api, alice, _new_chat(api, alice), text, stream)

    assert "mlflow" in [c.chart for c in _plan(result).kubernetes_stack]
    assert result[1]["model_needs"]["fine_tuning_method"] == "lora"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_vague_request_then_clarification_then_plan_after_the_answer(api, alice, stream):
    chat_id = _new_chat(api, alice)

    first = _turn(api, alice, chat_id, "I want to deploy AI", stream)
    second = _turn(api, alice, chat_id, "A Llama 3.1 8B chatbot for 20 users on AWS", stream)

    assert first[0] == "clarification"
    assert all(g.provider == "aws" for g in _plan(second).gpu_recommendations)
    history = httpx.get(f"{api}/api/v1/chat/{chat_id}", headers=alice, timeout=TIMEOUT).json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"] * 2
    assert history["deployment_plan"] == second[2]
    assert history["active_run_id"] is None


def test_message_without_conversation_id_then_a_new_chat_with_the_message_as_title(api, alice):
    response = httpx.post(
        f"{api}/api/v1/chat/message",
        json={"message": "Set up Stable Diffusion XL serving"},
        headers=alice,
        timeout=TIMEOUT,
    )

    chat_id = response.json()["conversation_id"]
    listed = httpx.get(f"{api}/api/v1/chats", headers=alice, timeout=TIMEOUT).json()["items"]
    assert [c["conversation_id"] for c in listed] == [chat_id]
    assert listed[0]["title"] == "Set up Stable Diffusion XL serving"


def test_chat_list_then_newest_first_and_paginated(api, alice):
    ids = []
    for n in range(5):
        chat_id = _new_chat(api, alice)
        assert _send(api, alice, chat_id, f"I want to deploy AI number {n}").status_code == 200
        ids.append(chat_id)

    page1 = httpx.get(f"{api}/api/v1/chats?limit=2", headers=alice, timeout=TIMEOUT).json()
    page2 = httpx.get(
        f"{api}/api/v1/chats?limit=2&offset={page1['next_offset']}", headers=alice, timeout=TIMEOUT
    ).json()
    last = httpx.get(f"{api}/api/v1/chats?limit=2&offset=4", headers=alice, timeout=TIMEOUT).json()

    listed = [c["conversation_id"] for c in page1["items"] + page2["items"] + last["items"]]
    assert listed == list(reversed(ids))
    assert page1["next_offset"] == 2 and last["next_offset"] is None


def test_started_chat_without_messages_then_not_listed_until_its_first_message(api, alice):
    empty = _new_chat(api, alice)
    used = _new_chat(api, alice)

    assert _send(api, alice, used, "Deploy Llama 3.1 8B for 5 users").status_code == 200

    listed = httpx.get(f"{api}/api/v1/chats", headers=alice, timeout=TIMEOUT).json()["items"]
    assert [c["conversation_id"] for c in listed] == [used]
    assert httpx.get(f"{api}/api/v1/chat/{empty}", headers=alice, timeout=10).status_code == 200


def test_rename_then_title_changes_and_list_shows_it(api, alice):
    chat_id = _new_chat(api, alice)

    response = httpx.patch(
        f"{api}/api/v1/chat/{chat_id}", json={"title": "GPU budget"}, headers=alice, timeout=10
    )

    assert response.status_code == 200 and response.json()["title"] == "GPU budget"
    detail = httpx.get(f"{api}/api/v1/chat/{chat_id}", headers=alice, timeout=10).json()
    assert detail["title"] == "GPU budget" and detail["messages"] == []


def test_delete_then_chat_runs_events_and_checkpoints_are_gone(api, alice, db):
    chat_id = _new_chat(api, alice)
    run_id = _send(api, alice, chat_id, "Deploy Llama 3.1 8B for 5 users").json()["run_id"]
    count = "select count(*) as n from {} where {} = %s"
    assert db.execute(count.format("checkpoints", "thread_id"), (chat_id,)).fetchone()["n"] > 0

    response = httpx.delete(f"{api}/api/v1/chat/{chat_id}", headers=alice, timeout=10)

    assert response.status_code == 204
    assert httpx.get(f"{api}/api/v1/chat/{chat_id}", headers=alice, timeout=10).status_code == 404
    for table, column, key in [
        ("checkpoints", "thread_id", chat_id),
        ("checkpoint_writes", "thread_id", chat_id),
        ("checkpoint_blobs", "thread_id", chat_id),
        ("chat.runs", "thread_id", chat_id),
        ("chat.run_events", "run_id", run_id),
    ]:
        assert db.execute(count.format(table, column), (key,)).fetchone()["n"] == 0, table


def test_unknown_or_malformed_chat_id_then_404_in_the_error_shape(api, alice):
    for chat_id in [str(uuid.uuid4()), "not-a-uuid"]:
        response = httpx.get(f"{api}/api/v1/chat/{chat_id}", headers=alice, timeout=10)

        assert response.status_code == 404
        assert set(response.json()) == {"code", "message", "request_id"}


def test_drop_the_stream_mid_run_then_rejoin_gets_every_event_exactly_once(api, alice, db):
    chat_id = _new_chat(api, alice)
    headers = {**alice, "Accept": "text/event-stream"}
    body = {"conversation_id": chat_id, "message": "Deploy Llama 3.1 70B for inference"}
    first = []
    # Holding the catalog table stalls the run at its first catalog query, mid-stream.
    with db.transaction():
        db.execute("lock table cloud.instances in access exclusive mode")
        with httpx.stream(
            "POST", f"{api}/api/v1/chat/message", json=body, headers=headers, timeout=TIMEOUT
        ) as response:
            for event in parse_sse(response.iter_lines()):
                first.append(event)
                if len(first) == 3:
                    break  # the client drops the connection here
        run_id = first[0][2]["run_id"]
        running = db.execute("select status from chat.runs where id = %s", (run_id,)).fetchone()
        assert running["status"] == "running"
        rejoin = httpx.Client(timeout=TIMEOUT)
        stream = rejoin.stream(
            "GET",
            f"{api}/api/v1/chat/{chat_id}/runs/{run_id}/stream",
            headers={**alice, "Last-Event-ID": str(first[-1][0])},
        )
        response = stream.__enter__()
    try:
        rest = list(parse_sse(response.iter_lines()))  # the lock is released: the run goes on
    finally:
        stream.__exit__(None, None, None)
        rejoin.close()

    stored = db.execute(
        "select seq from chat.run_events where run_id = %s order by seq", (run_id,)
    ).fetchall()
    seen = [e[0] for e in first + rest]
    assert seen == [r["seq"] for r in stored] == list(range(1, len(stored) + 1))
    assert rest[-1][1] == "end" and rest[-1][2]["status"] == "done"
    assert "plan" in [e[1] for e in rest]


def test_rejoin_a_finished_run_then_full_replay_and_from_the_middle(api, alice):
    chat_id = _new_chat(api, alice)
    events = _send(api, alice, chat_id, "Set up Stable Diffusion XL serving", stream=True)
    run_id = events[0][2]["run_id"]
    url = f"{api}/api/v1/chat/{chat_id}/runs/{run_id}/stream"

    def replay(**headers):
        with httpx.stream("GET", url, headers={**alice, **headers}, timeout=TIMEOUT) as response:
            return list(parse_sse(response.iter_lines()))

    assert replay() == events
    assert replay(**{"Last-Event-ID": "5"}) == events[5:]


def test_twenty_concurrent_messages_to_one_chat_then_one_linear_history(api, alice, db):
    chat_id = _new_chat(api, alice)

    async def send_all():
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            return await asyncio.gather(
                *[
                    client.post(
                        f"{api}/api/v1/chat/message",
                        json={"conversation_id": chat_id, "message": f"Serve Mistral 7B, try {i}"},
                        headers=alice,
                    )
                    for i in range(20)
                ]
            )

    responses = asyncio.run(send_all())

    statuses = [r.status_code for r in responses]
    accepted = statuses.count(200)
    assert set(statuses) <= {200, 409} and accepted >= 1
    assert all(r.json()["code"] == "conflict" for r in responses if r.status_code == 409)
    history = httpx.get(f"{api}/api/v1/chat/{chat_id}", headers=alice, timeout=10).json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"] * accepted
    rows = db.execute(
        "select checkpoint_id, parent_checkpoint_id from checkpoints"
        " where thread_id = %s and checkpoint_ns = ''",
        (chat_id,),
    ).fetchall()
    parents = [r["parent_checkpoint_id"] for r in rows]
    assert parents.count(None) == 1
    assert len(set(parents)) == len(parents), "two checkpoints share a parent: a fork"


def test_message_while_a_run_is_in_progress_then_409(api, alice, db):
    chat_id = _new_chat(api, alice)
    with db.transaction():
        db.execute("lock table cloud.instances in access exclusive mode")
        with httpx.Client(timeout=TIMEOUT) as client:
            with client.stream(
                "POST",
                f"{api}/api/v1/chat/message",
                json={"conversation_id": chat_id, "message": "Deploy Llama 3.1 70B"},
                headers={**alice, "Accept": "text/event-stream"},
            ) as response:
                next(parse_sse(response.iter_lines()))

            second = _send(api, alice, chat_id, "and another")
            busy_delete = client.delete(f"{api}/api/v1/chat/{chat_id}", headers=alice)

    assert second.status_code == 409 and second.json()["code"] == "conflict"
    assert busy_delete.status_code == 409


def test_stale_running_run_then_sweeper_closes_it_and_the_chat_accepts_messages(
    api, alice, db, pg_url
):
    chat_id = _new_chat(api, alice)
    owner = db.execute("select user_id from chat.threads where id = %s", (chat_id,)).fetchone()
    run = {"id": str(uuid.uuid4())}
    # Its "owner" (this connection) holds the run's lease while the chat is shown busy: the
    # server sweeps every second, and would otherwise close the run before the first send.
    lease = f"{LOCK_SPACE}, hashtext(%s::text)"
    db.execute(f"select pg_advisory_lock({lease})", (run["id"],))
    db.execute(
        "insert into chat.runs (id, thread_id, user_id, heartbeat_at)"
        " values (%s, %s, %s, now() - interval '50 seconds')",
        (run["id"], chat_id, owner["user_id"]),
    )
    assert _send(api, alice, chat_id, "Deploy Llama 3.1 8B").status_code == 409
    db.execute(f"select pg_advisory_unlock({lease})", (run["id"],))  # the owner dies

    async def sweep():
        pool = create_pool(pg_url, Settings(_env_file=None))
        await pool.open()
        try:
            return await sweep_stale_runs(pool)
        finally:
            await pool.close()

    # This sweep or the server's own, which runs every second, closes it: whichever is first.
    asyncio.run(sweep())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status = db.execute("select status from chat.runs where id = %s", (run["id"],)).fetchone()
        if status["status"] != "running":
            break
        time.sleep(0.2)
    assert status["status"] == "failed"
    events = db.execute(
        "select event from chat.run_events where run_id = %s order by seq", (run["id"],)
    ).fetchall()
    assert [e["event"] for e in events] == ["error", "end"]
    assert _send(api, alice, chat_id, "Deploy Llama 3.1 8B").status_code == 200


def test_message_over_16_kb_then_413(api, alice):
    response = _send(api, alice, _new_chat(api, alice), "x" * (16 * 1024 + 1))

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_body_over_the_cap_then_413_before_parsing(api, alice):
    response = httpx.post(
        f"{api}/api/v1/chat/message",
        content=b"{" + b" " * 200_000 + b"}",
        headers={**alice, "Content-Type": "application/json", "X-Request-ID": "big-1"},
        timeout=10,
    )

    anonymous = httpx.post(
        f"{api}/api/v1/chat/start", content=b" " * 200_000, headers=alice, timeout=10
    )

    assert response.status_code == 413
    assert response.json()["request_id"] == "big-1"
    assert anonymous.status_code == 413
    assert anonymous.json()["request_id"] == anonymous.headers["x-request-id"]


def test_rate_limit_then_429_with_retry_after(server, auth_stub):
    api, app = server
    headers = {"Authorization": f"Bearer {auth_stub.mint(str(uuid.uuid4()))}"}
    limiter = app.state.chat.limiter
    limiter.enabled, limiter.per_minute = True, 2
    try:
        statuses = [httpx.get(f"{api}/api/v1/chats", headers=headers, timeout=10) for _ in range(3)]
    finally:
        limiter.enabled, limiter.per_minute = False, 60

    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[-1].headers["retry-after"]) >= 1
    assert statuses[-1].json()["code"] == "rate_limited"


def test_cors_preflight_then_only_the_allowlisted_origin(api):
    def preflight(origin):
        return httpx.options(
            f"{api}/api/v1/chat/message",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-llm-api-key",
            },
            timeout=10,
        )

    allowed, denied = preflight(ALLOWED_ORIGIN), preflight("http://evil.example")

    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "access-control-allow-origin" not in denied.headers


def test_metrics_then_the_dashboard_metric_names(api, alice):
    _send(api, alice, _new_chat(api, alice), "Deploy Llama 3.1 8B for 5 users")

    text = httpx.get(f"{api}/metrics", timeout=10).text

    route = 'method="POST",route="/api/v1/chat/message"'
    requests = "stack8s_http_requests_total{" + route + ',status="200"}'
    latency = "stack8s_http_request_duration_seconds_count{" + route + "}"
    assert requests in text and latency in text
    assert 'stack8s_chat_turns_total{response_type="deployment_plan"}' in text
    assert "stack8s_optimizer_tokens_saved_total" in text


def test_request_with_half_its_body_then_running_turns_go_on_until_it_is_complete(api, alice):
    # B's request arrives with half its body. It is not foreground (api.bodies: the body is
    # read first), so A, started meanwhile, runs to its end; B's stream starts once B's
    # body is complete.
    host, port = api.removeprefix("http://").split(":")
    body_b = json.dumps({"message": "Set up Stable Diffusion XL serving"}).encode()
    head_b = (
        f"POST /api/v1/chat/message HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {alice['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body_b)}\r\n\r\n"
    ).encode()

    async def scenario():
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(head_b + body_b[:10])
        await writer.drain()
        await asyncio.sleep(0.3)  # B is in the server's hands now
        seen = []
        async with (
            httpx.AsyncClient(timeout=TIMEOUT) as client,
            client.stream(
                "POST",
                f"{api}/api/v1/chat/message",
                json={"message": "Deploy Llama 3.1 70B for inference"},
                headers={**alice, "Accept": "text/event-stream"},
            ) as response,
        ):
            async for _, event, _ in aparse_sse(response.aiter_lines()):
                seen.append(event)
                if event == "end":
                    break
        writer.write(body_b[10:])  # B's body completes: its stream starts
        await writer.drain()
        first_b = await asyncio.wait_for(reader.readuntil(b"event: metadata"), 60)
        writer.close()
        return seen, first_b

    seen, first_b = asyncio.run(scenario())

    assert seen[-1] == "end" and "plan" in seen
    assert b"200 OK" in first_b
