"""Plans that search configurations, through the chat API over real HTTP.

A request for a language model gets the cheapest configuration that carries its load
(weight precision, KV dtype, tensor parallel, replicas, instances), files that deploy exactly
that configuration, an honest budget verdict with the budget that would do, and batch work
priced as a job.
"""

import math
import uuid

import httpx
import pytest

from tools.throughput import load_gpus_csv

pytestmark = pytest.mark.integration
TIMEOUT = httpx.Timeout(60.0)
HOURS_PER_MONTH = 730


@pytest.fixture(scope="module")
def api(authed_api):
    return authed_api


@pytest.fixture
def headers(auth_stub):
    return {"Authorization": f"Bearer {auth_stub.mint(str(uuid.uuid4()))}"}


def _plan(api, headers, text):
    started = httpx.post(f"{api}/api/v1/chat/start", headers=headers, timeout=TIMEOUT)
    response = httpx.post(
        f"{api}/api/v1/chat/message",
        json={"conversation_id": started.json()["conversation_id"], "message": text},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["response_type"] == "deployment_plan", body["response"]
    return body["deployment_plan"]


def _flags(plan):
    """Return the vLLM flags of the compose file: the command the plan would run."""
    compose = next(a["content"] for a in plan["artifacts"] if a["kind"] == "compose")
    return compose


def test_70b_for_50_users_over_budget_then_says_by_how_much_and_what_fits(api, headers):
    plan = _plan(api, headers,
                 "serve Llama 3.1 70B to 50 concurrent users, under $6k/month, on AWS or GCP")

    config, cost, target = plan["configuration"], plan["cost_estimate"], plan["deployment"]
    assert config["provider"] in ("aws", "gcp")
    first = plan["gpu_recommendations"][0]
    assert (first["instance_type"], first["instances"]) == (
        config["instance_type"], config["instances"])
    # The cost is the configuration's instances, each at its catalog price, 24/7.
    assert cost["compute_monthly_usd"] == pytest.approx(
        first["price_hourly_usd"] * HOURS_PER_MONTH * first["instances"], abs=0.05)
    assert cost["within_budget"] is (cost["total_monthly_usd"] <= 6000)
    if not cost["within_budget"]:
        said = " ".join(plan["warnings"])
        assert f"a budget of ${cost['total_monthly_usd']:,.0f}/month would do" in said
        assert "within $6,000" in said
    # The files run the searched configuration.
    assert (target["tensor_parallel"], target["replicas"]) == (
        config["tensor_parallel"], config["replicas"])
    compose = _flags(plan)
    assert f"- '{config['tensor_parallel']}'" in compose
    if config["precision"] == "fp8":
        assert "- fp8" in compose and target["quantization"] == "fp8"
    if config["precision"] == "int4":
        assert target["quantization"] == "awq" and config["build_repo"] in compose
    # Replicas share the 50 users. No latency was stated: the 50 ms per token default may
    # give way to the stated budget, by at most half again, and the plan then says so.
    per_replica = math.ceil(50 / config["replicas"])
    assert config["estimate"]["concurrency_per_replica"] == per_replica
    relaxed = any("target is a default" in w for w in plan["warnings"])
    assert config["estimate"]["tpot_ms"] <= (75 if relaxed else 50)
    assert config["estimate"]["ttft_ms"] <= 2000
    if relaxed:
        assert cost["within_budget"] is True


def test_gemma_9b_for_15_users_on_900_then_a_single_l4_is_offered_within_budget(api, headers):
    plan = _plan(api, headers, "Gemma 2 9B chat for 15 users, GCP only, budget $900/month")

    said = " ".join(plan["warnings"] + plan["tradeoffs"])
    if plan["cost_estimate"]["within_budget"]:
        assert plan["configuration"]["gpu_model"] == "L4"
    else:
        assert "within $900" in said and "L4" in said


def test_llama_8b_with_8k_context_then_engine_length_and_kv_worst_case_beside(api, headers):
    plan = _plan(api, headers,
                 "Llama 3.1 8B for 30 users with 8k context on AWS, keep it under $2,000 a month")

    sizing, target = plan["sizing"], plan["deployment"]
    assert plan["cost_estimate"]["within_budget"] is True
    assert target["max_model_len"] == 8192 == sizing["context_length"]
    assert sizing["unit"] == "GiB"
    assert sizing["kv_cache_worst_case_gb"] > sizing["kv_cache_gb"]
    assert "--max-model-len" in _flags(plan) and "'8192'" in _flags(plan)
    assert any("searched weight precision" in a for a in plan["assumptions"])
    assert not any(a.startswith("weights in native") for a in plan["assumptions"])


def test_nightly_batch_then_priced_as_a_job_that_finishes_within_the_day(api, headers):
    plan = _plan(api, headers,
                 "Nightly batch job: summarize 300k documents every day, about 800 output "
                 "tokens each, with Mistral 7B. Spot instances are fine.")

    job = plan["cost_estimate"]["job"]
    assert job is not None and 0 < job["wall_clock_hours"] <= 24
    tokens = 300_000 * 800
    rate = plan["configuration"]["estimate"]["tokens_per_s"]
    # The night's tokens at the chosen rate, plus the start-up every run pays.
    assert job["fixed_hours"] == 0.5
    assert job["wall_clock_hours"] == pytest.approx(tokens / rate / 3600 + 0.5, rel=0.01)
    assert plan["cost_estimate"]["compute_monthly_usd"] == pytest.approx(
        job["total_usd"] * job["runs_per_month"], abs=0.05)


def test_405b_full_context_on_2000_then_not_within_budget_and_the_budget_named(api, headers):
    plan = _plan(api, headers,
                 "Llama 3.1 405B with the full 128k context for 64 users, under $2,000 a month")

    cost = plan["cost_estimate"]
    assert cost["within_budget"] is False
    assert cost["compute_monthly_usd"] > 2000
    said = " ".join(plan["warnings"])
    assert f"a budget of ${cost['total_monthly_usd']:,.0f}/month would do" in said
    # Nothing carries 64 users at 32k-token prompts within the default 2 s to the first
    # token: the plan says so and what the configuration it shows gives up.
    assert "nothing in the catalog carries the load as asked" in said
    assert plan["deployment"]["max_model_len"] == 131072


def test_pretraining_then_priced_as_a_job_from_6nd_on_a_base_model(api, headers):
    plan = _plan(api, headers, "Pretrain a 3B model from scratch on 60B tokens on GCP")

    sized = plan["sizing"]["model_id"].lower()
    assert "instruct" not in sized and "chat" not in sized and "code" not in sized
    job = plan["cost_estimate"]["job"]
    first = plan["gpu_recommendations"][0]
    tflops = load_gpus_csv()[first["gpu_model"]].fp16_bf16_dense_tflops
    params = _params(plan)
    # 6 · N · D FLOPs at 40 % MFU of the GPU's dense bf16 rate, in GPU-hours.
    expected = 6 * params * 1e9 * 60e9 / (tflops * 1e12 * 0.4) / 3600
    assert job["gpu_hours"] == pytest.approx(expected, rel=0.01)
    # On the clock: the work spread over the node's GPUs, plus the half hour every run bills.
    assert job["wall_clock_hours"] == pytest.approx(expected / first["gpu_count"] + 0.5, rel=0.01)
    assert job["total_usd"] == pytest.approx(
        job["wall_clock_hours"] * first["price_hourly_usd"], rel=0.01)
    assert first["run_usd"] == pytest.approx(job["total_usd"], abs=0.01)
    cost = plan["cost_estimate"]
    assert cost["period"] == "run" and cost["network_monthly_usd"] == 0
    assert cost["compute_monthly_usd"] == pytest.approx(job["total_usd"], abs=0.05)


def _params(plan):
    """Return the sized model's parameters (billions), from the weights at their precision."""
    bytes_per = {"bf16": 2, "fp16": 2, "fp32": 4}[plan["sizing"]["precision"]]
    return plan["sizing"]["weights_gb"] * 2**30 / bytes_per / 1e9
