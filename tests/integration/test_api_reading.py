"""Requests written the way people write them, through the chat API over real HTTP: each gets a
plan (no needless question) whose spec holds every fact it stated, and constraints the plan
cannot honour are named in its warnings.

The server runs with auth on against the Supabase Auth stand-in (tests.stubs.supabase_auth).
"""

import uuid

import httpx
import pytest

pytestmark = pytest.mark.integration
TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module")
def api(authed_api):
    return authed_api


@pytest.fixture
def headers(auth_stub):
    return {"Authorization": f"Bearer {auth_stub.mint(str(uuid.uuid4()))}"}


def _chat(api, headers, *messages):
    """Send each message in one new chat; return the last answer's JSON body."""
    started = httpx.post(f"{api}/api/v1/chat/start", headers=headers, timeout=TIMEOUT)
    chat_id = started.json()["conversation_id"]
    body = None
    for text in messages:
        response = httpx.post(
            f"{api}/api/v1/chat/message",
            json={"conversation_id": chat_id, "message": text},
            headers=headers,
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        body = response.json()
    return body


def _planned(body):
    assert body["response_type"] == "deployment_plan", body["response"]
    return body["spec"], body["deployment_plan"]


def test_distilbert_cpu_only_on_gcp_then_cpu_plan_on_gcp_without_asking(api, headers):
    body = _chat(
        api,
        headers,
        "Run a DistilBERT sentiment classifier at 30 requests per second on GCP, CPU only, "
        "no GPUs",
    )

    spec, plan = _planned(body)
    assert (spec["task_type"], spec["domain"], spec["gpu_needed"]) == ("inference", "nlp", False)
    assert spec["scale"]["requests_per_second"] == 30 and spec["providers"] == ["gcp"]
    assert plan["gpu_recommendations"]
    assert all(r["provider"] == "gcp" and r["gpu_count"] == 0 for r in plan["gpu_recommendations"])


def test_embedding_api_for_two_million_tickets_then_planned_with_the_gpu_assumption(
    api, headers
):
    body = _chat(
        api, headers, "Set up an embedding API for semantic search across 2 million support tickets"
    )

    spec, plan = _planned(body)
    assert spec["scale"]["documents"] == 2_000_000 and spec["gpu_needed"] is True
    assert any("2,000,000 documents" in a for a in plan["assumptions"])


def test_put_qwen_on_lambda_then_lambda_labs_plan_for_ten_users(api, headers):
    spec, plan = _planned(_chat(api, headers, "Put Qwen2.5-7B-Instruct on Lambda for 10 users"))

    assert spec["task_type"] == "inference" and spec["providers"] == ["lambda"]
    assert spec["scale"]["concurrent_users"] == 10
    assert {r["provider"] for r in plan["gpu_recommendations"]} == {"lambda"}


def test_numbers_in_words_then_users_context_and_budget_read(api, headers):
    body = _chat(
        api,
        headers,
        "Host Llama 3.1 8B Instruct for thirty people at once with eight thousand tokens of "
        "context, about two thousand dollars a month, on AWS",
    )

    spec, plan = _planned(body)
    assert spec["scale"]["concurrent_users"] == 30 and spec["scale"]["context_length"] == 8000
    assert spec["budget_monthly_usd"] == 2000 and spec["providers"] == ["aws"]
    assert plan["cost_estimate"]["within_budget"] is not None


def test_whisper_for_forty_live_meetings_then_forty_streams_not_one_sequence(api, headers):
    body = _chat(
        api, headers, "Host Whisper large-v3 for live captioning of 40 meetings at once on Azure"
    )

    spec, plan = _planned(body)
    assert spec["domain"] == "speech" and spec["scale"]["concurrent_streams"] == 40
    assert spec["latency"]["realtime"] is True and spec["providers"] == ["azure"]
    assert not any("1 concurrent sequence" in a for a in plan["assumptions"])


def test_own_l40s_cluster_nothing_in_cloud_then_planned_on_their_nodes(api, headers):
    body = _chat(
        api,
        headers,
        "We have our own Kubernetes cluster with 3 nodes of 4x L40S each; put Mixtral 8x7B "
        "Instruct on it for 40 staff, nothing in the cloud",
    )

    spec, plan = _planned(body)
    own = spec["own_hardware"]
    assert (own["nodes"], own["gpus_per_node"], own["gpu_model"]) == (3, 4, "L40S")
    assert own["cloud_allowed"] is False and spec["scale"]["concurrent_users"] == 40
    assert [r["provider"] for r in plan["gpu_recommendations"]] == ["own"]
    assert plan["cost_estimate"]["compute_monthly_usd"] == 0


def test_provider_not_in_catalog_then_said_plainly_and_sized_for_it(api, headers):
    body = _chat(api, headers, "Deploy Qwen2.5-32B-Instruct on Paperspace A100s for 12 users")

    spec, plan = _planned(body)
    assert spec["unknown_providers"] == ["paperspace"] and spec["providers"] == []
    assert set(spec["hardware"]["gpu_models"]) == {"A100", "A100-80GB"}
    warning = next(w for w in plan["warnings"] if "Paperspace is not in our catalog" in w)
    assert "ask Paperspace for GPUs with at least" in warning


def test_correction_across_turns_then_the_later_figure_wins(api, headers):
    body = _chat(
        api,
        headers,
        "Llama 3.1 8B Instruct for 20 users on AWS, budget $5k a month",
        "scratch that, we can stretch to eight thousand",
    )

    spec, _ = _planned(body)
    assert spec["budget_monthly_usd"] == 8000 and spec["scale"]["concurrent_users"] == 20


def _questions(body):
    return [line.split(". ", 1)[1] for line in body["response"].splitlines() if line[:2] in
            {"1.", "2.", "3."}]


def test_vague_twice_then_the_question_is_not_repeated(api, headers):
    started = httpx.post(f"{api}/api/v1/chat/start", headers=headers, timeout=TIMEOUT)
    chat_id = started.json()["conversation_id"]
    answers = []
    for text in ("I need to run something for my company", "not sure, what do you suggest?"):
        response = httpx.post(
            f"{api}/api/v1/chat/message",
            json={"conversation_id": chat_id, "message": text},
            headers=headers,
            timeout=TIMEOUT,
        )
        answers.append(response.json())

    assert [a["response_type"] for a in answers] == ["clarification", "clarification"]
    first, second = _questions(answers[0]), _questions(answers[1])
    assert first and second and not set(first) & set(second)


def test_gpu_count_that_cannot_hold_the_model_then_warned(api, headers):
    body = _chat(api, headers, "Run Llama 3.1 70B Instruct on a single T4 for 5 users")

    spec, plan = _planned(body)
    assert spec["hardware"]["gpu_models"] == ["T4"] and spec["hardware"]["max_gpus"] == 1
    assert any("at most 1 GPU" in w and "cannot be met" in w for w in plan["warnings"])


def test_budget_nothing_can_meet_then_not_within_budget(api, headers):
    body = _chat(
        api,
        headers,
        "Llama 3.1 405B Instruct with the full 128k context for 64 users, under $2,000 a month",
    )

    spec, plan = _planned(body)
    assert spec["budget_monthly_usd"] == 2000 and spec["scale"]["context_length"] == 131072
    assert plan["cost_estimate"]["within_budget"] is False
