"""The LangChain tools end to end on the real catalog: text for the LLM, JSON artifact."""

import contextlib

import psycopg
import pytest

from core.db import connection_kwargs
from tools.langchain_tools import build_tools

pytestmark = pytest.mark.integration


@pytest.fixture
def tools(pg_url, embedder, ingested):
    @contextlib.asynccontextmanager
    async def connect():
        conn = await psycopg.AsyncConnection.connect(pg_url, **connection_kwargs())
        try:
            yield conn
        finally:
            await conn.close()

    return {tool.name: tool for tool in build_tools(connect, embedder)}


def _call(name, args):
    return {"name": name, "args": args, "id": name, "type": "tool_call"}


async def test_compute_tool_with_model_then_text_and_artifact_agree(tools):
    args = {"model_id": "Llama-3.1-8B-Instruct", "dtype": "bf16", "top_k": 2}

    message = await tools["compute_search"].ainvoke(_call("compute_search", args))

    first = message.artifact["results"][0]
    assert message.content.startswith("Compute search:")
    assert f"1. {first['provider']} {first['instance_type']} ({first['region']})" in message.content
    assert first["est_tokens_per_s"] > 0 and first["source"]


async def test_compute_tool_when_unknown_model_then_error_text_for_the_model(tools):
    message = await tools["compute_search"].ainvoke(
        _call("compute_search", {"model_id": "acme/nope-7b"})
    )

    assert message.status == "error"
    assert message.content.startswith("compute_search failed: unknown model 'acme/nope-7b'")


async def test_chart_tool_then_descriptions_inside_the_data_fence(tools):
    message = await tools["k8s_chart_search"].ainvoke(
        _call("k8s_chart_search", {"query": "redis", "top_k": 2})
    )

    lines = message.content.splitlines()
    assert lines[2].startswith("1. redis ")
    assert lines[lines.index("<<<DATA") + 1].startswith("[1] Redis(R) is an open source")
    assert message.artifact["results"][0]["name"] == "redis"


async def test_sizing_tool_then_total_and_tensor_parallel_in_text(tools):
    args = {"model_id": "Llama-3.1-70B-Instruct", "dtype": "bf16", "context_length": 8192,
            "concurrency": 32, "gpu_memory_gb": 80}

    message = await tools["vram_sizing"].ainvoke(_call("vram_sizing", args))

    assert message.artifact["tensor_parallel"] == 4
    assert f"TP 4 → {message.artifact['per_gpu_gb']:,.1f} GiB per GPU" in message.content


async def test_hf_tool_then_models_found_for_a_task(tools):
    message = await tools["hf_model_search"].ainvoke(
        _call("hf_model_search", {"query": "text to image generation", "top_k": 3})
    )

    assert message.status == "success"
    assert len(message.artifact["results"]) == 3
