"""``stack8s plan`` as a user runs it: a subprocess on the test database.

Progress streams to stderr, the answer to stdout; threads persist in Postgres, so a second
process continues the conversation with ``--thread``.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from agents.schemas import DeploymentPlan
from tests.stubs.openai_stub import running_stub
from tests.stubs.scenario import cheapest_fit, gpu, plan_args, planner

TIMEOUT_S = 240


@pytest.fixture
def run_cli(pg_url, ingested, tmp_path):
    def run(*args, **env):
        # A clean folder: no .env of the developer's is read, nothing is written to the repo.
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LLM_")},
            "DATABASE_URL": pg_url,
            "LLM_PROVIDER": "offline",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "plan", *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )

    return run


def _thread(stderr):
    match = re.search(r"^thread: (\S+)", stderr, re.MULTILINE)
    assert match, stderr
    return match.group(1)


def test_plan_then_progress_on_stderr_and_markdown_on_stdout(run_cli):
    result = run_cli("Deploy Llama 3.1 8B for 5 users on AWS")

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("## Deployment plan")
    assert "| 1 | aws |" in result.stdout
    progress = result.stderr
    assert "[requirements] started" in progress
    assert re.search(r"\[requirements\] finished in \d+\.\d\ds", progress)
    assert "    decision: plan" in progress
    assert "    tool call: compute_search(" in progress
    assert "    tool result: compute_search ok" in progress
    order = [progress.index(f"[{node}] finished") for node in ("architect", "tools", "respond")]
    assert order == sorted(order)
    _thread(progress)


def test_plan_json_then_stdout_is_the_deployment_plan(run_cli):
    result = run_cli("Deploy Llama 3.1 8B for 5 users on AWS", "--json")

    assert result.returncode == 0, result.stderr[-3000:]
    plan = DeploymentPlan.model_validate_json(result.stdout)
    assert plan.gpu_recommendations[0].provider == "aws"
    assert plan.sizing is not None


def test_vague_request_then_questions_exit_0_and_thread_continues(run_cli):
    first = run_cli("I want to deploy AI")

    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.startswith("A few questions")
    assert "decision: clarify" in first.stderr
    thread = _thread(first.stderr)

    second = run_cli("A Llama 3.1 8B chatbot for 20 users on AWS", "--thread", thread, "--json")

    assert second.returncode == 0, second.stderr[-3000:]
    plan = DeploymentPlan.model_validate_json(second.stdout)
    assert all(g.provider == "aws" for g in plan.gpu_recommendations)
    assert _thread(second.stderr) == thread


def test_vague_request_with_json_then_questions_as_json(run_cli):
    result = run_cli("I want to deploy AI", "--json")

    assert result.returncode == 0, result.stderr[-3000:]
    body = json.loads(result.stdout)
    assert body["decision"] == "clarify"
    assert 1 <= len(body["questions"]) <= 3


async def test_plan_with_a_compatible_server_then_model_tool_calls_shown(run_cli, adb):
    instance = await cheapest_fit(adb)
    with running_stub(planner(plan_args([gpu(instance)]))) as stub:
        result = run_cli(
            "Serve Llama 3.1 8B to 5 users on AWS",
            "--provider",
            "openai_compatible",
            "--base-url",
            stub.base_url,
            "--api-key-env",
            "MY_LLM_KEY",
            MY_LLM_KEY="sk-cli-user-key",
        )
        requests = stub.chat_requests()

    assert result.returncode == 0, result.stderr[-3000:]
    assert "    tool call: vram_sizing(" in result.stderr
    assert "    architect: I have what the plan needs." in result.stderr
    assert {r.headers["authorization"] for r in requests} == {"Bearer sk-cli-user-key"}
    assert "sk-cli-user-key" not in result.stderr + result.stdout
    assert instance["instance_type"] in result.stdout


def test_plan_without_a_key_when_keys_are_required_then_clear_error_exit_2(run_cli):
    result = run_cli(
        "Deploy Llama 3.1 8B",
        LLM_PROVIDER="openai",
        LLM_API_KEY="sk-env-refused",
        ALLOW_ENV_PROVIDER_KEYS="false",
        LLM_WITHOUT_KEY="error",
    )

    assert result.returncode == 2
    assert "stack8s: error: this request has no key for the openai provider" in result.stderr
    assert result.stdout == ""


@pytest.fixture(scope="module")
def served(pg_url, ingested):
    from api.app import create_app
    from core.settings import Settings
    from tests.support.live_server import serve_asgi

    with serve_asgi(create_app(Settings(database_url=pg_url, _env_file=None))) as url:
        yield url


def test_plan_via_api_then_server_streams_progress_and_thread_continues(run_cli, served):
    first = run_cli("I want to deploy AI", "--via-api", "--api-url", served)
    thread = _thread(first.stderr)
    second = run_cli(
        "A Llama 3.1 8B chatbot for 20 users on AWS",
        *("--via-api", "--api-url", served, "--thread", thread, "--json"),
    )

    assert first.returncode == 0, first.stderr[-3000:]
    assert "?" in first.stdout
    assert "[requirements] finished" in first.stderr
    assert second.returncode == 0, second.stderr[-3000:]
    plan = DeploymentPlan.model_validate(json.loads(second.stdout))
    assert all(g.provider == "aws" for g in plan.gpu_recommendations)
    assert _thread(second.stderr) == thread


def test_plan_via_api_unknown_thread_then_error_and_exit_2(run_cli, served):
    unknown = "00000000-0000-0000-0000-000000000000"
    result = run_cli("hello", "--via-api", "--api-url", served, "--thread", unknown)

    assert result.returncode == 2
    assert "no such chat" in result.stderr and "404" in result.stderr
