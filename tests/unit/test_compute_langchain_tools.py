"""The LangChain tools: names, injected dependencies, argument schemas, error handling."""

import numpy as np
import pytest
from langchain_core.messages import ToolMessage

from tools.langchain_tools import build_tools


class _NoDatabase:
    """A connection factory that fails the test if a tool touches the database."""

    def __call__(self):
        raise AssertionError("this tool must not need the database")


class _FixedEmbedder:
    model_name = "fixed"
    dim = 3

    def embed(self, texts):
        return np.ones((len(texts), 3), dtype=np.float32)


@pytest.fixture
def tools():
    return {tool.name: tool for tool in build_tools(_NoDatabase(), _FixedEmbedder())}


def test_build_tools_then_six_tools_with_stable_names(tools):
    assert sorted(tools) == [
        "compute_search", "configuration_search", "hf_model_search", "k8s_chart_search",
        "local_cluster", "vram_sizing",
    ]


def test_tool_schemas_then_no_connection_or_embedder_argument(tools):
    for tool in tools.values():
        fields = set(tool.args)
        assert not fields & {"conn", "connection", "embedder", "pool"}, tool.name


def test_compute_schema_then_bounds_are_visible_to_the_model(tools):
    schema = tools["compute_search"].args_schema.model_json_schema()

    assert schema["properties"]["top_k"]["maximum"] == 50
    assert schema["properties"]["max_price_monthly"]["anyOf"][0]["minimum"] == 0
    assert schema["additionalProperties"] is False


async def test_tool_call_when_arguments_invalid_then_error_message_not_exception(tools):
    call = {"name": "k8s_chart_search", "args": {"query": "", "top_k": 0}, "id": "1",
            "type": "tool_call"}

    message = await tools["k8s_chart_search"].ainvoke(call)

    assert isinstance(message, ToolMessage)
    assert "top_k" in message.content and "query" in message.content


async def test_local_tool_when_no_cluster_then_not_connected_text_and_artifact(
    tools, monkeypatch, tmp_path
):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    call = {"name": "local_cluster", "args": {}, "id": "2", "type": "tool_call"}

    message = await tools["local_cluster"].ainvoke(call)

    assert message.content.startswith("Local cluster: not connected")
    assert message.artifact["connected"] is False
