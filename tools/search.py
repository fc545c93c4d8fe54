"""Configuration search: the cheapest configuration whose memory fits and that carries the load.

Over the instance offers the caller passes (catalog rows, already filtered by provider,
region or budget), it tries what an engineer would: precision (bf16; fp8 where the GPU has
fp8 tensor cores — Ada, Hopper, Blackwell — and weight-only fp8 on Ampere through Marlin;
AWQ/GPTQ int4 where a quantized build is known), KV cache dtype (fp8 where supported),
tensor parallel per replica, replicas (instances × replicas per instance), spot or on-demand.
A configuration qualifies when ``tools.sizing`` fits it in the offer's usable GiB at 90 %
and the ``tools.performance`` roofline meets the latency targets (defaults: 2 s to first
token, 50 ms per output token for chat; throughput alone for batch) and any tokens/s floor.
Chat ranks by $/month, batch by $ per 1M output tokens (of its whole run, start-up included,
when the run's size is known).

Estimates depend on the GPU, its count per instance and the configuration, not on the
region, so each is computed once per distinct instance shape; shapes are tried cheapest
first, and a shape whose one instance already costs more than the best found is skipped.
Pure: no SQL, no I/O; the chosen configurations can then be re-estimated with
AIConfigurator (``tools.performance.estimate_performance``) by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.architecture import Architecture, resolve_model, tensor_parallel_supported
from tools.jobs import RUN_FIXED_HOURS
from tools.offers import (
    ARM_HOSTED_GPUS,
    MARKETPLACES,
    QUANTIZED_BUILDS,
    Offer,
    Shape,
    engine_runs_on,
    gpu_variant,
    precision_options,
    served_dtypes,
)
from tools.performance import PerformanceEstimate, roofline
from tools.sizing import (
    SizingResult,
    Workload,
    estimate_memory,
    kv_bytes_per_element,
    resolve_weight_dtype,
)
from tools.throughput import GpuSpec

__all__ = [
    "QUANTIZED_BUILDS", "Configuration", "Load", "Offer", "ShapeRejection", "SearchOutcome",
    "search_configurations",
]

HOURS_PER_MONTH = 730
ALTERNATIVE_SPAN = 2.0
# A catalog price under this share of the same type's median across regions is suspect.
OUTLIER_SHARE = 0.6
GPU_MEMORY_UTILIZATION = 0.9


class Load(BaseModel):
    """What the deployment must carry, and how fast."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["chat", "batch"] = "chat"
    concurrency: int = Field(default=1, ge=1, le=100_000)
    input_tokens: int = Field(default=1024, ge=1)
    output_tokens: int = Field(default=256, ge=2)
    max_model_len: int | None = Field(default=None, ge=1, description="default: in + out")
    ttft_ms: float | None = Field(default=2000, gt=0, description="chat only")
    tpot_ms: float | None = Field(default=50, gt=0, description="chat only")
    min_tokens_per_s: float | None = Field(default=None, gt=0)
    tokens_per_run: float | None = Field(
        default=None, gt=0, description="batch: output tokens one run makes"
    )
    spot_ok: bool = False
    allow_marketplace: bool = False
    allow_non_cuda: bool = Field(
        default=False, description="AMD and other accelerators (their images differ)"
    )
    engine: str = "vLLM"
    max_instances: int = Field(default=8, ge=1, le=64)


class Configuration(BaseModel):
    """One deployable configuration: the build, the hardware, the price and the estimates."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    model_id: str
    build_repo: str
    precision: str
    quantized: bool
    kv_cache_dtype: str
    tensor_parallel: int
    replicas: int
    gpu_model: str
    gpus_per_instance: int
    gpu_memory_gb: float = Field(description="memory of one GPU, GiB")
    gpu_count: int
    instance_type: str
    instances: int
    provider: str
    region: str
    spot: bool
    marketplace: bool
    engine: str
    max_model_len: int
    concurrency: int = Field(default=1, description="sequences in flight it carries, in all")
    input_tokens: int = Field(default=1024, description="prompt tokens a request, as searched")
    output_tokens: int = Field(default=256, description="output tokens a request, as searched")
    estimate: PerformanceEstimate
    hourly_usd: float
    monthly_usd: float
    usd_per_million_tokens: float
    price_outlier: bool = Field(
        default=False,
        description="on-demand price under OUTLIER_SHARE of the type's median over its regions",
    )


class ShapeRejection(BaseModel):
    """Why a cheaper shape could not carry the load, in its best attempt."""

    gpu_model: str
    gpus_per_instance: int
    hourly_usd: float
    reason: str


class SearchOutcome(BaseModel):
    """The cheapest configuration, the next cheapest ones, and why cheaper shapes failed."""

    chosen: Configuration | None
    alternatives: list[Configuration]
    rejected: list[ShapeRejection]
    examined: int = Field(description="configurations estimated")
    assumptions: list[str]


def _prices(shape: Shape, load: Load) -> list[tuple[float, bool, Offer]]:
    out: list[tuple[float, bool, Offer]] = []
    for spot in (False, True) if load.spot_ok else (False,):
        priced = [
            (o.spot_price_hourly_usd if spot else o.price_hourly_usd, o) for o in shape.offers
        ]
        valid = [(p, o) for p, o in priced if p]
        if valid:
            price, offer = min(valid, key=lambda item: item[0] or 0.0)
            out.append((float(price or 0.0), spot, offer))
    return out


def _shapes(
    offers: Iterable[Offer], gpus: Mapping[str, GpuSpec], load: Load, skipped: dict[str, int]
) -> list[Shape]:
    grouped: dict[tuple[str, int, float, str], list[Offer]] = {}
    specs: dict[tuple[str, int, float, str], GpuSpec] = {}
    for offer in offers:
        spec = gpus.get(offer.gpu_model or "")
        if spec is None or not spec.memory_bandwidth_gbps or offer.gpu_count < 1:
            skipped["no usable GPU (none, fractional, or no bandwidth figure)"] += 1
            continue
        if not engine_runs_on(spec, load.engine):
            skipped[f"{load.engine} does not run on the accelerator"] += 1
            continue
        if spec.gpu_model in ARM_HOSTED_GPUS and not load.allow_non_cuda:
            skipped["Arm host: the serving image is built for x86_64"] += 1
            continue
        if (spec.vendor or "").lower() != "nvidia" and not load.allow_non_cuda:
            skipped["not an NVIDIA GPU (name the GPU to plan on it)"] += 1
            continue
        if offer.provider.lower() in MARKETPLACES and not load.allow_marketplace:
            skipped["marketplace offer (not allowed for this load)"] += 1
            continue
        variant = gpu_variant(spec, offer)
        memory = offer.gpu_memory_gb_per_gpu or spec.memory_gb or 0.0
        key = (spec.gpu_model, int(offer.gpu_count), memory, variant.interconnect or "")
        grouped.setdefault(key, []).append(offer)
        specs[key] = variant
    return [Shape(specs[k], k[1], k[2], tuple(v)) for k, v in grouped.items()]


def search_configurations(
    model_id: str,
    load: Load,
    offers: Iterable[Offer],
    gpus: Mapping[str, GpuSpec],
    *,
    catalog: Mapping[str, Architecture] | None = None,
    quantized_builds: Mapping[str, Mapping[str, str]] = QUANTIZED_BUILDS,
    alternatives: int = 3,
    precisions: tuple[str, ...] = ("native", "fp8", "int4"),
    kv_cache_dtypes: tuple[str, ...] = ("auto", "fp8"),
) -> SearchOutcome:
    """Find the cheapest configuration of ``model_id`` that fits and meets ``load``.

    ``precisions`` and ``kv_cache_dtypes`` narrow what is tried (say, the native build only).

    Raises:
        ValueError: If the model is not in the architecture catalog.

    """
    arch, notes = resolve_model(model_id, catalog=catalog)
    max_len = load.max_model_len or load.input_tokens + load.output_tokens
    skipped: dict[str, int] = {
        "no usable GPU (none, fractional, or no bandwidth figure)": 0,
        f"{load.engine} does not run on the accelerator": 0,
        "marketplace offer (not allowed for this load)": 0,
        "not an NVIDIA GPU (name the GPU to plan on it)": 0,
        "Arm host: the serving image is built for x86_64": 0,
    }
    shapes = _shapes(offers, gpus, load, skipped)
    priced = sorted(
        (
            (price, spot, offer, shape)
            for shape in shapes
            for price, spot, offer in _prices(shape, load)
        ),
        key=lambda item: item[0],
    )
    found: list[Configuration] = []
    rejected: list[ShapeRejection] = []
    examined = 0
    cache: dict[tuple[object, ...], tuple[Configuration | None, str]] = {}
    for price, spot, offer, shape in priced:
        # Chat ranks by the hour: one instance of a pricier shape cannot win any more.
        # Batch ranks by $/token, which a pricier, faster shape can still lower.
        full = len(found) > alternatives and price >= found[alternatives].hourly_usd
        if full and load.kind == "chat":
            break
        key = (shape.gpu.gpu_model, shape.gpus, shape.memory_gb, shape.gpu.interconnect)
        if key not in cache:
            best, why, count = _best_on_shape(
                arch, load, shape, max_len, quantized_builds, precisions, kv_cache_dtypes
            )
            examined += count
            cache[key] = (best, why)
        best, why = cache[key]
        if best is None:
            if not found and len(rejected) < 10:
                rejected.append(ShapeRejection(gpu_model=shape.gpu.gpu_model,
                                          gpus_per_instance=shape.gpus, hourly_usd=price,
                                          reason=why))
            continue
        found.append(_priced(best, price, spot, offer, load))
        found.sort(key=lambda c: _rank(c, load))
    chosen = found[0] if found else None
    if chosen is not None:
        # Alternatives worth reading cost at most ALTERNATIVE_SPAN × the chosen one.
        found = [c for c in found if c.monthly_usd <= chosen.monthly_usd * ALTERNATIVE_SPAN]
    skipped_notes = [f"{count} offers skipped: {why}" for why, count in skipped.items() if count]
    return SearchOutcome(
        chosen=chosen,
        alternatives=_distinct(found[1:], alternatives),
        rejected=rejected,
        examined=examined,
        assumptions=[
            *notes,
            *skipped_notes,
            f"each sequence budgeted at {load.input_tokens + load.output_tokens} tokens, "
            f"max_model_len {max_len}; memory fits at {GPU_MEMORY_UTILIZATION:.0%} of the "
            "offer's usable GiB",
            "latency and throughput from the tools.performance roofline",
            "ranked by $ per 1M output tokens" if load.kind == "batch" else "ranked by $/month",
        ],
    )


# 4-bit weights cost some quality (AWQ/GPTQ lose about 1-2 points on reasoning benchmarks
# where fp8 loses well under one): a 4-bit build leads only when it saves more than this.
INT4_QUALITY_PREMIUM = 1.15


def _rank(config: Configuration, load: Load) -> tuple[float, float]:
    premium = INT4_QUALITY_PREMIUM if config.precision == "int4" else 1.0
    if load.kind == "batch":
        return config.usd_per_million_tokens * premium, config.hourly_usd
    return config.hourly_usd * premium, -config.estimate.tokens_per_s


def _distinct(configs: list[Configuration], limit: int) -> list[Configuration]:
    seen: set[tuple[str, str, int]] = set()
    out: list[Configuration] = []
    for config in configs:
        key = (config.gpu_model, config.precision, config.tensor_parallel)
        if key not in seen:
            seen.add(key)
            out.append(config)
        if len(out) == limit:
            break
    return out


def _priced(
    best: Configuration, price: float, spot: bool, offer: Offer, load: Load
) -> Configuration:
    hourly = price * best.instances
    rate = best.estimate.tokens_per_s
    return best.model_copy(update={
        "instance_type": offer.instance_type,
        "provider": offer.provider,
        "region": offer.region,
        "spot": spot,
        "marketplace": offer.provider.lower() in MARKETPLACES,
        "price_outlier": bool(not spot and offer.median_hourly_usd
                              and price < OUTLIER_SHARE * offer.median_hourly_usd),
        "hourly_usd": hourly,
        "monthly_usd": hourly * HOURS_PER_MONTH,
        "usd_per_million_tokens": _usd_per_million(hourly, rate, load),
    })


def _usd_per_million(hourly: float, rate: float, load: Load) -> float:
    """Return $ per 1M output tokens: of a batch's whole run if its size is known, else steady.

    A run pays its start-up (tools.jobs.RUN_FIXED_HOURS) whatever its size: a big node that
    does a night's work in minutes still pays it, at its own hourly price.
    """
    if not rate:
        return math.inf
    if load.kind == "batch" and load.tokens_per_run:
        hours = load.tokens_per_run / rate / 3600 + RUN_FIXED_HOURS
        return hourly * hours / load.tokens_per_run * 1e6
    return hourly / (rate * 3600) * 1e6


BATCH_SIZES = (256, 128, 64, 32, 16, 8, 4, 2, 1)


@dataclass(frozen=True)
class _Try:
    """One configuration tried on a shape: precision, KV dtype, TP and sequences per replica."""

    precision: str
    repo: str
    quantized: bool
    kv: Literal["auto", "fp8"]
    tp: int


def _best_on_shape(
    arch: Architecture,
    load: Load,
    shape: Shape,
    max_len: int,
    builds: Mapping[str, Mapping[str, str]],
    precisions: tuple[str, ...] = ("native", "fp8", "int4"),
    kv_cache_dtypes: tuple[str, ...] = ("auto", "fp8"),
) -> tuple[Configuration | None, str, int]:
    """Return the cheapest configuration on a shape, or why none carries the load.

    Chat splits its concurrent users over as few instances as meet the targets; batch
    fills each replica with as many sequences as memory holds and adds instances until
    the tokens/s floor is met.
    """
    best: Configuration | None = None
    why = "no tensor-parallel degree splits the model's heads over this instance"
    examined = 0
    kv_options: list[Literal["auto", "fp8"]] = (
        ["auto", "fp8"] if shape.gpu.fp8_dense_tflops else ["auto"]
    )
    tries = [
        _Try(precision, repo, quantized, kv, tp)
        for precision, repo, quantized in precision_options(arch, shape.gpu, builds)
        if precision in precisions
        for kv in kv_options
        if kv in kv_cache_dtypes
        for tp in (1, 2, 4, 8)
        if shape.gpus % tp == 0 and tensor_parallel_supported(arch, tp)
    ]
    for attempt in tries:
        per_instance = shape.gpus // attempt.tp
        if load.kind == "batch":
            examined += 1
            found, reason = _batch_try(arch, load, shape, max_len, attempt, per_instance)
            if found is not None and (best is None or _batch_better(found, best)):
                best = found
            why = reason or why
            continue
        # The most instances give each replica the fewest sequences, and so the least
        # memory: if even that does not fit, no count of instances will.
        fewest = math.ceil(load.concurrency / min(load.max_instances * per_instance,
                                                  load.concurrency))
        if not _fits_memory(arch, load, shape, max_len, attempt, fewest):
            examined += 1
            why = f"memory: {attempt.precision} at TP {attempt.tp} does not fit at any count"
            continue
        for instances in range(1, load.max_instances + 1):
            if best is not None and instances >= best.instances:
                break
            examined += 1
            # More replicas than sequences would idle: an instance's spare GPUs stay empty.
            replicas = min(instances * per_instance, load.concurrency)
            batch = math.ceil(load.concurrency / replicas)
            found, reason = _evaluate(arch, load, shape, max_len, attempt, instances,
                                      replicas, batch)
            if found is not None:
                best = found
                break
            why = reason
            if batch == 1 and not reason.startswith("memory"):
                break  # more replicas cannot shorten one sequence's steps
    return best, why, examined


def _batch_better(new: Configuration, old: Configuration) -> bool:
    # Same shape, same price per instance: fewer instances, then more tokens/s per dollar.
    new_rate = new.estimate.tokens_per_s / new.instances
    old_rate = old.estimate.tokens_per_s / old.instances
    return (new.instances, -new_rate) < (old.instances, -old_rate)


def _batch_try(
    arch: Architecture, load: Load, shape: Shape, max_len: int, attempt: _Try,
    per_instance: int,
) -> tuple[Configuration | None, str]:
    """Fill each replica with the most sequences memory holds; add instances for the floor."""
    reason = ""
    for batch in (b for b in BATCH_SIZES if b <= max(load.concurrency, 1) or b == 1):
        one, reason = _evaluate(arch, load, shape, max_len, attempt, 1, per_instance, batch,
                                check_rate=False)
        if one is None:
            continue
        needed = 1
        if load.min_tokens_per_s:
            needed = math.ceil(load.min_tokens_per_s / one.estimate.tokens_per_s)
        if needed > load.max_instances:
            rate = one.estimate.tokens_per_s * load.max_instances
            return None, (f"{rate:,.0f} tokens/s on {load.max_instances} instance(s) < "
                          f"{load.min_tokens_per_s:,.0f} at {attempt.precision}, "
                          f"TP {attempt.tp}")
        return _evaluate(arch, load, shape, max_len, attempt, needed, needed * per_instance,
                         batch, check_rate=False)
    return None, reason


_SIZINGS: dict[tuple[object, ...], tuple[Architecture, SizingResult]] = {}


def _arch_key(arch: Architecture) -> tuple[object, ...]:
    # A catalog row's identity: the same id with the same dimensions is the same model.
    return (arch.model_id, arch.num_hidden_layers, arch.hidden_size, arch.num_key_value_heads,
            arch.params_billion_total, arch.native_dtype)
_SIZINGS_MAX = 16_384


def _sizing(arch: Architecture, workload: Workload, tensor_parallel: int) -> SizingResult:
    # Memory depends on the model, workload and TP, not on the GPU: shapes share it. Keyed
    # by plain values (hashing the pydantic models on every look-up costs more than it saves).
    key = (_arch_key(arch), workload.dtype, workload.kv_cache_dtype, workload.context_length,
           workload.concurrent_sequences, workload.typical_tokens, tensor_parallel)
    hit = _SIZINGS.get(key)
    if hit is not None:
        return hit[1]
    if len(_SIZINGS) >= _SIZINGS_MAX:
        _SIZINGS.clear()
    sizing = estimate_memory(arch, workload, tensor_parallel=tensor_parallel)
    _SIZINGS[key] = (arch, sizing)
    return sizing


_ESTIMATES: dict[tuple[object, ...], tuple[float, float, float, bool]] = {}


def _estimate(
    arch: Architecture, dtype: str, kv_bytes: int, gpu: GpuSpec, tp: int, batch: int,
    input_tokens: int, output_tokens: int,
) -> tuple[float, float, float, bool]:
    # A budget's trials and the shapes of one GPU repeat the same estimates.
    key = (_arch_key(arch), dtype, kv_bytes, gpu.gpu_model, gpu.memory_bandwidth_gbps,
           gpu.interconnect, tp, batch, input_tokens, output_tokens)
    found = _ESTIMATES.get(key)
    if found is None:
        if len(_ESTIMATES) >= _SIZINGS_MAX:
            _ESTIMATES.clear()
        found = roofline(arch, dtype, kv_bytes, gpu, tp, batch, input_tokens, output_tokens)
        _ESTIMATES[key] = found
    return found


def _fits_memory(
    arch: Architecture, load: Load, shape: Shape, max_len: int, attempt: _Try, batch: int
) -> bool:
    workload = Workload(
        dtype=attempt.precision, kv_cache_dtype=attempt.kv, context_length=max_len,
        concurrent_sequences=batch, typical_tokens=load.input_tokens + load.output_tokens,
    )
    usable = shape.memory_gb * GPU_MEMORY_UTILIZATION
    return _sizing(arch, workload, attempt.tp).per_gpu_gb <= usable


def _evaluate(
    arch: Architecture, load: Load, shape: Shape, max_len: int, attempt: _Try,
    instances: int, replicas: int, batch: int, *, check_rate: bool = True,
) -> tuple[Configuration | None, str]:
    """Size and estimate one configuration; None and the reason when it fails."""
    usable = shape.memory_gb * GPU_MEMORY_UTILIZATION
    workload = Workload(
        dtype=attempt.precision, kv_cache_dtype=attempt.kv, context_length=max_len,
        concurrent_sequences=batch, typical_tokens=load.input_tokens + load.output_tokens,
    )
    sizing = _sizing(arch, workload, attempt.tp)
    if sizing.per_gpu_gb > usable:
        return None, (f"memory: {sizing.per_gpu_gb:.1f} GiB per GPU at {attempt.precision}, "
                      f"TP {attempt.tp} > {usable:.1f} usable of {shape.memory_gb:g}")
    dtype, _ = resolve_weight_dtype(workload, arch)
    ttft, tpot, per_replica, compute = _estimate(
        arch, dtype, kv_bytes_per_element(workload, dtype), shape.gpu, attempt.tp, batch,
        load.input_tokens, load.output_tokens,
    )
    total = per_replica * replicas
    if load.kind == "chat":
        total = per_replica * load.concurrency / batch
    miss = _misses(load, ttft, tpot, total if check_rate else math.inf)
    if miss:
        where = f"{attempt.precision}, TP {attempt.tp}, {instances} instance(s)"
        return None, f"{miss} at {where}"
    estimate = PerformanceEstimate(
        ttft_ms=ttft, tpot_ms=tpot, tokens_per_s=total, tokens_per_s_per_user=1e3 / tpot,
        memory_gb=sizing.per_gpu_gb, fits=True, estimator="roofline (tools.performance)",
        replicas=replicas, concurrency_per_replica=batch,
        bound="compute" if compute else "memory", assumptions=[],
    )
    weights, kv = served_dtypes(
        shape.gpu, sizing.dtype if attempt.precision == "native" else attempt.precision,
        sizing.kv_cache_dtype,
    )
    return Configuration(
        model_id=arch.model_id or attempt.repo, build_repo=attempt.repo,
        precision=weights, quantized=attempt.quantized, kv_cache_dtype=kv,
        tensor_parallel=attempt.tp, replicas=replicas, gpu_model=shape.gpu.gpu_model,
        gpus_per_instance=shape.gpus, gpu_memory_gb=shape.memory_gb,
        gpu_count=instances * shape.gpus, instance_type="",
        instances=instances, provider="", region="", spot=False, marketplace=False,
        engine=load.engine, max_model_len=max_len, concurrency=load.concurrency,
        input_tokens=load.input_tokens, output_tokens=load.output_tokens,
        estimate=estimate, hourly_usd=0.0,
        monthly_usd=0.0, usd_per_million_tokens=0.0,
    ), ""


def _misses(load: Load, ttft: float, tpot: float, tokens_per_s: float) -> str:
    if load.kind == "chat" and load.ttft_ms is not None and ttft > load.ttft_ms:
        return f"TTFT {ttft:,.0f} ms > {load.ttft_ms:,.0f}"
    if load.kind == "chat" and load.tpot_ms is not None and tpot > load.tpot_ms:
        return f"TPOT {tpot:.0f} ms > {load.tpot_ms:.0f}"
    if load.min_tokens_per_s is not None and tokens_per_s < load.min_tokens_per_s:
        return f"{tokens_per_s:,.0f} tokens/s < {load.min_tokens_per_s:,.0f}"
    return ""
