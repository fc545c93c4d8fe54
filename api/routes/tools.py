"""Debug endpoints for the search tools: JSON in, the tool's structured result out.

Bodies are validated by the tools' own argument models (bounded, unknown fields refused), so
these endpoints and the LLM tools accept exactly the same arguments. A bad body is a 422
naming the field; an unknown model is a 404; nothing a caller sends is a 500. With auth on,
the caller must be signed in, and every call takes from their rate budget.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import ConfigDict, Field, model_validator

from api.deps import AppSettings, Pool, rate_limited_user
from api.openapi import errors
from core.embeddings import EmbeddingError, get_embedder
from tools.compute import ComputeQuery, ComputeSearchResult, search_instances
from tools.compute_fit import SizingQuery, UnknownModelError, size_workload
from tools.configuration import ConfigurationQuery, ConfigurationResult, search_catalog
from tools.hf import EmbeddingMismatchError, HfSearchResult, search_models
from tools.k8s import ChartSearchResult, search_charts
from tools.langchain_tools import ChartSearchArgs, ModelSearchArgs
from tools.local import ClusterStatus, cluster_status
from tools.performance import PerformanceEstimate, PerformanceQuery, performance_for
from tools.sizing import SizingResult

logger = logging.getLogger(__name__)
# Signed-in callers only when auth is on (the local endpoint shows this host's cluster), and
# within the rate budget: the hf search embeds on the CPU.
router = APIRouter(
    prefix="/api/v1/tools",
    tags=["tools"],
    dependencies=[Depends(rate_limited_user)],
    responses=errors(401, 429),
)
# A search reads the catalogs (503 when the database is down) and takes a JSON body.
_SEARCH = errors(400, 413, 503)


class ComputeSearchRequest(ComputeQuery):
    """Instance filters, and optionally a model to size (see ``ComputeQuery``).

    ``provider`` and ``region`` are the original API's one-value filters, kept so that
    scripts written against it still work; each joins its list (``providers``, ``regions``).
    """

    # The original API's documented request, shown in /docs as the example.
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "gpu_needed": True,
                    "min_vram_gb": 40,
                    "max_price_monthly": 5000,
                    "provider": "aws",
                    "region": "us-east-1",
                    "min_vcpu": 16,
                    "min_ram_gb": 64,
                    "top_k": 10,
                }
            ]
        }
    )

    provider: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="One provider, as the original API took it; joins `providers`.",
    )
    region: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="One region, as the original API took it; joins `regions`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _singular_joins_list(cls, data: Any) -> Any:
        # Merged before validation so the lists' own rules (lower case, NUL, length) apply.
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for one, many in (("provider", "providers"), ("region", "regions")):
            value = merged.get(one)
            if isinstance(value, str) and value.strip():
                existing = merged.get(many)
                if existing is None:
                    merged[many] = [value]
                elif isinstance(existing, list):
                    merged[many] = [*existing, value]
                elif isinstance(existing, str):
                    merged[many] = [existing, value]
        return merged


class ChartSearchRequest(ChartSearchArgs):
    """A chart name or purpose, and how many charts to return."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"query": "mlflow", "top_k": 15}]})


class HfSearchRequest(ModelSearchArgs):
    """What the model should do, with optional task, licence and VRAM filters."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "query": "stable diffusion image generation",
                    "pipeline_tag": "text-to-image",
                    "license_filter": ["apache-2.0", "mit"],
                    "top_k": 5,
                }
            ]
        }
    )


class SizingRequest(SizingQuery):
    """A catalog model id or an explicit architecture, and the workload to size."""


def _unprocessable(exc: ValueError) -> HTTPException:
    # Our tools raise ValueError with messages written for the caller (unknown dtype, a TP
    # degree that does not split the heads); they carry no secrets.
    status = 404 if isinstance(exc, UnknownModelError) else 422
    return HTTPException(status_code=status, detail=str(exc))


@router.post(
    "/compute/search", response_model=ComputeSearchResult, responses={**_SEARCH, **errors(404)}
)
async def compute_search(body: ComputeSearchRequest, pool: Pool) -> ComputeSearchResult:
    """Rank the cheapest instances that pass the filters; count the rejected by reason."""
    async with pool.connection() as conn:
        try:
            return await search_instances(conn, body)
        except ValueError as exc:
            raise _unprocessable(exc) from exc


@router.post("/k8s/search", response_model=ChartSearchResult, responses=_SEARCH)
async def k8s_search(body: ChartSearchRequest, pool: Pool) -> ChartSearchResult:
    """Rank Helm charts by name match, text match and publisher."""
    async with pool.connection() as conn:
        try:
            return await search_charts(conn, body.query, top_k=body.top_k)
        except ValueError as exc:
            raise _unprocessable(exc) from exc


@router.post("/hf/search", response_model=HfSearchResult, responses=_SEARCH)
async def hf_search(body: HfSearchRequest, pool: Pool, settings: AppSettings) -> HfSearchResult:
    """Find catalog models whose cards match the query (the query is embedded here)."""
    embedder = get_embedder(settings)
    async with pool.connection() as conn:
        try:
            return await search_models(conn, embedder, **body.model_dump())
        except ValueError as exc:
            raise _unprocessable(exc) from exc
        except (EmbeddingMismatchError, EmbeddingError) as exc:
            logger.warning("hf search unavailable: %s", type(exc).__name__)
            raise HTTPException(
                status_code=503, detail="model search is unavailable: embedder not usable"
            ) from exc


@router.post("/sizing", response_model=SizingResult, responses={**_SEARCH, **errors(404)})
async def sizing(body: SizingRequest, pool: Pool) -> SizingResult:
    """Size a model's VRAM: weights, KV cache, activations, overhead, TP degree."""
    async with pool.connection() as conn:
        try:
            return await size_workload(conn, body)
        except ValueError as exc:
            raise _unprocessable(exc) from exc


class PerformanceRequest(PerformanceQuery):
    """A configuration (model, GPU, count, TP, precision, KV dtype, engine) and its load."""


@router.post(
    "/performance", response_model=PerformanceEstimate, responses={**_SEARCH, **errors(404)}
)
async def performance(body: PerformanceRequest, pool: Pool) -> PerformanceEstimate:
    """Estimate TTFT, TPOT and tokens/s of a configuration; ``estimator`` names the source."""
    async with pool.connection() as conn:
        try:
            return await performance_for(conn, body)
        except ValueError as exc:
            raise _unprocessable(exc) from exc


class ConfigurationRequest(ConfigurationQuery):
    """A catalog LLM, the load it must carry, and where it may run."""


@router.post(
    "/configuration/search",
    response_model=ConfigurationResult,
    responses={**_SEARCH, **errors(404)},
)
async def configuration_search(body: ConfigurationRequest, pool: Pool) -> ConfigurationResult:
    """Find the cheapest configuration (build, KV dtype, TP, replicas, instances) for the load."""
    async with pool.connection() as conn:
        try:
            return await search_catalog(conn, body)
        except ValueError as exc:
            raise _unprocessable(exc) from exc


@router.get("/local", response_model=ClusterStatus)
async def local() -> ClusterStatus:
    """Report the local Kubernetes cluster's nodes, or why it is not connected."""
    return await cluster_status()
