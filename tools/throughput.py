"""Decode throughput and cost per output token, from memory bandwidth.

Each decode step produces one token per sequence and streams, on every GPU of the TP group,
its shard of the weights (once per step, shared by the batch) and the KV cache of every
sequence. Until the batch grows large that traffic, not arithmetic, sets the pace; FORMULA
spells the model out and every estimate carries it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from tools.sizing import (
    DATA_DIR,
    GB,
    Architecture,
    Workload,
    kv_bytes_per_element,
    kv_cache_bytes_per_token,
    kv_replication,
    model_params_billion,
    resolve_model,
    resolve_weight_dtype,
    tensor_parallel_supported,
    weight_bytes,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection

BANDWIDTH_EFFICIENCY = 0.7  # share of peak HBM bandwidth decode kernels sustain in practice
COMPUTE_EFFICIENCY = 0.5  # model FLOPs utilization of the dense tensor rate at large batch
FORMULA = (
    "bytes_per_gpu = weights_read / TP + sequences × kv_per_sequence / TP; "
    "step_s = max(bytes_per_gpu / (bandwidth × efficiency), "
    "sequences × 2 × active_params / TP / (dense_rate × mfu)); "
    "tokens/s per sequence = 1 / step_s; aggregate tokens/s = sequences / step_s; "
    "$ per 1M output tokens = hourly_usd / (instance tokens/s × 3600) × 1e6"
)


class GpuSpec(BaseModel):
    """Accelerator facts from the ``gpus`` catalog that sizing and throughput use."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    gpu_model: str
    vendor: str | None = None
    memory_gb: float | None = None
    memory_bandwidth_gbps: float | None = None
    fp16_bf16_dense_tflops: float | None = None
    fp8_dense_tflops: float | None = None
    int8_dense_tops: float | None = None
    interconnect: str | None = None
    architecture: str | None = None
    compute_capability: str | None = None


def _row_to_gpu(row: Mapping[str, Any]) -> GpuSpec:
    return GpuSpec.model_validate({k: v for k, v in row.items() if v not in (None, "")})


def load_gpus_csv(path: Path = DATA_DIR / "gpus.csv") -> dict[str, GpuSpec]:
    """Read the GPU catalog CSV into specs keyed by ``gpu_model``."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["gpu_model"]: _row_to_gpu(row) for row in csv.DictReader(handle)}


async def load_gpu_specs(conn: AsyncConnection[Any]) -> dict[str, GpuSpec]:
    """Load every GPU spec from ``cloud.gpus``, keyed by ``gpu_model``."""
    cursor = await conn.execute(
        "select gpu_model, vendor, memory_gb, memory_bandwidth_gbps, fp16_bf16_dense_tflops, "
        "fp8_dense_tflops, int8_dense_tops, interconnect, architecture, compute_capability "
        "from cloud.gpus"
    )
    return {row["gpu_model"]: _row_to_gpu(row) for row in await cursor.fetchall()}


class ThroughputEstimate(BaseModel):
    """Decode speed of one TP group and, given an instance, its cost per output token."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    model_id: str | None
    gpu_model: str
    dtype: str
    tensor_parallel: int
    concurrent_sequences: int
    single_sequence_tokens_per_s: float
    tokens_per_s_per_sequence: float
    aggregate_tokens_per_s: float
    bytes_per_gpu_per_step: float
    step_ms: float
    bound: Literal["memory", "compute"]
    replicas: float | None
    instance_tokens_per_s: float | None
    usd_per_million_tokens: float | None
    assumptions: list[str]
    formula: str


def decode_tokens_per_s(
    bytes_per_token: float, bandwidth_gbps: float, efficiency: float = BANDWIDTH_EFFICIENCY
) -> float:
    """Return memory-bound decode tokens/s: bandwidth × efficiency ÷ bytes read per token."""
    return bandwidth_gbps * GB * efficiency / bytes_per_token


def usd_per_million_tokens(hourly_usd: float, tokens_per_s: float) -> float:
    """Return dollars per million output tokens: hourly / (tokens/s × 3600) × 1e6."""
    return hourly_usd / (tokens_per_s * 3600) * 1e6


def moe_params_read_billion(arch: Architecture, sequences: int) -> float:
    """Return the parameters (billions) one decode step reads for ``sequences`` tokens.

    Dense models read everything. An MoE model reads its shared part and the experts any
    token routes to: with E experts, top-k and uniform routing, E × (1 − (1 − k/E)^B) of
    them per layer. Shared and per-expert sizes come from total = S + E·e, active = S + k·e.
    """
    total, active, _ = model_params_billion(arch)
    experts, top_k = arch.num_experts, arch.num_experts_per_tok
    if not arch.is_moe or not experts or not top_k or experts <= top_k:
        return active
    per_expert = (total - active) / (experts - top_k)
    shared = active - top_k * per_expert
    touched = experts * (1 - (1 - top_k / experts) ** sequences)
    return shared + per_expert * touched


def _dense_tflops(gpu: GpuSpec, dtype: str) -> float | None:
    # Weight-only formats (int4, mxfp4, nf4) dequantize and multiply in bf16.
    if dtype == "fp8" and gpu.fp8_dense_tflops:
        return gpu.fp8_dense_tflops
    if dtype == "int8" and gpu.int8_dense_tops:
        return gpu.int8_dense_tops
    rate = gpu.fp16_bf16_dense_tflops
    # TF32 tensor cores run at half the bf16 rate on Ampere and Hopper.
    return rate / 2 if rate and dtype == "fp32" else rate


def _replicas(gpu_count: float, tensor_parallel: int) -> float:
    if gpu_count >= tensor_parallel:
        return float(math.floor(gpu_count / tensor_parallel))
    if gpu_count < 1 and tensor_parallel == 1:
        return gpu_count  # a fractional GPU gets that share of the bandwidth
    raise ValueError(f"instance has {gpu_count:g} GPUs, fewer than TP {tensor_parallel}")


def estimate_throughput(
    model: str | Architecture,
    workload: Workload,
    gpu: GpuSpec,
    *,
    tensor_parallel: int = 1,
    hourly_usd: float | None = None,
    gpu_count: float | None = None,
    bandwidth_efficiency: float = BANDWIDTH_EFFICIENCY,
    compute_efficiency: float = COMPUTE_EFFICIENCY,
    params_billion: float | None = None,
    catalog: Mapping[str, Architecture] | None = None,
) -> ThroughputEstimate:
    """Estimate decode tokens/s at the workload's concurrency, and $ per 1M output tokens.

    Args:
        model: A catalog id or an explicit architecture.
        workload: An inference workload; its concurrency is the batch decoded each step.
        gpu: The accelerator; its memory bandwidth is required.
        tensor_parallel: GPUs per model replica.
        hourly_usd: Instance price per hour; with ``gpu_count`` it gives the unit cost.
        gpu_count: GPUs in the instance; it runs ``gpu_count // tensor_parallel`` replicas.
        bandwidth_efficiency: Share of peak bandwidth reached.
        compute_efficiency: Share of the dense tensor rate reached.
        params_billion: Parameter count for a model missing from the catalog.
        catalog: Architectures to look ids up in; the shipped CSV by default.

    Raises:
        ValueError: On a training task, a GPU without a bandwidth figure, a TP degree the
            heads do not split over, or an instance with fewer GPUs than ``tensor_parallel``.

    """
    if workload.task != "inference":
        raise ValueError(f"throughput is estimated for inference decode, not {workload.task}")
    if not gpu.memory_bandwidth_gbps:
        raise ValueError(f"no memory bandwidth known for GPU {gpu.gpu_model!r}")
    if tensor_parallel < 1:
        raise ValueError(f"tensor_parallel must be at least 1, got {tensor_parallel}")
    arch, notes = resolve_model(model, params_billion=params_billion, catalog=catalog)
    if not tensor_parallel_supported(arch, tensor_parallel):
        raise ValueError(
            f"tensor_parallel {tensor_parallel} does not split {arch.num_attention_heads} "
            f"attention / {arch.num_key_value_heads} KV heads"
        )
    dtype, dtype_notes = resolve_weight_dtype(workload, arch)
    kv_bytes = kv_bytes_per_element(workload, dtype)
    kv_per_sequence = (
        kv_cache_bytes_per_token(arch, kv_bytes)
        * workload.context_length
        * kv_replication(arch, tensor_parallel)
    )
    _, active_b, _ = model_params_billion(arch)
    rate = _dense_tflops(gpu, dtype)

    def step(sequences: int) -> tuple[float, float, bool]:
        weights = weight_bytes(moe_params_read_billion(arch, sequences), dtype, arch)
        per_gpu = (weights + sequences * kv_per_sequence) / tensor_parallel
        memory_s = per_gpu / (gpu.memory_bandwidth_gbps or 0.0) / GB / bandwidth_efficiency
        flops = sequences * 2 * active_b * 1e9 / tensor_parallel
        compute_s = flops / (rate * 1e12 * compute_efficiency) if rate else 0.0
        return max(memory_s, compute_s), per_gpu, compute_s > memory_s

    single_s, _, _ = step(1)
    batch = workload.concurrent_sequences
    step_s, per_gpu, compute_bound = step(batch)
    aggregate = batch / step_s
    replicas = None if gpu_count is None else _replicas(gpu_count, tensor_parallel)
    instance = None if replicas is None else aggregate * replicas
    cost = None
    if hourly_usd is not None and instance:
        cost = usd_per_million_tokens(hourly_usd, instance)

    notes = [
        *notes,
        *dtype_notes,
        f"bandwidth efficiency {bandwidth_efficiency:g} of {gpu.memory_bandwidth_gbps:g} GB/s; "
        f"compute at {compute_efficiency:g} of the dense tensor rate, 2 FLOPs per active "
        "parameter per token (attention FLOPs ignored)",
        f"every sequence reads KV for the full context_length {workload.context_length} "
        "(the end of a full sequence: conservative)",
        "tensor-parallel communication time ignored; shards read in parallel",
    ]
    if arch.is_moe:
        notes.append("MoE: one sequence reads active params; a batch, every expert it routes to")
    if rate is None:
        notes.append("no dense tensor rate known: compute bound not applied")
    if replicas is not None:
        notes.append(
            f"instance runs {replicas:g} replica(s) of {tensor_parallel} GPU(s); "
            "cost at the aggregate rate of the requested concurrency"
        )
    return ThroughputEstimate(
        model_id=arch.model_id,
        gpu_model=gpu.gpu_model,
        dtype=dtype,
        tensor_parallel=tensor_parallel,
        concurrent_sequences=batch,
        single_sequence_tokens_per_s=1 / single_s,
        tokens_per_s_per_sequence=1 / step_s,
        aggregate_tokens_per_s=aggregate,
        bytes_per_gpu_per_step=per_gpu,
        step_ms=step_s * 1e3,
        bound="compute" if compute_bound else "memory",
        replicas=replicas,
        instance_tokens_per_s=instance,
        usd_per_million_tokens=cost,
        assumptions=notes,
        formula=FORMULA,
    )
