"""Serving performance of one configuration: time to first token, per output token, tokens/s.

A configuration is a model × GPU × GPU count × tensor parallel × precision × KV dtype ×
engine, under a load of ``concurrency`` requests of ``input_tokens`` in and
``output_tokens`` out. Where NVIDIA AIConfigurator has measured kernels for the model, GPU
and engine (``tools.aiconfigurator``) its estimate is returned; elsewhere (T4, A10G,
consumer and AMD cards, models it lacks, engines it does not model) a roofline does, with
the same scheduling rules and efficiencies calibrated against AIConfigurator where both
apply (``bench/performance.py`` reports the ratios). ``estimator`` names the source.

The roofline, per replica of ``tensor_parallel`` GPUs, batch B, input I, output O:
- decode step(B) = max(bytes / (bandwidth × η_bw), flops / (dense rate × η_decode))
  + TP all-reduces + a per-layer launch cost; bytes = weights read (an MoE batch reads the
  experts its tokens route to) + KV of B sequences at I + O/2 tokens (local-attention layers
  read at most their window); flops = 2 × active params × B;
- prefill(I) = 2 × active params × I + causal attention 2 × layers × I² × heads × head_dim,
  at η_prefill of the dense rate, + all-reduces of I tokens;
- in-flight batching as vLLM schedules it (and AIConfigurator models it): one request's
  prefill per step beside B − 1 decodes; B such mixed steps and O − B decode-only steps per
  O output tokens; TPOT is their mean; TTFT the prefill step × a queueing factor
  1 + log2(B)/8 (≤ 2) + 0.8 ms per layer of dispatch; tokens/s = B × (O − 1) / (TTFT +
  TPOT × (O − 1)).
- all-reduce = 2 per layer of tokens × hidden × 2 bytes, ring over TP ranks at the link's
  bandwidth (NVLink from the GPU row, else PCIe Gen4/Gen5) plus a per-call latency.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools import aiconfigurator
from tools.architecture import (
    Architecture,
    attention_layout,
    kv_replication,
    load_architecture,
    model_params_billion,
    resolve_model,
    tensor_parallel_supported,
)
from tools.compute_fit import UnknownModelError, reject_nul
from tools.sizing import (
    GB,
    Workload,
    estimate_memory,
    kv_bytes_per_element,
    kv_cache_bytes_per_token,
    resolve_weight_dtype,
    weight_bytes,
)
from tools.throughput import GpuSpec, moe_params_read_billion

if TYPE_CHECKING:
    from psycopg import AsyncConnection

# Calibrated against AIConfigurator's vLLM estimates on H100/H200/A100/L40S/B200
# (bench/performance.py): the share of peak each phase sustains.
BANDWIDTH_EFFICIENCY = 0.75
DECODE_COMPUTE_EFFICIENCY = 0.5
PREFILL_COMPUTE_EFFICIENCY = 0.6
LAYER_LAUNCH_MS = 0.012  # per layer per step: kernel launches CUDA graphs do not hide
DISPATCH_MS_PER_LAYER = 0.8  # per request, vLLM's CPU-side prefill dispatch
# A small all-reduce's latency grows with the ranks: AIConfigurator's NCCL measurements give
# 6-10 µs at TP 2, 9-15 at TP 4, 15-27 at TP 8 on H100, A100, B200 and L40S alike.
ALLREDUCE_BASE_MS, ALLREDUCE_PER_RANK_MS = 0.004, 0.0025
# All-reduce bus bandwidth, GB/s, by TP degree over PCIe Gen4 without NVLink. AIConfigurator's
# NCCL measurements on 8× L40S give 20, 5.6 and 1.3 GB/s at 2, 4 and 8 ranks for large
# messages (traffic through host bridges collapses as ranks span switches and sockets);
# step-level agreement with its estimates puts TP 4 lower and TP 8 higher. Gen5 doubles it.
PCIE_GEN4_BUSBW = {1: 20.0, 2: 20.0, 4: 4.0, 8: 2.0}
NVLINK_EFFICIENCY = 0.37  # measured NCCL bus bandwidth over the quoted bidirectional NVLink


class PerformanceQuery(BaseModel):
    """A configuration and its load, in catalog names (``H100``, ``bf16``, ``vLLM``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    model_id: str = Field(min_length=1, max_length=200)
    gpu_model: str = Field(min_length=1, max_length=100)
    gpu_count: int = Field(default=1, ge=1, le=1024)
    tensor_parallel: int = Field(default=1, ge=1, le=64)
    precision: str = Field(default="native", description="native, bf16, fp16, fp8, int8, int4")
    kv_cache_dtype: Literal["native", "auto", "bf16", "fp16", "fp8"] = "native"
    engine: str = Field(default="vLLM", min_length=1, max_length=50)
    concurrency: int = Field(default=1, ge=1, le=100_000)
    input_tokens: int = Field(default=1024, ge=1, le=2_000_000)
    output_tokens: int = Field(default=256, ge=2, le=1_000_000)

    _no_nul = field_validator("model_id", "gpu_model", "engine")(reject_nul)


class PerformanceEstimate(BaseModel):
    """What the configuration delivers under the load, and where the figures come from."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    ttft_ms: float = Field(description="time to first token")
    tpot_ms: float = Field(description="time per output token, per user")
    tokens_per_s: float = Field(description="output tokens/s over all replicas")
    tokens_per_s_per_user: float
    memory_gb: float = Field(description="memory needed per GPU, GiB")
    fits: bool = Field(description="the per-GPU need fits 90 % of one GPU's memory")
    estimator: str = Field(description="the source of the latency figures")
    replicas: int
    concurrency_per_replica: int
    bound: Literal["memory", "compute", "measured"]
    assumptions: list[str]


def _link(gpu: GpuSpec, tensor_parallel: int = 2) -> tuple[str, float]:
    """Return the TP link kind and its all-reduce bus bandwidth in GB/s."""
    text = (gpu.interconnect or "").lower()
    if "nvlink" in text and "no nvlink" not in text:
        quoted = re.search(r"(\d+(?:\.\d+)?)\s*(tb|gb)/s", text)
        if quoted:
            rate = float(quoted[1]) * (1000 if quoted[2] == "tb" else 1)
            return "nvlink", rate * NVLINK_EFFICIENCY
        return "nvlink", 300 * NVLINK_EFFICIENCY
    degree = min((d for d in PCIE_GEN4_BUSBW if d >= tensor_parallel), default=8)
    return "pcie", PCIE_GEN4_BUSBW[degree] * (2 if "gen5" in text else 1)


def _compute_tflops(gpu: GpuSpec, dtype: str) -> float | None:
    # fp8 weights multiply in fp8 where the GPU has fp8 tensor cores (Ada, Hopper,
    # Blackwell); elsewhere (Ampere, Marlin kernels) they, and int4/mxfp4, dequantize to bf16.
    if dtype == "fp8" and gpu.fp8_dense_tflops:
        return gpu.fp8_dense_tflops
    return gpu.fp16_bf16_dense_tflops


class _Replica:
    """Step times for one replica; every time in milliseconds."""

    def __init__(self, arch: Architecture, dtype: str, kv_bytes: int, gpu: GpuSpec, tp: int):
        self.arch, self.dtype, self.gpu, self.tp = arch, dtype, gpu, tp
        self.layers = arch.num_hidden_layers
        self.active = model_params_billion(arch)[1] * 1e9
        per_token = kv_cache_bytes_per_token(arch, kv_bytes) / self.layers
        self.kv_per_layer_token = per_token * kv_replication(arch, tp)
        self.layout = attention_layout(arch)
        self.bandwidth = (gpu.memory_bandwidth_gbps or 0.0) * GB * BANDWIDTH_EFFICIENCY
        rate = _compute_tflops(gpu, dtype)
        self.rate = (rate or 0.0) * 1e12
        self.link, self.link_gbps = _link(gpu, tp)

    def allreduce_ms(self, tokens: int) -> float:
        if self.tp == 1:
            return 0.0
        message = tokens * self.arch.hidden_size * 2
        ring = 2 * (self.tp - 1) / self.tp * message / (self.link_gbps * GB) * 1e3
        latency = ALLREDUCE_BASE_MS + ALLREDUCE_PER_RANK_MS * self.tp
        return 2 * self.layers * (ring + latency)

    def _memory_ms(self, batch: int, context: float) -> float:
        weights = weight_bytes(moe_params_read_billion(self.arch, max(batch, 1)), self.dtype,
                               self.arch)
        kv = batch * self.kv_per_layer_token * self.layout.kv_tokens(round(context))
        return (weights + kv) / self.tp / self.bandwidth * 1e3

    def decode_ms(self, batch: int, context: float) -> tuple[float, bool]:
        """Return one decode step (ms) of ``batch`` sequences, and whether compute bounds it."""
        memory = self._memory_ms(batch, context)
        compute = (
            batch * 2 * self.active / self.tp / (self.rate * DECODE_COMPUTE_EFFICIENCY) * 1e3
            if self.rate else 0.0
        )
        step = max(memory, compute) + self.allreduce_ms(batch) + self.layers * LAYER_LAUNCH_MS
        return step, compute > memory

    def prefill_ms(self, tokens: int, decodes: int, context: float) -> float:
        """Return one step that prefills ``tokens`` beside ``decodes`` running sequences."""
        arch = self.arch
        attended = self.layout.kv_tokens(tokens)  # layer-weighted, local layers capped
        attention = 2 * attended * tokens * arch.num_attention_heads * arch.head_dim
        flops = 2 * self.active * (tokens + decodes) + attention
        rate = self.rate * PREFILL_COMPUTE_EFFICIENCY
        compute = flops / self.tp / rate * 1e3 if rate else 0.0
        memory = self._memory_ms(decodes, context)
        return (
            max(compute, memory) + self.allreduce_ms(tokens + decodes)
            + self.layers * LAYER_LAUNCH_MS
        )


def roofline(
    arch: Architecture,
    dtype: str,
    kv_bytes: int,
    gpu: GpuSpec,
    tensor_parallel: int,
    batch: int,
    input_tokens: int,
    output_tokens: int,
) -> tuple[float, float, float, bool]:
    """Return (TTFT ms, TPOT ms, output tokens/s, compute-bound) for one replica.

    Raises:
        ValueError: If the GPU has no memory bandwidth figure.

    """
    if not gpu.memory_bandwidth_gbps:
        raise ValueError(f"no memory bandwidth known for GPU {gpu.gpu_model!r}")
    replica = _Replica(arch, dtype, kv_bytes, gpu, tensor_parallel)
    context = input_tokens + output_tokens / 2
    prefill_only = replica.prefill_ms(input_tokens, 0, context)
    decode, compute_bound = replica.decode_ms(batch, context)
    queueing = 1.0 if batch <= 1 else min(1.0 + math.log2(batch) / 8.0, 2.0)
    ttft = (prefill_only + DISPATCH_MS_PER_LAYER * replica.layers) * queueing
    if batch == 1:
        mixed_steps, decode_steps, mixed = 0, output_tokens - 1, prefill_only
        tpot = decode
    else:
        mixed = replica.prefill_ms(input_tokens, batch - 1, context)
        mixed_steps = min(batch, output_tokens)
        decode_steps = max(output_tokens - batch, 0)
        tpot = (mixed * mixed_steps + decode * decode_steps) / (mixed_steps + decode_steps)
    total = (1 if batch == 1 else mixed_steps) * mixed + decode_steps * decode
    step_rate = batch * (output_tokens - 1) * 1e3 / total
    little = batch * (output_tokens - 1) * 1e3 / (ttft + tpot * (output_tokens - 1))
    return ttft, tpot, min(step_rate, little), compute_bound


def estimate_performance(
    query: PerformanceQuery,
    gpu: GpuSpec,
    *,
    use_aiconfigurator: bool = True,
    only_if_warm: bool = False,
    catalog: Mapping[str, Architecture] | None = None,
) -> PerformanceEstimate:
    """Estimate what ``query``'s configuration delivers, from AIConfigurator or the roofline.

    The GPUs form ``gpu_count // tensor_parallel`` replicas; the load spreads evenly over
    them. Memory is ``tools.sizing``'s per-GPU need (GiB) for the per-replica load, each
    sequence budgeted at input + output tokens. ``only_if_warm`` takes AIConfigurator's
    estimate only when its tables for the configuration are already loaded (a chat turn
    cannot spend the second a cold load takes; ``tools.aiconfigurator.warm_up`` loads them).

    Raises:
        ValueError: On a model outside the catalog, a TP degree the heads do not split over,
            fewer GPUs than the TP degree, or a GPU without a bandwidth figure.

    """
    arch, notes = resolve_model(query.model_id, catalog=catalog)
    tp = query.tensor_parallel
    if not tensor_parallel_supported(arch, tp):
        raise ValueError(
            f"tensor_parallel {tp} does not split {arch.num_attention_heads} attention / "
            f"{arch.num_key_value_heads} KV heads"
        )
    if query.gpu_count < tp:
        raise ValueError(f"{query.gpu_count} GPU(s) cannot hold tensor_parallel {tp}")
    replicas = query.gpu_count // tp
    batch = math.ceil(query.concurrency / replicas)
    kv = "auto" if query.kv_cache_dtype == "native" else query.kv_cache_dtype
    tokens = query.input_tokens + query.output_tokens
    workload = Workload(
        dtype=query.precision,
        kv_cache_dtype=kv,
        context_length=tokens,
        concurrent_sequences=batch,
    )
    dtype, dtype_notes = resolve_weight_dtype(workload, arch)
    sizing = estimate_memory(
        arch, workload, gpu_memory_gb=gpu.memory_gb, tensor_parallel=tp, catalog=catalog
    )
    notes = [*notes, *dtype_notes]
    if replicas * tp < query.gpu_count:
        notes.append(f"{query.gpu_count - replicas * tp} GPU(s) left idle by TP {tp}")
    measured = None
    if use_aiconfigurator:
        measured = aiconfigurator.aic_estimate(
            arch.model_id or query.model_id, query.gpu_model, query.engine, tp, batch,
            query.input_tokens, query.output_tokens, query.precision, query.kv_cache_dtype,
            only_if_warm=only_if_warm,
        )
    share = query.concurrency / batch  # replicas' worth of load actually offered
    bound: Literal["memory", "compute", "measured"]
    if measured is not None:
        ttft, tpot, per_replica = measured.ttft_ms, measured.tpot_ms, measured.tokens_per_s
        estimator, bound = measured.source, "measured"
        notes.append(
            "aggregated serving (in-flight batching), one request's input as the prefill "
            "budget per step, as `aiconfigurator cli estimate` runs it"
        )
    else:
        kv_bytes = kv_bytes_per_element(workload, dtype)
        ttft, tpot, per_replica, compute_bound = roofline(
            arch, dtype, kv_bytes, gpu, tp, batch, query.input_tokens, query.output_tokens
        )
        bound = "compute" if compute_bound else "memory"
        link, link_gbps = _link(gpu, tp)
        estimator = "roofline (tools.performance, calibrated against aiconfigurator)"
        notes.append(
            f"roofline: {gpu.memory_bandwidth_gbps:g} GB/s at {BANDWIDTH_EFFICIENCY:g}, "
            f"{_compute_tflops(gpu, dtype) or 0:g} dense TFLOPS ({dtype}) at "
            f"{DECODE_COMPUTE_EFFICIENCY:g} decode / {PREFILL_COMPUTE_EFFICIENCY:g} prefill; "
            f"TP all-reduce over {link} at {link_gbps:g} GB/s"
        )
        if use_aiconfigurator and not aiconfigurator.covered(
            arch.model_id or query.model_id, query.gpu_model, query.engine
        ):
            notes.append("aiconfigurator has no measured data for this model, GPU or engine")
        elif use_aiconfigurator and only_if_warm:
            notes.append("aiconfigurator's tables for this configuration are not loaded yet")
    return PerformanceEstimate(
        ttft_ms=ttft,
        tpot_ms=tpot,
        tokens_per_s=per_replica * share,
        tokens_per_s_per_user=1e3 / tpot,
        memory_gb=sizing.per_gpu_gb,
        fits=bool(sizing.fits),
        estimator=estimator,
        replicas=replicas,
        concurrency_per_replica=batch,
        bound=bound,
        assumptions=[
            *notes,
            f"memory: tools.sizing per GPU, {batch} sequence(s) of {tokens} tokens, GiB",
        ],
    )


_GPU_SQL = """
select gpu_model, vendor, memory_gb, memory_bandwidth_gbps, fp16_bf16_dense_tflops,
       fp8_dense_tflops, int8_dense_tops, interconnect, architecture, compute_capability
from cloud.gpus
where lower(gpu_model) = lower(%s)
"""


async def load_gpu(conn: AsyncConnection[Any], gpu_model: str) -> GpuSpec | None:
    """Load one GPU's spec from ``cloud.gpus`` by name, case-insensitively."""
    cursor = await conn.execute(_GPU_SQL, (gpu_model.strip(),))
    row = await cursor.fetchone()
    return None if row is None else GpuSpec.model_validate(
        {k: v for k, v in row.items() if v is not None}
    )


async def performance_for(
    conn: AsyncConnection[Any], query: PerformanceQuery
) -> PerformanceEstimate:
    """Estimate a configuration with the model and GPU read from the catalogs.

    The estimate runs in a worker thread: AIConfigurator's first estimate of a model on a
    GPU loads its measured tables (about a second), which must not stall the event loop.

    Raises:
        UnknownModelError: If the model or the GPU is not in the catalogs.
        ValueError: If the configuration cannot run (TP, GPU count, no bandwidth figure).

    """
    arch = await load_architecture(conn, query.model_id)
    if arch is None:
        raise UnknownModelError(
            f"unknown model {query.model_id!r}: not in the architecture catalog"
        )
    gpu = await load_gpu(conn, query.gpu_model)
    if gpu is None:
        raise UnknownModelError(f"unknown GPU {query.gpu_model!r}: not in the GPU catalog")
    known = query.model_copy(update={"model_id": arch.model_id, "gpu_model": gpu.gpu_model})
    catalog = {arch.model_id or query.model_id: arch}
    return await asyncio.to_thread(estimate_performance, known, gpu, catalog=catalog)


__all__ = [
    "PerformanceEstimate", "PerformanceQuery", "estimate_performance", "load_gpu",
    "performance_for", "roofline",
]
