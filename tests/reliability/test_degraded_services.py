"""The embedding service or the NLI service down or slow: the turn still ends with a plan.

The API runs with ``EMBEDDINGS_PROVIDER=http`` (or ``NLI_PROVIDER=http``) pointed at a dead
loopback port or at a stub that answers too late. Model search cannot run, so the plan
comes without searched model recommendations and says, in its warnings, that model search was
skipped; NLI is optional, so the optimizer's report says it was skipped.
"""

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.app import create_app
from core.settings import Settings
from tests.support.live_server import free_port, serve_asgi
from tests.support.sse import parse_sse

TIMEOUT = httpx.Timeout(60.0)
DELAY_S = 3.0
REQUEST = "Deploy Llama 3.1 8B for 20 users on AWS"
# Enough earlier conversation that the optimizer has work to do and asks the NLI service.
LONG_HISTORY = " ".join(
    f"Note {i}: the chatbot answers questions about orders, returns and delivery times, "
    f"and must stay under a budget of ${1000 + i} per month on AWS."
    for i in range(70)
)


@pytest.fixture(scope="module")
def slow_stub():
    """A stand-in TEI and NLI service that answers every request after DELAY_S seconds."""

    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(DELAY_S)
        return JSONResponse({"detail": "too late"}, status_code=503)

    app = Starlette(routes=[Route("/{path:path}", slow, methods=["GET", "POST"])])
    with serve_asgi(app) as url:
        yield url


def _api(pg_url, **settings):
    app = create_app(Settings(database_url=pg_url, _env_file=None, **settings))
    return serve_asgi(app)


def _plan(api, message):
    response = httpx.post(f"{api}/api/v1/chat/message", json={"message": message}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["response_type"] == "deployment_plan", body["response"]
    return body["deployment_plan"]


@pytest.mark.parametrize("where", ["dead", "slow"])
def test_embedding_service_down_or_slow_then_plan_without_models_and_a_warning(
    pg_url, ingested, slow_stub, where
):
    url = f"http://127.0.0.1:{free_port()}" if where == "dead" else slow_stub
    settings = {"embeddings_provider": "http", "embeddings_http_url": url}

    with _api(pg_url, embeddings_timeout_s=1.0, **settings) as api:
        plan = _plan(api, REQUEST)

    assert plan["gpu_recommendations"] and plan["kubernetes_stack"]
    # The named model stays (it needs no search); nothing the search would have found.
    assert [m["why"] for m in plan["model_recommendations"]] == ["the model you asked for"]
    assert any("model search was skipped" in w for w in plan["warnings"]), plan["warnings"]


@pytest.mark.parametrize("where", ["dead", "slow"])
def test_nli_service_down_or_slow_then_the_turn_completes_and_the_report_says_skipped(
    pg_url, ingested, slow_stub, where
):
    url = f"http://127.0.0.1:{free_port()}" if where == "dead" else slow_stub
    settings = {"nli_provider": "http", "nli_http_url": url, "nli_timeout_ms": 1000}

    with _api(pg_url, **settings) as api:
        chat = httpx.post(f"{api}/api/v1/chat/start", timeout=TIMEOUT).json()["conversation_id"]
        httpx.post(
            f"{api}/api/v1/chat/message",
            json={"conversation_id": chat, "message": LONG_HISTORY},
            timeout=TIMEOUT,
        )
        with httpx.stream(
            "POST",
            f"{api}/api/v1/chat/message",
            json={"conversation_id": chat, "message": REQUEST},
            headers={"Accept": "text/event-stream"},
            timeout=TIMEOUT,
        ) as response:
            events = list(parse_sse(response.iter_lines()))

    names = [e[1] for e in events]
    assert "plan" in names and events[-1][2]["status"] == "done"
    reports = [e[2] for e in events if e[1] == "optimizer"]
    assert reports, "the optimizer reported nothing"
    text = json.dumps(reports[-1])
    assert "skipped" in text and "nli" in text.lower(), reports[-1]


def test_embedding_service_down_with_a_long_conversation_then_the_turn_still_plans(
    pg_url, ingested
):
    dead = f"http://127.0.0.1:{free_port()}"
    settings = {"embeddings_provider": "http", "embeddings_http_url": dead}

    with _api(pg_url, embeddings_timeout_s=1.0, **settings) as api:
        chat = httpx.post(f"{api}/api/v1/chat/start", timeout=TIMEOUT).json()["conversation_id"]
        httpx.post(
            f"{api}/api/v1/chat/message",
            json={"conversation_id": chat, "message": LONG_HISTORY},
            timeout=TIMEOUT,
        )
        response = httpx.post(
            f"{api}/api/v1/chat/message",
            json={"conversation_id": chat, "message": REQUEST},
            timeout=TIMEOUT,
        )

    body = response.json()
    assert body["response_type"] == "deployment_plan", body["response"]
    assert any("model search was skipped" in w for w in body["deployment_plan"]["warnings"])
