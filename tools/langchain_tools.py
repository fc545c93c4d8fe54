"""The search tools as LangChain tools: typed argument schemas, compact text, JSON artifacts.

The model chooses only the search arguments. The database connection and the embedder are
injected when the tools are built, never exposed as arguments. Each tool answers with the
compact text of ``tools.formatting`` (what the LLM reads) and the result as a JSON-ready
dict (the artifact, for state and validation). Bad arguments and unknown models come back
as tool errors the model can read and correct.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.embeddings import Embedder, EmbeddingError
from tools.compute import ComputeQuery, search_instances
from tools.compute_fit import SizingQuery, WorkloadFields, reject_nul, size_workload
from tools.configuration import ConfigurationQuery, format_configuration, search_catalog
from tools.formatting import format_charts, format_cluster, format_compute, format_sizing
from tools.hf import EmbeddingMismatchError, format_hf_results, search_models
from tools.k8s import MAX_QUERY_CHARS, MAX_TOP_K, search_charts
from tools.local import cluster_status

ConnectionFactory = Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]]
ToolOutput = tuple[str, dict[str, Any]]


class ChartSearchArgs(BaseModel):
    """Arguments of ``k8s_chart_search``."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, description="chart name or what it does"
    )
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)

    _no_nul = field_validator("query")(reject_nul)


class ModelSearchArgs(BaseModel):
    """Arguments of ``hf_model_search``."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=500, description="what the model should do")
    pipeline_tag: str | None = Field(
        default=None, max_length=64, description="Hub task, e.g. text-generation"
    )
    license_filter: list[str] | None = Field(
        default=None, max_length=20, description="Hub licence ids to allow, e.g. apache-2.0"
    )
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)
    fits_vram_gb: float | None = Field(
        default=None, gt=0, le=10_000, description="keep models whose weights fit this GPU"
    )
    min_params_billion: float | None = Field(
        default=None, gt=0, le=10_000, description="keep models at least this large (B params)"
    )
    max_params_billion: float | None = Field(
        default=None, gt=0, le=10_000,
        description="keep models at most this large (B params): alternatives comparable to "
        "the named model",
    )

    _no_nul = field_validator("query", "pipeline_tag", "license_filter")(reject_nul)


class SizingArgs(WorkloadFields):
    """Arguments of ``vram_sizing``: a catalog model id and how it will run."""

    model_id: str = Field(min_length=1, max_length=200, description="e.g. Llama-3.1-70B")
    params_billion: float | None = Field(
        default=None, gt=0, le=10_000, description="only for a model not in the catalog"
    )
    gpu_memory_gb: float | None = Field(default=None, gt=0, le=10_000, description="one GPU")

    _no_nul = field_validator("model_id")(reject_nul)


class NoArgs(BaseModel):
    """No arguments."""

    model_config = ConfigDict(extra="forbid")


def _describe_invalid(exc: Exception) -> str:
    """Name each invalid argument and what is wrong with it, for the model to fix."""
    if not isinstance(exc, ValidationError):
        return "invalid arguments"
    parts = [
        f"{'.'.join(str(p) for p in error['loc']) or 'arguments'}: {error['msg']}"
        for error in exc.errors()[:5]
    ]
    return "invalid arguments: " + "; ".join(parts)


def _tool(
    name: str,
    description: str,
    schema: type[BaseModel],
    run: Callable[..., Awaitable[ToolOutput]],
) -> BaseTool:
    async def guarded(**kwargs: Any) -> ToolOutput:
        try:
            return await run(**kwargs)
        except ValueError as exc:  # unknown model, invalid workload: the model can fix these
            raise ToolException(f"{name} failed: {exc}") from exc
        except (EmbeddingError, EmbeddingMismatchError) as exc:  # configuration, not the call
            raise ToolException(f"{name} is unavailable: the embedder cannot be used") from exc

    return StructuredTool.from_function(
        coroutine=guarded,
        name=name,
        description=description,
        args_schema=schema,
        response_format="content_and_artifact",
        # Both come back to the model as the tool's answer, so it can correct its call.
        handle_tool_error=True,
        handle_validation_error=_describe_invalid,
    )


def build_tools(connect: ConnectionFactory, embedder: Embedder) -> list[BaseTool]:
    """Build the six tools over a connection factory (e.g. ``pool.connection``)."""

    async def compute(**kwargs: Any) -> ToolOutput:
        query = ComputeQuery.model_validate(kwargs)
        async with connect() as conn:
            result = await search_instances(conn, query)
        return format_compute(result), result.model_dump(mode="json")

    async def charts(query: str, top_k: int = 5) -> ToolOutput:
        async with connect() as conn:
            result = await search_charts(conn, query, top_k=top_k)
        return format_charts(result), result.model_dump(mode="json")

    async def models(**kwargs: Any) -> ToolOutput:
        args = ModelSearchArgs.model_validate(kwargs)
        async with connect() as conn:
            result = await search_models(conn, embedder, **args.model_dump())
        return format_hf_results(result), result.model_dump(mode="json")

    async def sizing(**kwargs: Any) -> ToolOutput:
        query = SizingQuery.model_validate(SizingArgs.model_validate(kwargs).model_dump())
        async with connect() as conn:
            result = await size_workload(conn, query)
        return format_sizing(result), result.model_dump(mode="json")

    async def configuration(**kwargs: Any) -> ToolOutput:
        query = ConfigurationQuery.model_validate(kwargs)
        async with connect() as conn:
            result = await search_catalog(conn, query)
        return format_configuration(result), result.model_dump(mode="json")

    async def local() -> ToolOutput:
        status = await cluster_status()
        return format_cluster(status), status.model_dump(mode="json")

    return [
        _tool(
            "compute_search",
            "Find the cheapest cloud instances (GPU or CPU) that pass the filters; with "
            "model_id, only instances the model fits on, with tokens/s and $ per 1M tokens. "
            "Also says how many candidates each filter rejected, with examples.",
            ComputeQuery,
            compute,
        ),
        _tool(
            "k8s_chart_search",
            "Find Helm charts by name or purpose (e.g. 'postgres', 'vector database').",
            ChartSearchArgs,
            charts,
        ),
        _tool(
            "hf_model_search",
            "Find open models on Hugging Face for a task, optionally by licence and VRAM.",
            ModelSearchArgs,
            models,
        ),
        _tool(
            "vram_sizing",
            "Compute the GPU memory a model needs (weights, KV cache, overhead) for a task, "
            "dtype, context length and concurrency, and the tensor-parallel degree.",
            SizingArgs,
            sizing,
        ),
        _tool(
            "configuration_search",
            "Find the cheapest deployment of a catalog LLM that carries the load: tries "
            "bf16, fp8 and int4 builds, KV cache dtype, tensor parallel, replicas, instances "
            "and spot; returns the chosen configuration with TTFT, TPOT and tokens/s, the "
            "next cheapest alternatives, why cheaper ones failed, and the budget's verdict.",
            ConfigurationQuery,
            configuration,
        ),
        _tool(
            "local_cluster",
            "Report the user's own Kubernetes cluster: nodes, allocatable CPU, memory, GPUs.",
            NoArgs,
            local,
        ),
    ]
