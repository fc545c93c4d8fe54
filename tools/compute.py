"""Compute search: the cheapest cloud instances that pass every filter, and why the rest failed.

One SQL statement over ``cloud.instance_shapes`` (an instance type's rows that differ only
by region and price; migration 0007), composed in ``tools.compute_sql``. Each catalog row
gets the first reason it fails (checked in ``REASONS`` order, so every rejected row is
counted exactly once); passing rows are deduplicated to one per instance type (its cheapest
region, unless regions were asked for) and ranked: price ascending, GPU memory descending,
GPU count descending, provider, instance type, region. With ``rank="run_cost"`` (training)
every passing type is read and ranked by what a training run costs on it instead
(``tools.jobs.run_cost`` of the run's work, its fixed hours counted; ``run_cost_key`` when the
work is not given): a faster GPU may be dearer by the hour and cheaper by the run, and a node of
eight GPUs is cheaper only for a run long enough to pay for its start-up.

A model turns into a per-GPU VRAM requirement per tensor-parallel degree (``tools.compute_fit``
over ``tools.sizing``); an instance with N GPUs fits when some TP ≤ N holds its shard within
``gpu_memory_gb_per_gpu × gpu_memory_utilization``. A fractional GPU (``gpu_count < 1``)
offers only its slice, ``gpu_memory_gb_total``, and TP 1. Accelerators other than NVIDIA
GPUs are marked, and rejected when a GPU or a model is asked for unless ``include_non_cuda``.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from psycopg import AsyncConnection
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from core.db import fetchone_generic_plan
from tools.compute_fit import ModelFit, WorkloadFields, model_fit, reject_nul
from tools.compute_sql import HOURS_PER_MONTH, REASONS, build_search_sql, search_params
from tools.jobs import run_cost, run_cost_key
from tools.throughput import GpuSpec, estimate_throughput

# Types read to rank by a training run's cost: more than the catalog's instance types.
RUN_COST_CANDIDATES = 100_000

# Pure in its (frozen, hashable) arguments; the same few GPU types recur in every search.
_estimate_throughput = functools.lru_cache(maxsize=1024)(estimate_throughput)

# Vendor in cloud.gpus → what the accelerator is. Only NVIDIA runs the CUDA serving stack
# (vLLM, TensorRT-LLM, TGI) that sizing and throughput model.
ACCELERATOR_KINDS = {
    "NVIDIA": "nvidia-cuda",
    "AMD": "amd-rocm",
    "Google": "google-tpu",
    "AWS": "aws-neuron",
    "Intel (Habana)": "intel-gaudi",
    "Qualcomm": "qualcomm-ai100",
}


def _list_of_lower(value: Any) -> Any:
    # "aws" and ["AWS", "gcp"] both mean a set of names; catalogs store them lower-case.
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [v.strip().lower() if isinstance(v, str) else v for v in value]
    return value


NameList = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
    BeforeValidator(_list_of_lower),
]


class ComputeQuery(WorkloadFields):
    """Filters for an instance search; the workload fields apply only with ``model_id``."""

    gpu_needed: bool = Field(default=False, description="require a GPU (CUDA unless allowed)")
    min_vram_gb: float | None = Field(default=None, ge=0, description="total over all GPUs")
    min_vram_per_gpu_gb: float | None = Field(default=None, ge=0)
    gpu_model: NameList | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="GPU model or models to keep, e.g. H100 or [A100, A100-80GB]",
    )
    instance_types: NameList | None = Field(
        default=None, min_length=1, max_length=20, description="instance types to keep"
    )
    max_gpu_count: int | None = Field(
        default=None, ge=1, le=64, description="most GPUs one instance may have"
    )
    max_price_monthly: float | None = Field(default=None, ge=0, description="USD, hourly × 730")
    providers: NameList | None = Field(default=None, max_length=20, description="e.g. aws")
    regions: NameList | None = Field(default=None, max_length=50, description="e.g. us-east-1")
    min_vcpu: float | None = Field(default=None, ge=0)
    min_ram_gb: float | None = Field(default=None, ge=0)
    spot: bool = Field(default=False, description="rank and budget on the spot price")
    top_k: int = Field(default=10, ge=1, le=50)
    rank: Literal["price", "run_cost"] = Field(
        default="price",
        description="price: cheapest by the hour; run_cost: cheapest training run, i.e. the "
        "hourly price over GPUs × each GPU's dense bf16 rate (6·N·D at one MFU)",
    )
    run_work_tflop_hours: float | None = Field(
        default=None,
        gt=0,
        description="with rank=run_cost: the run's work (FLOPs / MFU / 3.6e15), so that the "
        "rank is the run's cost with its fixed hours (start-up, downloads) counted",
    )
    model_id: str | None = Field(
        default=None, max_length=200, description="size this model and keep instances it fits"
    )
    include_non_cuda: bool = Field(
        default=False, description="also accept TPU, Trainium/Inferentia, Gaudi, AMD"
    )

    _no_nul = field_validator(
        "gpu_model", "model_id", "providers", "regions", "instance_types", mode="before"
    )(reject_nul)

    @property
    def needs_accelerator(self) -> bool:
        """Say whether rows without an accelerator are rejected."""
        return self.gpu_needed or self.model_id is not None or self.gpu_model is not None


class ComputeRow(BaseModel):
    """One instance type offered in one region, priced, with where the price comes from."""

    provider: str
    instance_type: str
    region: str
    gpu_model: str | None
    accelerator: str = Field(description="nvidia-cuda, amd-rocm, google-tpu, aws-neuron, ...")
    gpu_count: float
    gpu_memory_gb_per_gpu: float | None
    gpu_memory_gb_total: float
    vcpus: float | None
    memory_gb: float | None
    price_hourly_usd: float | None = Field(description="on-demand; None if the catalog has none")
    spot_price_hourly_usd: float | None
    price_basis: Literal["on-demand", "spot"]
    price_monthly_usd: float = Field(description="hourly price of price_basis × 730")
    source: str = Field(description="catalog the price was read from")
    tensor_parallel: int | None = None
    dense_tflops: float | None = Field(
        default=None, description="one GPU's dense bf16 tensor rate (training FLOPs)"
    )
    est_tokens_per_s: float | None = Field(default=None, description="aggregate decode, instance")
    usd_per_1m_tokens: float | None = None
    notes: list[str] = Field(default_factory=list)


class RejectedExample(BaseModel):
    """A candidate that failed, with the figures that explain why."""

    provider: str
    instance_type: str
    region: str
    gpu_model: str | None
    gpu_count: float
    gpu_memory_gb_total: float
    price_hourly_usd: float | None


class Rejection(BaseModel):
    """How many candidate rows failed for one reason, with a few of the closest misses."""

    count: int
    examples: list[RejectedExample]


class ComputeSearchResult(BaseModel):
    """Ranked instances, the rejected candidates by reason, and the counts that tie them."""

    model_config = ConfigDict(protected_namespaces=())

    results: list[ComputeRow]
    rejected: dict[str, Rejection]
    considered: int = Field(description="instance × region rows examined")
    accepted: int = Field(description="rows that passed every filter, before one-per-type")
    fit: ModelFit | None = None


def _row(raw: dict[str, Any], query: ComputeQuery, fit: ModelFit | None) -> ComputeRow:
    gpu_count = float(raw["gpu_count"] or 0)
    kind = ACCELERATOR_KINDS.get(raw["vendor"] or "", "unknown") if raw["gpu_model"] else "none"
    notes = []
    if 0 < gpu_count < 1:
        notes.append(f"fractional GPU: {gpu_count:g} of a {raw['gpu_model']}, "
                     f"{raw['gpu_memory_gb_total']:g} GB slice")
    if kind not in ("none", "nvidia-cuda"):
        notes.append(f"{kind}: not a CUDA GPU; needs its own serving stack")
    row = ComputeRow(
        provider=raw["provider"],
        instance_type=raw["instance_type"],
        region=raw["region"],
        gpu_model=raw["gpu_model"],
        accelerator=kind,
        gpu_count=gpu_count,
        gpu_memory_gb_per_gpu=raw["gpu_memory_gb_per_gpu"],
        gpu_memory_gb_total=float(raw["gpu_memory_gb_total"] or 0),
        vcpus=raw["vcpus"],
        memory_gb=raw["memory_gb"],
        price_hourly_usd=raw["price_hourly_usd"],
        spot_price_hourly_usd=raw["spot_price_hourly_usd"],
        price_basis="spot" if query.spot else "on-demand",
        price_monthly_usd=round(raw["price"] * HOURS_PER_MONTH, 2),
        source=raw["catalog_source"],
        tensor_parallel=raw["tp"],
        dense_tflops=raw.get("fp16_bf16_dense_tflops"),
        notes=notes,
    )
    if fit is None or fit.architecture is None or raw["tp"] is None:
        return row
    if query.task != "inference":
        return row  # decode throughput is an inference figure
    if not raw["memory_bandwidth_gbps"]:
        row.notes.append("no throughput estimate: the GPU's memory bandwidth is not in the catalog")
        return row
    estimate = _estimate_throughput(
        fit.architecture,
        query.workload(),
        GpuSpec.model_validate({k: v for k, v in raw.items() if v is not None}),
        tensor_parallel=raw["tp"],
        hourly_usd=raw["price"],
        gpu_count=gpu_count,
    )
    row.est_tokens_per_s = estimate.instance_tokens_per_s
    row.usd_per_1m_tokens = estimate.usd_per_million_tokens
    return row


async def search_instances(
    conn: AsyncConnection[Any], query: ComputeQuery
) -> ComputeSearchResult:
    """Find the cheapest instances that pass every filter, and count the rest by reason.

    Raises:
        UnknownModelError: If ``query.model_id`` is in no catalog.
        ValueError: If the workload cannot run the model (e.g. full fine-tune on int4).

    """
    fit = await model_fit(conn, query, query.model_id) if query.model_id else None
    params = search_params(query, fit)
    if query.rank == "run_cost":
        # The cheapest run may be dear by the hour: every passing type is read, then ranked.
        params["top_k"] = RUN_COST_CANDIDATES
    raw = await fetchone_generic_plan(conn, build_search_sql(query, fit), params)
    if raw is None:  # a select of aggregates returns one row; this only satisfies the types
        raise RuntimeError("compute search returned no row")
    counts = {int(code): int(n) for code, n in raw["counts"].items() if n}
    examples: dict[int, list[RejectedExample]] = {}
    for item in raw["examples"]:
        shown = examples.setdefault(item["reason"], [])
        # A type whose regions differ in more than price is two shapes: show it once.
        if all((e.provider, e.instance_type) != (item["provider"], item["instance_type"])
               for e in shown):
            shown.append(RejectedExample.model_validate(item))
    rejected = {
        REASONS[code][0]: Rejection(count=n, examples=examples.get(code, []))
        for code, n in sorted(counts.items(), key=lambda kv: -kv[1])
        if code >= 0
    }
    items = raw["results"]
    if query.rank == "run_cost":
        basis = "spot_price_hourly_usd" if query.spot else "price_hourly_usd"
        work = query.run_work_tflop_hours

        def cost(item: dict[str, Any]) -> float:
            gpus, rate = float(item["gpu_count"] or 0), item["fp16_bf16_dense_tflops"]
            if work is None:
                return run_cost_key(item[basis], gpus, rate)
            return run_cost(item[basis], gpus, rate, work)

        items = sorted(items, key=cost)[: query.top_k]
    return ComputeSearchResult(
        results=[_row(item, query, fit) for item in items],
        rejected=rejected,
        considered=sum(counts.values()),
        accepted=counts.get(-1, 0),
        fit=fit,
    )
