"""POST /api/v1/tools/optimizer/analyze over real HTTP, with the real embedder and cache."""


import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from tests.support.live_server import serve_asgi

URL = "/api/v1/tools/optimizer/analyze"

FILLER = (
    "Rolling updates replace pods a few at a time while the old ones keep serving traffic. "
    "The readiness probe should pass only once the weights are loaded and warmed up. "
    "Pulling a large image and loading the weights can take several minutes on a cold node. "
)


@pytest.fixture(scope="module")
def server(pg_url, ingested):
    app = create_app(Settings(database_url=pg_url, _env_file=None))
    with serve_asgi(app) as url:
        yield url


def conversation():
    return [
        {"role": "system", "content": "You are a deployment planner."},
        {
            "role": "user",
            "content": "We want to serve Llama 3.1 70B for our support team. "
            "Our budget is $5k per month.",
        },
        {"role": "assistant", "content": "How many concurrent users do you expect? " + FILLER * 3},
        {"role": "user", "content": "About 40 concurrent users."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call_1", "name": "search_instances", "args": {"min_vram_gb": 80}}
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "name": "search_instances",
            "content": '[{"instance_type": "p4d.24xlarge", "price_hourly_usd": 32.77}]' * 8,
        },
        {"role": "assistant", "content": FILLER * 4},
        {"role": "user", "content": "How do rolling updates work for model servers?"},
        {"role": "assistant", "content": FILLER * 4},
        {"role": "user", "content": "Actually, make the budget $8k per month."},
        {"role": "assistant", "content": "Updated. " + FILLER * 2},
        {"role": "user", "content": "Please write up the plan."},
    ]


def test_analyze_over_http_when_budget_corrected_then_later_value_kept_and_report_explains(server):
    response = httpx.post(
        f"{server}{URL}", json={"messages": conversation(), "budget_tokens": 300}, timeout=60
    )

    body = response.json()
    assert response.status_code == 200, body
    report = body["report"]
    user_text = " ".join(m["content"] for m in body["messages"] if m["role"] == "user")
    assert "$8k" in user_text and "$5k" not in user_text
    assert report["applied"] is True and report["tokens_after"] <= 300
    assert report["tokens_before"] > 3 * report["tokens_after"]
    assert any(d["reason"] == "superseded" for d in report["dropped"])
    assert body["messages"][0] == {
        "role": "system",
        "content": "You are a deployment planner.",
        "tool_call_id": None,
        "name": None,
        "tool_calls": [],
    }


def test_analyze_over_http_when_tool_exchange_kept_then_call_and_result_both_returned(server):
    response = httpx.post(
        f"{server}{URL}", json={"messages": conversation(), "budget_tokens": 5000}, timeout=60
    )

    messages = response.json()["messages"]
    calls = [c["id"] for m in messages for c in m["tool_calls"]]
    results = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert calls == results == ["call_1"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"messages": [{"role": "robot", "content": "hi"}], "budget_tokens": 10},
            "messages.0.role",
        ),
        ({"messages": [{"role": "user", "content": "hi"}]}, "budget_tokens"),
        ({"messages": [{"role": "user", "content": "hi"}], "budget_tokens": 0}, "budget_tokens"),
        ({"messages": [{"role": "tool", "content": "x"}], "budget_tokens": 10}, "messages.0"),
        ({"messages": [], "budget_tokens": 10}, "messages"),
        ({"messages": [{"role": "user", "content": "hi"}] * 401, "budget_tokens": 10}, "messages"),
    ],
)
def test_analyze_over_http_when_body_is_bad_then_422_naming_the_field(server, body, field):
    response = httpx.post(f"{server}{URL}", json=body, timeout=30)

    error = response.json()
    assert response.status_code == 422
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(field)
