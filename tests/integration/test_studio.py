"""``langgraph dev`` (what LangGraph Studio talks to) serves the graph from langgraph.json.

The dev server runs as a subprocess on a free port with the test database in its
environment; the official ``langgraph-sdk`` client creates a thread, streams a run and reads
the thread's state. The server's in-memory store goes to a temporary folder, not the repo.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from agents.schemas import DeploymentPlan
from core.settings import PROJECT_ROOT
from tests.stubs.openai_stub import running_stub
from tests.stubs.scenario import REQUEST, cheapest_fit, gpu, plan_args, planner
from tests.support.live_server import free_port

pytest.importorskip("langgraph_api", reason="langgraph-cli[inmem] (dev extra) is not installed")
from langgraph_sdk import get_client  # noqa: E402  (only once the dev server is known present)

LANGGRAPH = Path(sys.executable).with_name("langgraph")
START_TIMEOUT_S = 120
RUN_TIMEOUT_S = 120


def _config_in(workdir):
    """Copy langgraph.json with its paths made absolute, so the server can run elsewhere.

    The in-memory dev server keeps its store in ./.langgraph_api and resolves graph paths
    against its working directory; running it in a temporary folder keeps the repo clean.
    """
    config = json.loads((PROJECT_ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str((PROJECT_ROOT / d).resolve()) for d in config["dependencies"]]
    for name, spec in config["graphs"].items():
        path, attribute = spec.rsplit(":", 1)
        config["graphs"][name] = f"{(PROJECT_ROOT / path).resolve()}:{attribute}"
    target = workdir / "langgraph.json"
    target.write_text(json.dumps(config))
    return target


def _stop(process):
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def studio(pg_url, ingested, tmp_path_factory):
    if not LANGGRAPH.exists():
        pytest.skip("the langgraph CLI is not installed in this environment")
    workdir = tmp_path_factory.mktemp("langgraph-dev")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "LLM_PROVIDER": "offline",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
    }
    env.pop("LLM_FALLBACK_PROVIDER", None)
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(LANGGRAPH),
            "dev",
            "--config",
            str(_config_in(workdir)),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-browser",
            "--no-reload",
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"langgraph dev exited: {(workdir / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not start: {(workdir / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url, workdir
    finally:
        _stop(process)
        log.close()


def test_langgraph_json_then_points_at_the_compiled_graph():
    config = json.loads((PROJECT_ROOT / "langgraph.json").read_text())

    assert config["graphs"] == {"stack8s": "./graph/builder.py:graph"}
    assert config["dependencies"] == ["."]


async def test_studio_serves_the_graph_then_assistant_listed(studio):
    client = get_client(url=studio[0], timeout=30)

    assistants = await client.assistants.search(graph_id="stack8s")

    assert [a["graph_id"] for a in assistants] == ["stack8s"]


async def test_studio_thread_stream_and_state_then_plan(studio):
    client = get_client(url=studio[0], timeout=30)
    thread = await client.threads.create()
    message = {"role": "user", "content": "Deploy Llama 3.1 8B for 5 users on AWS"}
    updates = []

    async with asyncio.timeout(RUN_TIMEOUT_S):
        async for part in client.runs.stream(
            thread["thread_id"],
            "stack8s",
            input={"messages": [message]},
            stream_mode="updates",
            context={"llm_provider": "offline", "max_tool_steps": 4},
        ):
            if part.event == "updates":
                updates.extend(part.data)
            assert part.event != "error", part.data
        state = await client.threads.get_state(thread["thread_id"])

    assert updates[:2] == ["optimize", "requirements"]
    assert updates[-3:] == ["synthesize", "validate", "respond"]
    assert "tools" in updates
    plan = DeploymentPlan.model_validate(state["values"]["plan"])
    assert plan.gpu_recommendations and plan.gpu_recommendations[0].provider == "aws"
    assert state["values"]["messages"][-1]["content"].startswith("## Deployment plan")


async def test_studio_second_turn_then_thread_continues(studio):
    client = get_client(url=studio[0], timeout=30)
    thread = await client.threads.create()

    async with asyncio.timeout(RUN_TIMEOUT_S):
        await client.runs.wait(
            thread["thread_id"],
            "stack8s",
            input={"messages": [{"role": "user", "content": "I want to deploy AI"}]},
        )
        first = await client.threads.get_state(thread["thread_id"])
        await client.runs.wait(
            thread["thread_id"],
            "stack8s",
            input={"messages": [{"role": "user", "content": "Serve Qwen2.5 7B Instruct, 5 users"}]},
        )
        second = await client.threads.get_state(thread["thread_id"])

    assert first["values"]["decision"] == "clarify"
    assert second["values"]["decision"] == "plan"
    assert second["values"]["clarification_rounds"] == 1
    assert [m["type"] for m in second["values"]["messages"]] == ["human", "ai", "human", "ai"]


async def test_studio_llm_path_with_byok_then_key_reaches_the_model_only(studio, adb):
    url, workdir = studio
    sentinel = "sk-STUDIO-" + uuid.uuid4().hex
    instance = await cheapest_fit(adb)
    client = get_client(url=url, timeout=30)
    thread = await client.threads.create()

    with running_stub(planner(plan_args([gpu(instance)]))) as stub:
        async with asyncio.timeout(RUN_TIMEOUT_S):
            async for part in client.runs.stream(
                thread["thread_id"],
                "stack8s",
                input={"messages": [{"role": "user", "content": REQUEST}]},
                stream_mode=["updates", "messages-tuple"],
                context={
                    "llm_provider": "openai_compatible",
                    "llm_base_url": stub.base_url,
                    "llm_api_key": sentinel,
                },
            ):
                assert part.event != "error", part.data
            state = await client.threads.get_state(thread["thread_id"])
        requests = stub.chat_requests()

    assert len(requests) == 5
    assert {r.headers["authorization"] for r in requests} == {f"Bearer {sentinel}"}
    assert all(r.body.get("stream") is True for r in requests)
    plan = DeploymentPlan.model_validate(state["values"]["plan"])
    assert plan.gpu_recommendations[0].instance_type == instance["instance_type"]
    assert sentinel not in json.dumps(state["values"])
    # Not asserted: langgraph-api (the dev server, not our code) mirrors a run's context into
    # ``configurable``, which LangGraph copies into checkpoint metadata, so under Studio a key
    # sent in the context sits in the dev server's local checkpoint metadata. The app's own
    # runs pass the context straight to the graph, and test_graph_llm_http shows their
    # checkpoints clean.
    assert sentinel not in (workdir / "server.log").read_text(errors="replace")
