"""VRAM sizing for AI workloads: weights, KV cache, activations and training state.

Pure functions over pydantic models, so each figure reads as the formula behind it.
Architecture facts (the catalog row, parameter counts, which layers attend locally) live in
``tools.architecture``; this module re-exports them so existing imports keep working.

Units: every ``*_gb`` figure is in GiB (2**30 bytes), the unit GPU vendors and clouds mean
by a card's "80 GB" and the one the GPU catalog's ``memory_gb`` is in, so a need and a
capacity compare like for like (``SizingResult.unit`` says so). ``weights_bytes`` and
``kv_cache_bytes`` carry raw byte counts.

Breakdown fields are totals over the tensor-parallel group; work is assumed to shard evenly,
so ``per_gpu_gb = total_vram_gb / tensor_parallel``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.architecture import (
    DATA_DIR,
    MLA_ROPE_DIM,
    TP_DEGREES,
    Architecture,
    AttentionLayout,
    architecture_from_params,
    attention_layout,
    default_architectures,
    find_architecture,
    kv_replication,
    load_architecture,
    load_architectures_csv,
    lora_params,
    model_params_billion,
    resolve_model,
    tensor_parallel_supported,
)

__all__ = [
    "ADAPTER_BYTES", "BYTES_PER_PARAM", "DATA_DIR", "DTYPE_ALIASES", "ENGINE_OVERHEAD_GB", "GB",
    "GIB", "KV_BYTES", "MLA_ROPE_DIM", "PREFILL_CHUNK_TOKENS", "QUANTIZED", "TP_DEGREES",
    "Architecture", "AttentionLayout", "SizingResult", "Task", "VramRequirement", "Workload",
    "architecture_from_params", "attention_layout", "default_architectures",
    "estimate_memory", "estimate_non_llm_memory", "find_architecture", "kv_bytes_per_element",
    "kv_cache_bytes_per_token", "kv_replication", "load_architecture",
    "load_architectures_csv", "lora_params", "model_params_billion", "resolve_model",
    "resolve_weight_dtype", "tensor_parallel_supported", "vram_requirement", "weight_bytes",
]

GB = 10**9
GIB = 2**30
UNIT = "GiB"

Task = Literal["inference", "full", "lora", "qlora", "training"]

# Bytes per stored parameter. Quantized formats include their scales: int4 is GPTQ/AWQ with
# groups of 128 (4 bits + a 16-bit scale and a 4-bit zero per group), mxfp4 is 4 bits + an
# 8-bit scale per 32 values, nf4 is QLoRA's NormalFloat4 with double quantization
# (4 + 8/64 + 32/(64*256) bits).
BYTES_PER_PARAM: dict[str, float] = {
    "fp32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": (4 + 20 / 128) / 8,
    "mxfp4": (4 + 8 / 32) / 8,
    "nf4": (4 + 8 / 64 + 32 / (64 * 256)) / 8,
}
QUANTIZED = frozenset({"fp8", "int8", "int4", "mxfp4", "nf4"})
DTYPE_ALIASES = {
    "float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "awq": "int4", "gptq": "int4"
}
KV_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}

ENGINE_OVERHEAD_GB = 1.5  # per GPU, GiB: CUDA context (~0.5) + framework, NCCL, CUDA graphs
PREFILL_CHUNK_TOKENS = 8192  # vLLM's default chunked-prefill budget bounds one step's activations
ADAPTER_BYTES = 16  # PEFT keeps adapters in fp32: weight 4 + grad 4 + Adam m, v 8
NON_LLM_FACTOR = 1.2  # the hf_models.csv rule of thumb for pipelines without an architecture row
# Adam under mixed precision: bf16 weights and grads, fp32 m and v, fp32 master weights.
FULL_FT_BYTES = {"weights": 2, "gradients": 2, "optimizer": 4 + 4 + 4}
FULL_FT_FP32_BYTES = {"weights": 4, "gradients": 4, "optimizer": 4 + 4}  # no master copy needed


class Workload(BaseModel):
    """What will run: the task, precision, context per sequence and sequences at once.

    ``context_length`` is the longest sequence served (vLLM's max_model_len);
    ``typical_tokens`` what a sequence usually holds. The KV cache is budgeted at the typical
    length for every sequence, and never below one sequence at full context, which the engine
    must hold to start. For training tasks ``concurrent_sequences`` is the micro-batch each
    GPU processes.
    ``dtype="native"`` takes the dtype the weights are published in.
    """

    model_config = ConfigDict(frozen=True)

    task: Task = "inference"
    dtype: str = "native"
    kv_cache_dtype: Literal["auto", "fp32", "bf16", "fp16", "fp8"] = "auto"
    context_length: int = Field(default=4096, gt=0)
    concurrent_sequences: int = Field(default=1, gt=0)
    lora_rank: int = Field(default=16, gt=0)
    typical_tokens: int | None = Field(
        default=None,
        gt=0,
        description="tokens a sequence typically holds (prompt + output), the KV budget per "
        "sequence; None budgets every sequence at context_length (the worst case)",
    )

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        name = DTYPE_ALIASES.get(value.strip().lower(), value.strip().lower())
        if name != "native" and name not in BYTES_PER_PARAM:
            known = ", ".join([*BYTES_PER_PARAM, "native"])
            raise ValueError(f"unknown dtype {value!r}; expected one of: {known}")
        return name


class SizingResult(BaseModel):
    """Memory needed by a workload, its breakdown, and the tensor-parallel degree chosen."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    model_id: str | None
    task: Task
    dtype: str = Field(description="weight storage format after resolving 'native'")
    kv_cache_dtype: str
    params_billion: float
    total_vram_gb: float
    weights_gb: float
    kv_cache_gb: float
    activations_gb: float
    overhead_gb: float
    gradients_gb: float
    optimizer_gb: float
    weights_bytes: int
    kv_cache_bytes: int
    kv_cache_bytes_per_token: int = Field(
        description="one token of one sequence on every layer, before any sliding window"
    )
    kv_tokens_per_sequence: int = Field(description="tokens each sequence's KV is budgeted at")
    kv_cache_worst_case_gb: float = Field(
        description="KV cache with every sequence at full context_length, GiB"
    )
    unit: str = Field(default=UNIT, description="unit of every *_gb field: GiB (2**30 bytes)")
    tensor_parallel: int
    per_gpu_gb: float
    gpu_memory_gb: float | None
    gpu_memory_utilization: float
    fits: bool | None = Field(description="None when no GPU capacity was given")
    assumptions: list[str]
    formula: str


class VramRequirement(NamedTuple):
    """VRAM a workload needs at one tensor-parallel degree, in GiB."""

    total_vram_gb: float
    per_gpu_gb: float

    def min_gpu_memory_gb(self, gpu_memory_utilization: float = 0.9) -> float:
        """Return the smallest GPU capacity whose usable share holds ``per_gpu_gb``."""
        return self.per_gpu_gb / gpu_memory_utilization


def weight_bytes(params_billion: float, dtype: str, arch: Architecture | None = None) -> float:
    """Return the bytes that ``params_billion`` parameters take when stored as ``dtype``.

    Quantized formats cover the linear layers only: as in vLLM, AWQ/GPTQ and bitsandbytes,
    the embeddings and an untied LM head stay 16-bit.
    """
    params = params_billion * 1e9
    if dtype not in QUANTIZED or arch is None or arch.vocab_size is None:
        return params * BYTES_PER_PARAM[dtype]
    tables = 1 if arch.tie_word_embeddings else 2
    embeddings = min(params, arch.vocab_size * arch.hidden_size * tables)
    return (params - embeddings) * BYTES_PER_PARAM[dtype] + embeddings * 2


def resolve_weight_dtype(workload: Workload, arch: Architecture) -> tuple[str, list[str]]:
    """Return the weight storage format the workload implies, with any substitution made.

    Raises:
        ValueError: If full or LoRA fine-tuning is asked for on quantized weights.

    """
    if workload.task == "qlora":
        return "nf4", ["QLoRA base weights in NF4 with double quantization, whatever the dtype"]
    dtype = workload.dtype
    if dtype == "native":
        dtype = DTYPE_ALIASES.get(arch.native_dtype.lower(), arch.native_dtype.lower())
        if dtype not in BYTES_PER_PARAM:
            return "bf16", [f"native dtype {arch.native_dtype!r} unknown; assumed bf16"]
    if workload.task != "inference" and dtype in QUANTIZED:
        if workload.dtype == "native":
            return "bf16", [f"native {dtype} weights upcast to bf16 for training"]
        raise ValueError(
            f"task {workload.task!r} needs fp32, bf16 or fp16 weights, got {dtype}; "
            "use task='qlora' for a 4-bit base"
        )
    return dtype, []


def kv_bytes_per_element(workload: Workload, weight_dtype: str) -> int:
    """Return bytes per KV element; "auto" follows the compute dtype, not the weight format."""
    if workload.kv_cache_dtype != "auto":
        return KV_BYTES[workload.kv_cache_dtype]
    return 4 if weight_dtype == "fp32" else 2


def kv_cache_bytes_per_token(arch: Architecture, kv_bytes: int) -> int:
    """Return KV bytes for one token of one sequence over all layers.

    Standard and grouped-query attention store K and V per KV head:
    2 × layers × kv_heads × head_dim × bytes. MLA stores one compressed latent plus the
    decoupled RoPE key: layers × (kv_lora_rank + 64) × bytes.
    """
    if arch.kv_lora_rank is not None:
        return arch.num_hidden_layers * (arch.kv_lora_rank + MLA_ROPE_DIM) * kv_bytes
    return 2 * arch.num_hidden_layers * arch.num_key_value_heads * arch.head_dim * kv_bytes


def kv_tokens_per_sequence(workload: Workload) -> int:
    """Return the tokens each sequence's KV is budgeted at: typical, capped at the context."""
    if workload.typical_tokens is None:
        return workload.context_length
    return min(workload.typical_tokens, workload.context_length)


def kv_cache_bytes(
    arch: Architecture, kv_bytes: int, tokens: int, sequences: int, tensor_parallel: int
) -> float:
    """Return KV bytes over the TP group for ``sequences`` sequences of ``tokens`` tokens.

    Local (sliding-window or chunked) layers hold at most their window per sequence, as
    vLLM's hybrid KV cache manager allocates them; global layers hold every token.
    """
    per_layer_token = kv_cache_bytes_per_token(arch, kv_bytes) / arch.num_hidden_layers
    held = attention_layout(arch).kv_tokens(tokens)
    return per_layer_token * held * sequences * kv_replication(arch, tensor_parallel)


def _inference_kv(arch: Architecture, workload: Workload, kv_bytes: int, tp: int) -> float:
    typical = kv_tokens_per_sequence(workload)
    budget = kv_cache_bytes(arch, kv_bytes, typical, workload.concurrent_sequences, tp)
    # The engine refuses to start unless one sequence at max_model_len fits.
    return max(budget, kv_cache_bytes(arch, kv_bytes, workload.context_length, 1, tp))


@dataclass(frozen=True)
class _Terms:
    """Byte totals over the tensor-parallel group."""

    weights: float
    kv_cache: float = 0.0
    activations: float = 0.0
    overhead: float = 0.0
    gradients: float = 0.0
    optimizer: float = 0.0

    @property
    def total(self) -> float:
        return (
            self.weights + self.kv_cache + self.activations + self.overhead
            + self.gradients + self.optimizer
        )


def _terms(arch: Architecture, workload: Workload, dtype: str, kv_bytes: int, tp: int) -> _Terms:
    total_b, _, _ = model_params_billion(arch)
    h, layers = arch.hidden_size, arch.num_hidden_layers
    act_bytes = 4 if dtype == "fp32" else 2  # quantized weights still compute in 16-bit
    overhead = ENGINE_OVERHEAD_GB * GIB * tp
    tokens = workload.context_length * workload.concurrent_sequences
    if workload.task == "inference":
        kv = _inference_kv(arch, workload, kv_bytes, tp)
        tokens = kv_tokens_per_sequence(workload) * workload.concurrent_sequences
        # One layer's hidden states and MLP intermediates for one prefill chunk are live at
        # a time; the MLP width shards over TP, the hidden states do not.
        chunk = min(tokens, PREFILL_CHUNK_TOKENS)
        inter = arch.intermediate_size or 4 * h
        per_rank = chunk * (2 * h + 2 * math.ceil(inter / tp)) * act_bytes
        weights = weight_bytes(total_b, dtype, arch)
        return _Terms(weights=weights, kv_cache=kv, activations=per_rank * tp, overhead=overhead)
    # Training keeps one hidden state per layer boundary (gradient checkpointing) and the
    # fp32 logits for the loss; each rank runs its own micro-batch, so nothing shards.
    per_rank = 2 * h * layers * act_bytes * tokens + tokens * (arch.vocab_size or 0) * 4
    activations = per_rank * tp
    if workload.task in ("full", "training"):
        table = FULL_FT_FP32_BYTES if dtype == "fp32" else FULL_FT_BYTES
        params = total_b * 1e9
        return _Terms(
            weights=params * table["weights"],
            gradients=params * table["gradients"],
            optimizer=params * table["optimizer"],
            activations=activations,
            overhead=overhead,
        )
    adapters = lora_params(arch, workload.lora_rank)
    return _Terms(  # ADAPTER_BYTES split as fp32 weight, fp32 grad, two fp32 Adam moments
        weights=weight_bytes(total_b, dtype, arch) + adapters * 4,
        gradients=adapters * 4,
        optimizer=adapters * 8,
        activations=activations,
        overhead=overhead,
    )


def _notes(arch: Architecture, workload: Workload, dtype: str, kv_bytes: int, tp: int) -> list[str]:
    total_b, _, _ = model_params_billion(arch)
    notes = [
        f"weights: {total_b:g}B params × {BYTES_PER_PARAM[dtype]:.4g} bytes/param ({dtype})",
        f"overhead: {ENGINE_OVERHEAD_GB} GiB per GPU for CUDA context, framework and graphs",
        "every figure in GiB (2**30 bytes), as GPU capacities are quoted by vendors and clouds",
    ]
    if dtype in QUANTIZED and arch.vocab_size is not None:
        notes.append(f"{dtype}: linear layers quantized; embeddings and LM head kept 16-bit")
    if workload.task == "inference":
        typical = kv_tokens_per_sequence(workload)
        if typical < workload.context_length:
            notes.append(
                f"KV cache budgeted at the typical {typical} tokens × "
                f"{workload.concurrent_sequences} sequences (at least one sequence at the full "
                f"{workload.context_length}), {kv_bytes} bytes/element; worst case, every "
                "sequence at full context, in kv_cache_worst_case_gb"
            )
        else:
            notes.append(
                f"KV cache: {workload.context_length} tokens × {workload.concurrent_sequences} "
                f"sequences at {kv_bytes} bytes/element (every sequence at full context)"
            )
        if arch.kv_lora_rank is not None:
            notes.append(
                f"MLA: KV per token per layer = (kv_lora_rank {arch.kv_lora_rank} + rope "
                f"{MLA_ROPE_DIM}) × bytes, one latent not split by TP: each rank holds it all"
            )
        elif kv_replication(arch, tp) > 1:
            notes.append(f"{arch.num_key_value_heads} KV heads < TP {tp}: KV heads replicated")
        layout = attention_layout(arch)
        if layout.local_layers:
            notes.append(
                f"local attention: {layout.local_layers} of {arch.num_hidden_layers} layers "
                f"hold at most {layout.window} tokens per sequence (sliding window or chunk, "
                f"as vLLM allocates them); {layout.global_layers} global layers hold them all"
            )
        notes.append(
            f"activations: min(tokens, {PREFILL_CHUNK_TOKENS}) prefill tokens × "
            "(2·hidden + 2·intermediate/TP) × bytes, one layer live at a time"
        )
        notes.append("TP must divide the attention heads; KV heads must divide or be divided by TP")
    else:
        notes.append(
            "activations: gradient checkpointing, 2·hidden·layers·2 bytes per token plus fp32 "
            "logits (vocab·4 bytes per token); one layer's recompute workspace not counted"
        )
        notes.append(
            f"{tp} GPU(s) shard weights, gradients and optimizer evenly (FSDP / ZeRO-3), each "
            f"running a micro-batch of {workload.concurrent_sequences} sequence(s)"
        )
    if workload.task in ("full", "training"):
        notes.append(
            "Adam, mixed precision: bf16 weights 2 + bf16 grads 2 + fp32 m, v 8 + fp32 master "
            "4 = 16 bytes/param (fp32 training: 4 + 4 + 8, no master copy)"
        )
    elif workload.task in ("lora", "qlora"):
        adapters = lora_params(arch, workload.lora_rank)
        targets = "q,k,v,o" if arch.is_moe else "q,k,v,o,gate,up,down"
        notes.append(
            f"LoRA rank {workload.lora_rank} on {targets}: {adapters / 1e6:.1f}M params "
            f"({adapters / (total_b * 1e9):.2%} of base), fp32 with grads and Adam = "
            f"{ADAPTER_BYTES} bytes each; base frozen"
        )
    max_context = arch.max_position_embeddings
    if max_context and workload.context_length > max_context:
        notes.append(f"context_length exceeds max_position_embeddings {max_context}")
    return notes


def _formula(arch: Architecture, workload: Workload) -> str:
    if workload.task != "inference":
        return (
            "total = weights + gradients + optimizer + activations + overhead; "
            "per_gpu = total / gpus; fits = per_gpu ≤ gpu_memory_gb × gpu_memory_utilization, "
            "all in GiB"
        )
    kv = (
        "layers × (kv_lora_rank + 64) × kv_bytes"
        if arch.kv_lora_rank is not None
        else "2 × layers × kv_heads × head_dim × kv_bytes"
    )
    return (
        "total = weights + kv_cache + activations + overhead; weights = params × bytes/param; "
        f"kv_cache = {kv} / layers × (global_layers × tokens + local_layers × min(tokens, "
        "window)) × sequences, tokens = typical tokens per sequence (≥ one full-context "
        "sequence); per_gpu = total / tensor_parallel; "
        "fits = per_gpu ≤ gpu_memory_gb × gpu_memory_utilization, all in GiB"
    )


def _kv_dtype_name(workload: Workload, dtype: str, kv_bytes: int) -> str:
    if workload.kv_cache_dtype != "auto":
        return workload.kv_cache_dtype
    return "fp32" if kv_bytes == 4 else "fp16" if dtype == "fp16" else "bf16"


def _usable_bytes(gpu_memory_gb: float | None, gpu_memory_utilization: float) -> float | None:
    if not 0 < gpu_memory_utilization <= 1:
        raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
    return None if gpu_memory_gb is None else gpu_memory_gb * gpu_memory_utilization * GIB


def _result(terms: _Terms, tp: int, usable: float | None, **fields: Any) -> SizingResult:
    per_gpu = terms.total / tp
    return SizingResult(
        total_vram_gb=terms.total / GIB,
        weights_gb=terms.weights / GIB,
        kv_cache_gb=terms.kv_cache / GIB,
        activations_gb=terms.activations / GIB,
        overhead_gb=terms.overhead / GIB,
        gradients_gb=terms.gradients / GIB,
        optimizer_gb=terms.optimizer / GIB,
        weights_bytes=round(terms.weights),
        kv_cache_bytes=round(terms.kv_cache),
        tensor_parallel=tp,
        per_gpu_gb=per_gpu / GIB,
        fits=None if usable is None else per_gpu <= usable,
        **fields,
    )


def estimate_memory(
    model: str | Architecture,
    workload: Workload,
    *,
    gpu_memory_gb: float | None = None,
    gpu_memory_utilization: float = 0.9,
    tensor_parallel: int | None = None,
    params_billion: float | None = None,
    catalog: Mapping[str, Architecture] | None = None,
) -> SizingResult:
    """Size a workload and pick the smallest TP degree in {1, 2, 4, 8} that fits.

    Args:
        model: A catalog id (org prefix optional) or an explicit architecture.
        workload: Task, dtype, context and concurrency.
        gpu_memory_gb: Capacity of one GPU; without it ``fits`` is None and TP defaults to 1.
        gpu_memory_utilization: Share of each GPU the engine may use (vLLM's knob).
        tensor_parallel: Force this degree instead of searching.
        params_billion: Parameter count for a model missing from the catalog.
        catalog: Architectures to look ids up in; the shipped CSV by default.

    Returns:
        The sizing at the smallest degree that fits, or at the largest one tried (with
        ``fits`` False) when none does.

    Raises:
        ValueError: On an unknown model without ``params_billion``, a utilization outside
            (0, 1], or a TP degree the attention heads do not split over.

    """
    usable = _usable_bytes(gpu_memory_gb, gpu_memory_utilization)
    arch, notes = resolve_model(model, params_billion=params_billion, catalog=catalog)
    dtype, dtype_notes = resolve_weight_dtype(workload, arch)
    kv_bytes = kv_bytes_per_element(workload, dtype)
    inference = workload.task == "inference"
    if tensor_parallel is not None:
        splits = not inference or tensor_parallel_supported(arch, tensor_parallel)
        if tensor_parallel < 1 or not splits:
            raise ValueError(
                f"tensor_parallel {tensor_parallel} does not split {arch.num_attention_heads} "
                f"attention / {arch.num_key_value_heads} KV heads"
            )
        degrees = [tensor_parallel]
    elif usable is None:
        degrees = [1]
    else:
        degrees = [tp for tp in TP_DEGREES if not inference or tensor_parallel_supported(arch, tp)]
    for tp in degrees:
        terms = _terms(arch, workload, dtype, kv_bytes, tp)
        if usable is not None and terms.total / tp <= usable:
            break
    total_b, _, count_notes = model_params_billion(arch)
    return _result(
        terms,
        tp,
        usable,
        model_id=arch.model_id,
        task=workload.task,
        dtype=dtype,
        kv_cache_dtype=_kv_dtype_name(workload, dtype, kv_bytes),
        params_billion=total_b,
        kv_cache_bytes_per_token=kv_cache_bytes_per_token(arch, kv_bytes),
        kv_tokens_per_sequence=kv_tokens_per_sequence(workload) if inference else 0,
        kv_cache_worst_case_gb=(
            kv_cache_bytes(arch, kv_bytes, workload.context_length,
                           workload.concurrent_sequences, tp) / GIB
            if inference else 0.0
        ),
        gpu_memory_gb=gpu_memory_gb,
        gpu_memory_utilization=gpu_memory_utilization,
        assumptions=[
            *notes, *count_notes, *dtype_notes, *_notes(arch, workload, dtype, kv_bytes, tp)
        ],
        formula=_formula(arch, workload),
    )


def vram_requirement(
    model: str | Architecture,
    workload: Workload,
    tensor_parallel: int = 1,
    *,
    params_billion: float | None = None,
    catalog: Mapping[str, Architecture] | None = None,
) -> VramRequirement:
    """Return (total_vram_gb, per_gpu_gb) at one TP degree, for filtering instances.

    An instance qualifies when it has ``tensor_parallel`` GPUs each of at least
    ``requirement.min_gpu_memory_gb(gpu_memory_utilization)`` GiB.
    """
    result = estimate_memory(
        model,
        workload,
        tensor_parallel=tensor_parallel,
        params_billion=params_billion,
        catalog=catalog,
    )
    return VramRequirement(result.total_vram_gb, result.per_gpu_gb)


def estimate_non_llm_memory(
    params_billion: float,
    workload: Workload,
    *,
    model_id: str | None = None,
    gpu_memory_gb: float | None = None,
    gpu_memory_utilization: float = 0.9,
) -> SizingResult:
    """Size a model without an architecture row (diffusion, vision, speech) from its params.

    Applies the catalog's rule, params × bytes/param × 1.2, on one GPU; the 20 % stands for
    activations, workspace and runtime. Full training counts 16 bytes/param (Adam, mixed
    precision) before the factor; LoRA counts the frozen base, QLoRA an NF4 one.
    """
    if params_billion <= 0:
        raise ValueError(f"params_billion must be positive, got {params_billion}")
    usable = _usable_bytes(gpu_memory_gb, gpu_memory_utilization)
    full = workload.task in ("full", "training")
    if workload.task == "qlora":
        dtype = "nf4"
    elif full or workload.dtype == "native":
        dtype = "bf16"
    else:
        dtype = workload.dtype
    params = params_billion * 1e9
    table = FULL_FT_BYTES if full else {"weights": BYTES_PER_PARAM[dtype]}
    base = _Terms(**{name: params * per_param for name, per_param in table.items()})
    terms = _Terms(
        weights=base.weights,
        gradients=base.gradients,
        optimizer=base.optimizer,
        activations=base.total * (NON_LLM_FACTOR - 1),
    )
    notes = [
        f"no architecture row: {params_billion:g}B params × {table['weights']:g} bytes/param "
        f"({dtype}), × {NON_LLM_FACTOR} for activations, workspace and runtime; one GPU, "
        "no tensor parallelism"
    ]
    if full:
        notes.append("Adam, mixed precision: weights 2 + grads 2 + fp32 m, v, master 12 B/param")
    return _result(
        terms,
        1,
        usable,
        model_id=model_id,
        task=workload.task,
        dtype=dtype,
        kv_cache_dtype="none",
        params_billion=params_billion,
        kv_cache_bytes_per_token=0,
        kv_tokens_per_sequence=0,
        kv_cache_worst_case_gb=0.0,
        gpu_memory_gb=gpu_memory_gb,
        gpu_memory_utilization=gpu_memory_utilization,
        assumptions=notes,
        formula=f"total = params × bytes/param × {NON_LLM_FACTOR}",
    )
