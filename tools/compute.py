"""Compute search: the cheapest cloud instances that pass every filter, and why the rest failed.

One SQL statement scans ``cloud.instances`` once. Each row gets the first reason it fails
(checked in ``REASONS`` order, so every rejected row is counted exactly once); passing rows
are deduplicated to one per instance type (its cheapest region, unless regions were asked
for) and ranked: price ascending, GPU memory descending, GPU count descending, provider,
instance type, region.

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

from tools.compute_fit import ModelFit, WorkloadFields, model_fit, reject_nul
from tools.throughput import GpuSpec, estimate_throughput

HOURS_PER_MONTH = 730
# Pure in its (frozen, hashable) arguments; the same few GPU types recur in every search.
_estimate_throughput = functools.lru_cache(maxsize=1024)(estimate_throughput)
EXAMPLES_PER_REASON = 3

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
    gpu_model: str | None = Field(
        default=None, min_length=1, max_length=64, description="e.g. H100, L4"
    )
    max_price_monthly: float | None = Field(default=None, ge=0, description="USD, hourly × 730")
    providers: NameList | None = Field(default=None, max_length=20, description="e.g. aws")
    regions: NameList | None = Field(default=None, max_length=50, description="e.g. us-east-1")
    min_vcpu: float | None = Field(default=None, ge=0)
    min_ram_gb: float | None = Field(default=None, ge=0)
    spot: bool = Field(default=False, description="rank and budget on the spot price")
    top_k: int = Field(default=10, ge=1, le=50)
    model_id: str | None = Field(
        default=None, max_length=200, description="size this model and keep instances it fits"
    )
    include_non_cuda: bool = Field(
        default=False, description="also accept TPU, Trainium/Inferentia, Gaudi, AMD"
    )

    _no_nul = field_validator("gpu_model", "model_id", "providers", "regions", mode="before")(
        reject_nul
    )

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


# (reason, SQL condition on the row `c`): the first true condition names the rejection.
# Conditions are constants; every value they compare against is a bound parameter.
REASONS: tuple[tuple[str, str], ...] = (
    ("provider excluded", 'not (lower(c.provider collate "C") = any(%(providers)s))'),
    ("region excluded", 'not (lower(c.region collate "C") = any(%(regions)s))'),
    ("no GPU", "c.gpu_model is null"),
    ("different GPU model", 'lower(c.gpu_model collate "C") <> %(gpu_model)s'),
    (
        "not a CUDA GPU",
        "c.gpu_model not in (select gpu_model from cloud.gpus where vendor = 'NVIDIA')",
    ),
    ("no on-demand price", "c.price_hourly_usd is null"),
    ("no spot price", "c.spot_price_hourly_usd is null"),
    ("too few vCPUs", "coalesce(c.vcpus, 0) < %(min_vcpu)s"),
    ("too little RAM", "coalesce(c.memory_gb, 0) < %(min_ram_gb)s"),
    ("accelerator memory unknown", "c.gpu_model is not null and c.gpu_memory_gb_total <= 0"),
    ("too little VRAM", "c.gpu_memory_gb_total < %(min_vram_gb)s"),
    ("too little VRAM per GPU", "c.gpu_slice_gb < %(min_vram_per_gpu_gb)s"),
    ("fractional GPU too small for the model", "c.gpu_count < 1 and c.tp is null"),
    ("model does not fit", "c.tp is null"),
    ("over budget", "c.price * %(hours)s > %(max_price_monthly)s"),
)
# Closest misses first: for memory reasons the biggest boxes, otherwise the cheapest.
_MEMORY_REASONS = ("too little VRAM", "too little VRAM per GPU", "model does not fit",
                   "fractional GPU too small for the model")


def active_reasons(query: ComputeQuery, fit: ModelFit | None) -> list[str]:
    """Return the rejection reasons that apply to ``query``, in the order they are checked."""
    active = {
        "provider excluded": query.providers is not None,
        "region excluded": query.regions is not None,
        "no GPU": query.needs_accelerator,
        "different GPU model": query.gpu_model is not None,
        # Naming a GPU model is asking for it, whatever its vendor.
        "not a CUDA GPU": query.needs_accelerator
        and not query.include_non_cuda
        and query.gpu_model is None,
        "no on-demand price": not query.spot,
        "no spot price": query.spot,
        "too few vCPUs": query.min_vcpu is not None,
        "too little RAM": query.min_ram_gb is not None,
        "accelerator memory unknown": fit is not None
        or bool(query.min_vram_gb or query.min_vram_per_gpu_gb),
        "too little VRAM": query.min_vram_gb is not None,
        "too little VRAM per GPU": query.min_vram_per_gpu_gb is not None,
        "fractional GPU too small for the model": fit is not None,
        "model does not fit": fit is not None,
        "over budget": query.max_price_monthly is not None,
    }
    return [reason for reason, _ in REASONS if active[reason]]


def _tp_sql(fit: ModelFit | None) -> str:
    # The smallest TP degree whose shard fits one GPU's usable memory; a fractional GPU
    # offers only its slice and no tensor parallelism.
    if fit is None:
        return "null::int"
    whole = " ".join(
        f"when i.gpu_count >= {tp} and %(need_{tp})s::float8 <= "
        f"i.gpu_memory_gb_per_gpu * %(util)s then {tp}"
        for tp in sorted(fit.per_gpu_gb_by_tp)
    )
    return (
        f"case when i.gpu_count >= 1 then (case {whole} end) "
        "when i.gpu_count > 0 and %(need_1)s::float8 <= i.gpu_memory_gb_total * %(util)s "
        "then 1 end"
    )


def build_search_sql(query: ComputeQuery, fit: ModelFit | None) -> str:
    """Compose the one search statement from constant fragments for the active filters.

    The catalog is scanned once and folded by (reason, instance type) in a hash aggregate
    on ``type_key`` (passing rows also by region when regions were asked for), so counting,
    ranking and picking examples work on a couple of thousand groups and never sort the
    catalog. Reasons travel as their index in ``REASONS``.
    """
    codes = {reason: code for code, (reason, _) in enumerate(REASONS)}
    conditions = dict(REASONS)
    whens = " ".join(
        f"when {conditions[r]} then {codes[r]}" for r in active_reasons(query, fit)
    )
    reason_sql = f"case {whens} end" if whens else "null::int"
    price = "spot_price_hourly_usd" if query.spot else "price_hourly_usd"
    region_key = "case when reason is null then region end" if query.regions else "null::text"
    memory_codes = ", ".join(str(codes[r]) for r in _MEMORY_REASONS)
    return f"""
with grp as materialized (
    select reason, type_key, {region_key} as region, count(*) as n, min(price) as price,
           max(gpu_memory_gb_total) as vram, max(gpu_count) as gpus, min(tp) as tp
    from (
        select c.*, {reason_sql} as reason from (
            select i.type_key, i.provider, i.region, i.vcpus, i.memory_gb, i.gpu_model,
                   i.gpu_count, i.gpu_memory_gb_total, i.price_hourly_usd,
                   i.spot_price_hourly_usd, i.{price} as price,
                   least(i.gpu_memory_gb_per_gpu, i.gpu_memory_gb_total) as gpu_slice_gb,
                   {_tp_sql(fit)} as tp
            from cloud.instances i
        ) c
    ) r
    group by 1, 2, 3
),
top as (
    -- Ties on the numeric keys are broken by name, which the join below brings in.
    select t.price, t.vram, t.gpus, t.tp, i.*
    from (
        select * from grp where reason is null
        order by price, vram desc, gpus desc
        fetch first %(top_k)s rows with ties
    ) t
    cross join lateral (
        -- The region asked for, or the cheapest one (alphabetical among equal prices).
        select * from cloud.instances i
        where i.type_key = t.type_key and i.{price} = t.price
          and (t.region is null or i.region = t.region)
        order by i.region limit 1
    ) i
    order by t.price, t.vram desc, t.gpus desc, i.provider, i.instance_type, i.region
    limit %(top_k)s
),
counts as (
    select reason, sum(n) as n from grp group by reason
),
misses as (
    select m.reason, i.*,
           row_number() over (
               partition by m.reason order by m.rank_key nulls last, i.provider, i.instance_type
           ) as rank_in_reason
    from (
        -- Closest misses first: for memory reasons the biggest boxes, else the cheapest.
        -- rank() keeps ties, which the names then order; the keys are all fixed-width.
        select reason, type_key, rank_key,
               rank() over (partition by reason order by rank_key nulls last) as place
        from (
            select reason, type_key,
                   case when reason in ({memory_codes}) then -vram else price end as rank_key
            from grp where reason is not null
        ) g
    ) m
    cross join lateral (
        select * from cloud.instances i where i.type_key = m.type_key
        order by i.{price} nulls last, i.region limit 1
    ) i
    where m.place <= %(examples)s
)
select
    (select coalesce(jsonb_agg(jsonb_build_object(
                'provider', t.provider, 'instance_type', t.instance_type, 'region', t.region,
                'vcpus', t.vcpus, 'memory_gb', t.memory_gb, 'gpu_model', t.gpu_model,
                'gpu_count', t.gpu_count, 'gpu_memory_gb_per_gpu', t.gpu_memory_gb_per_gpu,
                'gpu_memory_gb_total', t.gpu_memory_gb_total,
                'price_hourly_usd', t.price_hourly_usd,
                'spot_price_hourly_usd', t.spot_price_hourly_usd,
                'catalog_source', t.catalog_source, 'price', t.price, 'tp', t.tp,
                'vendor', g.vendor, 'memory_bandwidth_gbps', g.memory_bandwidth_gbps,
                'fp16_bf16_dense_tflops', g.fp16_bf16_dense_tflops,
                'fp8_dense_tflops', g.fp8_dense_tflops, 'int8_dense_tops', g.int8_dense_tops)
            order by t.price, t.vram desc, t.gpus desc, t.provider, t.instance_type, t.region),
            '[]')
     from top t left join cloud.gpus g on g.gpu_model = t.gpu_model) as results,
    (select coalesce(jsonb_agg(jsonb_build_object(
                'reason', m.reason, 'provider', m.provider, 'instance_type', m.instance_type,
                'region', m.region, 'gpu_model', m.gpu_model, 'gpu_count', m.gpu_count,
                'gpu_memory_gb_total', m.gpu_memory_gb_total,
                'price_hourly_usd', m.price_hourly_usd)
            order by m.reason, m.rank_in_reason), '[]')
     from misses m where m.rank_in_reason <= %(examples)s) as examples,
    (select jsonb_object_agg(coalesce(reason, -1), n) from counts) as counts
"""


def search_params(query: ComputeQuery, fit: ModelFit | None) -> dict[str, Any]:
    """Return the bound parameters for ``build_search_sql``."""
    params: dict[str, Any] = {
        "providers": query.providers,
        "regions": query.regions,
        "gpu_model": query.gpu_model.strip().lower() if query.gpu_model else None,
        "min_vcpu": query.min_vcpu,
        "min_ram_gb": query.min_ram_gb,
        "min_vram_gb": query.min_vram_gb,
        "min_vram_per_gpu_gb": query.min_vram_per_gpu_gb,
        "max_price_monthly": query.max_price_monthly,
        "hours": HOURS_PER_MONTH,
        "top_k": query.top_k,
        "examples": EXAMPLES_PER_REASON,
        "util": query.gpu_memory_utilization,
    }
    for tp, need in (fit.per_gpu_gb_by_tp if fit else {}).items():
        params[f"need_{tp}"] = need
    return params


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
    cursor = await conn.execute(build_search_sql(query, fit), search_params(query, fit))
    raw = await cursor.fetchone()
    if raw is None:  # a select of aggregates returns one row; this only satisfies the types
        raise RuntimeError("compute search returned no row")
    counts = {int(code): int(n) for code, n in (raw["counts"] or {}).items()}
    examples: dict[int, list[RejectedExample]] = {}
    for item in raw["examples"]:
        examples.setdefault(item["reason"], []).append(RejectedExample.model_validate(item))
    rejected = {
        REASONS[code][0]: Rejection(count=n, examples=examples.get(code, []))
        for code, n in sorted(counts.items(), key=lambda kv: -kv[1])
        if code >= 0
    }
    return ComputeSearchResult(
        results=[_row(item, query, fit) for item in raw["results"]],
        rejected=rejected,
        considered=sum(counts.values()),
        accepted=counts.get(-1, 0),
        fit=fit,
    )
