"""Whether a model fits an instance's GPUs at some build, and if not, how far it is from fitting.

A model listed beside a plan as an alternative is worth reading only if the plan's hardware
could serve it in the same role. ``fit_on_gpus`` tries on one instance what the
configuration search (``tools.search``) tries: the published weights, fp8 where the GPU
takes it, a published AWQ int4 build; the KV cache dtypes the GPU takes; every
tensor-parallel degree the instance's GPUs allow and the heads split over. It keeps the
widest precision whose replica, at the plan's sequences per replica and context, fits 90 %
of each GPU's memory, or, when none does, the attempt that came nearest. Pure: no SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tools.architecture import TP_DEGREES, Architecture, tensor_parallel_supported
from tools.offers import QUANTIZED_BUILDS, precision_options, served_dtypes
from tools.sizing import Workload, estimate_memory
from tools.throughput import GpuSpec

GPU_MEMORY_UTILIZATION = 0.9


@dataclass(frozen=True)
class GpuFit:
    """The build that fits one instance's GPUs, or the one that came nearest to fitting."""

    fits: bool
    precision: str
    build_repo: str
    kv_cache_dtype: str
    tensor_parallel: int
    per_gpu_gb: float
    usable_gb: float
    """Memory of one GPU the engine may use (90 %), GiB."""


def fit_on_gpus(
    arch: Architecture,
    gpu: GpuSpec,
    gpus: int,
    memory_gb: float,
    *,
    context_length: int,
    sequences: int,
    typical_tokens: int | None = None,
    builds: Mapping[str, Mapping[str, str]] = QUANTIZED_BUILDS,
) -> GpuFit | None:
    """Return the widest build of ``arch`` whose replica fits ``gpus`` GPUs of ``memory_gb``.

    Precisions are tried widest first (native, fp8, int4), each with the KV cache at the
    weights' dtype before fp8, each at the smallest tensor-parallel degree first.

    Returns:
        The first attempt that fits; else the attempt needing the least memory per GPU
        (``fits`` False); None when no degree up to ``gpus`` splits the attention heads.

    """
    usable = memory_gb * GPU_MEMORY_UTILIZATION
    kv_options: list[Literal["auto", "fp8"]] = ["auto", "fp8"] if gpu.fp8_dense_tflops else ["auto"]
    nearest: GpuFit | None = None
    for precision, repo, _quantized in precision_options(arch, gpu, builds):
        for kv in kv_options:
            workload = Workload(
                dtype=precision, kv_cache_dtype=kv, context_length=context_length,
                concurrent_sequences=max(sequences, 1),
                typical_tokens=min(typical_tokens, context_length) if typical_tokens else None,
            )
            for tp in TP_DEGREES:
                if tp > gpus or not tensor_parallel_supported(arch, tp):
                    continue
                sizing = estimate_memory(arch, workload, tensor_parallel=tp)
                weights, kv_dtype = served_dtypes(gpu, sizing.dtype, sizing.kv_cache_dtype)
                attempt = GpuFit(
                    fits=sizing.per_gpu_gb <= usable, precision=weights, build_repo=repo,
                    kv_cache_dtype=kv_dtype, tensor_parallel=tp,
                    per_gpu_gb=round(sizing.per_gpu_gb, 2), usable_gb=round(usable, 2),
                )
                if attempt.fits:
                    return attempt
                if nearest is None or attempt.per_gpu_gb < nearest.per_gpu_gb:
                    nearest = attempt
    return nearest
