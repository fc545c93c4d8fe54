"""The oracle's own sizing: what memory a plan's model needs, and which instances hold it.

Independent of the plan builder: ``tools.sizing`` is the reference formula, and the workload
is read from the spec with the planner's documented defaults. A model in neither catalog is
sized as the planner says it sizes one: an assumed dense decoder of the parameter count in
its id ("acme/foo-13b" → 13B), on one GPU, in a slice of at least ⌈need / 0.9⌉ GB.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from agents.schemas import WorkloadSpec
from evals.catalog import Catalog, Instance
from tools.sizing import (
    TP_DEGREES,
    Workload,
    estimate_memory,
    estimate_non_llm_memory,
    find_architecture,
    tensor_parallel_supported,
)

GPU_MEMORY_UTILIZATION = 0.9
TRAINING_CONTEXT, INFERENCE_CONTEXT, DEFAULT_FINE_TUNING = 2048, 4096, "lora"
# A parameter count in a model's name ("jailbreak-7b", "foo-1.5b"), as the planner reads one.
PARAMS_IN_NAME = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)b(?![a-z0-9])")


@dataclass(frozen=True)
class Need:
    """GPU memory a model needs: breakdown at TP 1 and per-GPU need at each usable degree."""

    model_id: str
    weights_gb: float
    kv_cache_gb: float
    total_gb: float
    per_gpu_by_tp: dict[int, float]
    gpu_floor_gb: float | None = None
    """For a model sized from its id: the GPU slice that holds it; it is not split over TP."""


def reference_workload(spec: WorkloadSpec) -> Workload:
    """Read the workload from the spec, with the defaults the planner documents."""
    training = spec.task_type in ("training", "fine_tuning")
    if spec.task_type == "fine_tuning":
        task = spec.model_needs.fine_tuning_method or DEFAULT_FINE_TUNING
    else:
        task = "training" if spec.task_type == "training" else "inference"
    scale = spec.scale
    context = scale.context_length or (
        scale.input_tokens_per_request + (scale.tokens_per_request or 256)
        if scale.input_tokens_per_request
        else (TRAINING_CONTEXT if training else INFERENCE_CONTEXT)
    )
    return Workload(
        task=task,  # type: ignore[arg-type]
        dtype=spec.precision or ("bf16" if training else "native"),
        context_length=context,
        concurrent_sequences=1 if training else sequences_held(spec),
    )


def sequences_held(spec: WorkloadSpec) -> int:
    """Sequences in flight by the planner's documented rule (Little's law on the load given).

    People or streams hold one each; a language-model request is held 2 s to its first token
    plus 50 ms per output token (256 when unsaid), any other request 0.1 s; an image 2 s; a
    volume of tokens a day is decoded at 20 tokens/s per sequence, around the clock (a batch:
    within the window it must finish in).
    """
    scale = spec.scale
    direct = scale.concurrent_sequences or scale.concurrent_users or scale.concurrent_streams
    if direct:
        return direct
    llm = spec.domain in ("llm", "multimodal", None)
    if scale.requests_per_second:
        ttft = (spec.latency.ttft_ms or 2000) / 1000
        tpot = (spec.latency.tpot_ms or 50) / 1000
        held = ttft + (scale.tokens_per_request or 256) * tpot if llm else 0.1
        return max(1, math.ceil(scale.requests_per_second * held))
    if scale.images_per_second:
        return max(1, math.ceil(scale.images_per_second * 2))
    tokens = scale.tokens_per_day
    if tokens is None and scale.documents_per_day:
        per_doc = (scale.input_tokens_per_request or 0) + (scale.tokens_per_request or 500)
        tokens = scale.documents_per_day * per_doc
    if tokens and llm:
        window = scale.batch_window_hours if spec.task_type == "batch" else None
        return max(1, math.ceil(tokens / (window * 3600 if window else 86_400) / 20))
    return 1


def params_in_name(model_id: str) -> float | None:
    """Read a parameter count in billions from a model's name ("acme/foo-13b" → 13)."""
    match = PARAMS_IN_NAME.search(model_id.split("/")[-1].lower())
    return float(match[1]) if match else None


def _need_from_params(model_id: str, workload: Workload, catalog: Catalog) -> Need | None:
    """Size a model without an architecture row: from the model catalog, else from its name."""
    model = catalog.models.get(model_id)
    if model is not None and model.params_billion:
        sized = estimate_non_llm_memory(model.params_billion, workload, model_id=model_id)
        return Need(model_id, sized.weights_gb, 0.0, sized.total_vram_gb, {1: sized.per_gpu_gb})
    params = params_in_name(model_id)
    if params is None:
        return None
    # No catalog fact to fit per TP degree: the planner sizes an assumed decoder of that size
    # on one GPU, then searches for GPUs by the whole-GB slice that holds it at 90 %.
    sized = estimate_memory(
        model_id,
        workload,
        tensor_parallel=1,
        params_billion=params,
        catalog=catalog.architectures,
    )
    floor = math.ceil(sized.per_gpu_gb / GPU_MEMORY_UTILIZATION)
    return Need(
        model_id,
        sized.weights_gb,
        sized.kv_cache_gb,
        sized.total_vram_gb,
        {1: sized.per_gpu_gb},
        gpu_floor_gb=float(floor),
    )


def searched_workload(
    spec: WorkloadSpec,
    precision: str,
    kv_cache_dtype: str,
    replicas: int,
    max_model_len: int,
    carried: tuple[int, int] | None = None,
) -> Workload:
    """Read a searched configuration's workload: its sequences per replica, typical tokens.

    The planner documents its defaults: 1,024 prompt tokens (500 for batch documents; a
    quarter of a stated context less the output when that is longer) and 256 out when unsaid,
    the KV cache budgeted at prompt + output; batch work fills each replica as memory allows.
    ``carried`` (sequences, prompt tokens) replaces the spec's load for a plan that says
    nothing carries the load as asked and shows the nearest that does.
    """
    scale = spec.scale
    output = scale.tokens_per_request or 256
    prompt = 500 if spec.task_type == "batch" else 1024
    if scale.context_length:
        prompt = max(prompt, scale.context_length // 4 - output)
    prompt = scale.input_tokens_per_request or prompt
    held = sequences_held(spec)
    if carried is not None:
        held, prompt = carried  # a plan that says it carries less than asked: what it carries
    return Workload(
        dtype=precision,
        kv_cache_dtype=kv_cache_dtype,  # type: ignore[arg-type]
        context_length=max_model_len,
        concurrent_sequences=max(1, math.ceil(held / max(replicas, 1))),
        typical_tokens=min(prompt + output, max_model_len),
    )


def reference_need(
    model_id: str, spec: WorkloadSpec, catalog: Catalog, workload: Workload | None = None
) -> Need | None:
    """Size ``model_id`` for the spec's workload; None when neither catalogs nor name can."""
    workload = workload or reference_workload(spec)
    try:
        arch = find_architecture(model_id, catalog.architectures)
        if arch is None:
            return _need_from_params(model_id, workload, catalog)
        per_gpu: dict[int, float] = {}
        for tp in TP_DEGREES:
            if workload.task == "inference" and not tensor_parallel_supported(arch, tp):
                continue
            per_gpu[tp] = estimate_memory(arch, workload, tensor_parallel=tp).per_gpu_gb
        base = estimate_memory(arch, workload, tensor_parallel=1)
    except ValueError:  # ambiguous id, or a workload the model cannot run (full FT on int4)
        return None
    return Need(model_id, base.weights_gb, base.kv_cache_gb, base.total_vram_gb, per_gpu)


def fitting_degree(
    instance: Instance, need: Need | None, min_gb_per_gpu: float | None
) -> int | None:
    """Return the smallest TP at which the instance holds the need (0 when no model is sized).

    None when it does not fit. A fractional GPU offers only its slice, at TP 1. A model sized
    from its id fits, at TP 1, any GPU whose slice reaches its floor.
    """
    if instance.gpu_memory_gb_total <= 0:
        return None
    if need is not None and need.gpu_floor_gb is not None:
        min_gb_per_gpu = max(min_gb_per_gpu or 0.0, need.gpu_floor_gb)
    per_gpu = instance.gpu_memory_gb_per_gpu
    total = instance.gpu_memory_gb_total
    slice_gb = min(per_gpu, total) if per_gpu else total
    if min_gb_per_gpu is not None and slice_gb < min_gb_per_gpu:
        return None
    if need is None:
        return 0
    if need.gpu_floor_gb is not None:
        return 1
    if instance.gpu_count >= 1:
        for tp in sorted(need.per_gpu_by_tp):
            usable = (per_gpu or 0.0) * GPU_MEMORY_UTILIZATION
            if instance.gpu_count >= tp and need.per_gpu_by_tp[tp] <= usable + 1e-9:
                return tp
        return None
    if instance.gpu_count > 0 and 1 in need.per_gpu_by_tp:
        usable = instance.gpu_memory_gb_total * GPU_MEMORY_UTILIZATION
        return 1 if need.per_gpu_by_tp[1] <= usable + 1e-9 else None
    return None
