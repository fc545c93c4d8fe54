"""VRAM sizing for AI workloads: weights, KV cache, activations and training state.

Pure functions over pydantic models, so each figure reads as the formula behind it.

Units: every ``*_gb`` figure is in GB (10**9 bytes); ``weights_bytes`` and ``kv_cache_bytes``
carry the raw counts for callers that want GiB (2**30 bytes, what nvidia-smi and vLLM logs
show). GPU capacities are compared as given: a vendor "80 GB" H100 holds 80 GiB (85.9e9
bytes), so reading its label as 80e9 bytes leaves a little unclaimed headroom.

Breakdown fields are totals over the tensor-parallel group; work is assumed to shard evenly,
so ``per_gpu_gb = total_vram_gb / tensor_parallel``.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from psycopg import AsyncConnection

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
GB = 10**9
GIB = 2**30

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

TP_DEGREES = (1, 2, 4, 8)
ENGINE_OVERHEAD_GB = 1.5  # per GPU: CUDA context (~0.5 GB) + framework, NCCL and CUDA-graph pools
PREFILL_CHUNK_TOKENS = 8192  # vLLM's default chunked-prefill budget bounds one step's activations
MLA_ROPE_DIM = 64  # DeepSeek-V2/V3 and Kimi-K2 keep 64 decoupled RoPE dims next to the latent
ADAPTER_BYTES = 16  # PEFT keeps adapters in fp32: weight 4 + grad 4 + Adam m, v 8
NON_LLM_FACTOR = 1.2  # the hf_models.csv rule of thumb for pipelines without an architecture row
# Adam under mixed precision: bf16 weights and grads, fp32 m and v, fp32 master weights.
FULL_FT_BYTES = {"weights": 2, "gradients": 2, "optimizer": 4 + 4 + 4}
FULL_FT_FP32_BYTES = {"weights": 4, "gradients": 4, "optimizer": 4 + 4}  # no master copy needed


class Architecture(BaseModel):
    """Transformer facts for one LLM, named as the ``llm_architectures`` catalog columns."""

    model_config = ConfigDict(frozen=True, extra="ignore", protected_namespaces=())

    model_id: str | None = None
    num_hidden_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    intermediate_size: int | None = Field(default=None, gt=0)
    num_attention_heads: int = Field(gt=0)
    num_key_value_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    vocab_size: int | None = Field(default=None, gt=0)
    max_position_embeddings: int | None = None
    tie_word_embeddings: bool | None = None
    is_moe: bool = False
    num_experts: int | None = Field(default=None, gt=0)
    num_experts_per_tok: int | None = Field(default=None, gt=0)
    params_billion_total: float | None = Field(default=None, gt=0)
    params_billion_active: float | None = Field(default=None, gt=0)
    native_dtype: str = "bf16"
    sliding_window: int | None = None
    kv_lora_rank: int | None = Field(default=None, gt=0)


class Workload(BaseModel):
    """What will run: the task, precision, context per sequence and sequences at once.

    For training tasks ``concurrent_sequences`` is the micro-batch each GPU processes.
    ``dtype="native"`` takes the dtype the weights are published in.
    """

    model_config = ConfigDict(frozen=True)

    task: Task = "inference"
    dtype: str = "native"
    kv_cache_dtype: Literal["auto", "fp32", "bf16", "fp16", "fp8"] = "auto"
    context_length: int = Field(default=4096, gt=0)
    concurrent_sequences: int = Field(default=1, gt=0)
    lora_rank: int = Field(default=16, gt=0)

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
    kv_cache_bytes_per_token: int = Field(description="one token of one sequence, all layers")
    tensor_parallel: int
    per_gpu_gb: float
    gpu_memory_gb: float | None
    gpu_memory_utilization: float
    fits: bool | None = Field(description="None when no GPU capacity was given")
    assumptions: list[str]
    formula: str


class VramRequirement(NamedTuple):
    """VRAM a workload needs at one tensor-parallel degree, in GB."""

    total_vram_gb: float
    per_gpu_gb: float

    def min_gpu_memory_gb(self, gpu_memory_utilization: float = 0.9) -> float:
        """Return the smallest GPU capacity whose usable share holds ``per_gpu_gb``."""
        return self.per_gpu_gb / gpu_memory_utilization


def _row_to_architecture(row: Mapping[str, Any]) -> Architecture:
    # Blank CSV cells and SQL NULLs both mean "not given", so the model's defaults apply.
    return Architecture.model_validate({k: v for k, v in row.items() if v not in (None, "")})


def load_architectures_csv(
    path: Path = DATA_DIR / "llm_architectures.csv",
) -> dict[str, Architecture]:
    """Read the architecture catalog CSV into models keyed by ``model_id``."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["model_id"]: _row_to_architecture(row) for row in csv.DictReader(handle)}


@functools.cache
def default_architectures() -> Mapping[str, Architecture]:
    """Return the shipped architecture catalog, read once and read-only."""
    return MappingProxyType(load_architectures_csv())


def find_architecture(model_id: str, catalog: Mapping[str, Architecture]) -> Architecture | None:
    """Find a model in ``catalog`` by id, case-insensitively.

    An id without an org prefix matches on the name alone ("Llama-3.1-8B-Instruct"), and a
    base name falls back to its "-Instruct" row, which shares the architecture.

    Raises:
        ValueError: If a bare name matches rows of several orgs.

    """
    wanted = model_id.strip().lower()
    keys = {key.lower(): key for key in catalog}
    candidates = [wanted] if wanted.endswith("-instruct") else [wanted, f"{wanted}-instruct"]
    for candidate in candidates:
        if candidate in keys:
            return catalog[keys[candidate]]
        if "/" in candidate:
            continue
        hits = sorted(key for low, key in keys.items() if low.rsplit("/", 1)[-1] == candidate)
        if len(hits) > 1:
            raise ValueError(f"model {model_id!r} is ambiguous; give the org: {', '.join(hits)}")
        if hits:
            return catalog[hits[0]]
    return None


_ARCHITECTURE_SQL = """
select model_id, num_hidden_layers, hidden_size, intermediate_size, num_attention_heads,
       num_key_value_heads, head_dim, vocab_size, max_position_embeddings, tie_word_embeddings,
       is_moe, num_experts, num_experts_per_tok, params_billion_total, params_billion_active,
       native_dtype, sliding_window, kv_lora_rank
from hf.architectures
where lower(model_id) = any(%s) or lower(split_part(model_id, '/', 2)) = any(%s)
"""


async def load_architecture(conn: AsyncConnection[Any], model_id: str) -> Architecture | None:
    """Load one model's architecture from ``hf.architectures``, matched as ``find_architecture``."""
    wanted = model_id.strip().lower()
    candidates = [wanted, f"{wanted}-instruct"]
    cursor = await conn.execute(_ARCHITECTURE_SQL, (candidates, candidates))
    rows = await cursor.fetchall()
    return find_architecture(model_id, {row["model_id"]: _row_to_architecture(row) for row in rows})


def architecture_from_params(params_billion: float) -> tuple[Architecture, str]:
    """Derive a typical dense decoder shape from a parameter count, and say how.

    Uses params ≈ 12 · layers · hidden² with hidden ≈ 128 · layers (the Llama family's
    aspect ratio), hidden rounded to a multiple of 1024 so heads split over TP 8.
    """
    if params_billion <= 0:
        raise ValueError(f"params_billion must be positive, got {params_billion}")
    params = params_billion * 1e9
    hidden = max(1024, round((params * 128 / 12) ** (1 / 3) / 1024) * 1024)
    layers = max(1, round(params / (12 * hidden**2)))
    arch = Architecture(
        num_hidden_layers=layers,
        hidden_size=hidden,
        intermediate_size=round(3.5 * hidden),
        num_attention_heads=hidden // 128,
        num_key_value_heads=8,
        head_dim=128,
        params_billion_total=params_billion,
        params_billion_active=params_billion,
    )
    note = (
        f"architecture unknown: assumed a Llama-style dense decoder of {params_billion:g}B params "
        f"(params ≈ 12·layers·hidden², hidden ≈ 128·layers → {layers} layers, hidden {hidden}, "
        "head_dim 128, 8 KV heads (GQA), intermediate 3.5·hidden, bf16); KV and activations "
        "follow this guessed shape"
    )
    return arch, note


def resolve_model(
    model: str | Architecture,
    *,
    params_billion: float | None = None,
    catalog: Mapping[str, Architecture] | None = None,
) -> tuple[Architecture, list[str]]:
    """Turn a catalog id, an explicit architecture or a bare parameter count into an architecture.

    Raises:
        ValueError: If ``model`` is not in the catalog and no ``params_billion`` is given.

    """
    if isinstance(model, Architecture):
        return model, []
    found = find_architecture(model, default_architectures() if catalog is None else catalog)
    if found is not None:
        same = (found.model_id or "").lower() == model.strip().lower()
        return found, [] if same else [f"{model!r} matched catalog row {found.model_id!r}"]
    if params_billion is None:
        raise ValueError(
            f"unknown model {model!r}: not in the architecture catalog; "
            "pass params_billion or an explicit Architecture"
        )
    arch, note = architecture_from_params(params_billion)
    return arch.model_copy(update={"model_id": model}), [note]


def model_params_billion(arch: Architecture) -> tuple[float, float, list[str]]:
    """Return (total, active) parameters in billions, counted from the dims when not given."""
    if arch.params_billion_total is not None:
        total = arch.params_billion_total
        return total, arch.params_billion_active or total, []
    h, layers = arch.hidden_size, arch.num_hidden_layers
    inter = arch.intermediate_size or 4 * h
    attention = 2 * h * arch.num_attention_heads * arch.head_dim
    attention += 2 * h * arch.num_key_value_heads * arch.head_dim
    embeddings = (arch.vocab_size or 0) * h * (1 if arch.tie_word_embeddings else 2)
    experts = arch.num_experts or 1
    top_k = arch.num_experts_per_tok or 1
    total = embeddings + layers * (attention + experts * 3 * h * inter)
    active = embeddings + layers * (attention + top_k * 3 * h * inter)
    note = "parameter count derived from the dims assuming a gated (3-matrix) MLP"
    return total / 1e9, active / 1e9, [note]


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


def kv_replication(arch: Architecture, tensor_parallel: int) -> float:
    """Return how many copies of the KV cache a TP group stores in all.

    KV heads split across ranks; with fewer KV heads than ranks each head is copied. The MLA
    latent is not split by head, so every rank holds all of it (vLLM's behaviour).
    """
    if arch.kv_lora_rank is not None:
        return float(tensor_parallel)
    kv_heads = arch.num_key_value_heads
    return math.ceil(kv_heads / tensor_parallel) * tensor_parallel / kv_heads


def tensor_parallel_supported(arch: Architecture, tensor_parallel: int) -> bool:
    """Return whether attention splits over ``tensor_parallel`` ranks (vLLM's divisibility rule)."""
    if arch.num_attention_heads % tensor_parallel:
        return False
    kv_heads = arch.num_key_value_heads
    split = kv_heads % tensor_parallel == 0 or tensor_parallel % kv_heads == 0
    return arch.kv_lora_rank is not None or split


def lora_params(arch: Architecture, rank: int) -> int:
    """Return adapter parameters for rank-``rank`` LoRA: r × (fan_in + fan_out) per matrix.

    Targets q, k, v, o and, for dense models, gate, up and down; MoE experts stay frozen.
    """
    h, q_width = arch.hidden_size, arch.num_attention_heads * arch.head_dim
    kv_width = arch.num_key_value_heads * arch.head_dim
    per_layer = 2 * (h + q_width) + 2 * (h + kv_width)
    if not arch.is_moe:
        per_layer += 3 * (h + (arch.intermediate_size or 4 * h))
    return rank * per_layer * arch.num_hidden_layers


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
    overhead = ENGINE_OVERHEAD_GB * GB * tp
    tokens = workload.context_length * workload.concurrent_sequences
    if workload.task == "inference":
        kv = kv_cache_bytes_per_token(arch, kv_bytes) * tokens * kv_replication(arch, tp)
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
        f"overhead: {ENGINE_OVERHEAD_GB} GB per GPU for CUDA context, framework and graphs",
        "GB = 1e9 bytes; GPU capacity compared as given (vendor labels are GiB: conservative)",
    ]
    if dtype in QUANTIZED and arch.vocab_size is not None:
        notes.append(f"{dtype}: linear layers quantized; embeddings and LM head kept 16-bit")
    if workload.task == "inference":
        notes.append(
            f"KV cache: {workload.context_length} tokens × {workload.concurrent_sequences} "
            f"sequences on every layer at {kv_bytes} bytes/element"
        )
        if arch.kv_lora_rank is not None:
            notes.append(
                f"MLA: KV per token per layer = (kv_lora_rank {arch.kv_lora_rank} + rope "
                f"{MLA_ROPE_DIM}) × bytes, one latent not split by TP: each rank holds it all"
            )
        elif kv_replication(arch, tp) > 1:
            notes.append(f"{arch.num_key_value_heads} KV heads < TP {tp}: KV heads replicated")
        if arch.sliding_window:
            notes.append(
                f"sliding window {arch.sliding_window} not credited: which layers use it is not "
                "in the catalog, so KV is counted at full context (conservative)"
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
            "per_gpu = total / gpus; fits = per_gpu ≤ gpu_memory_gb × gpu_memory_utilization"
        )
    kv = (
        "layers × (kv_lora_rank + 64) × kv_bytes"
        if arch.kv_lora_rank is not None
        else "2 × layers × kv_heads × head_dim × kv_bytes"
    )
    return (
        "total = weights + kv_cache + activations + overhead; weights = params × bytes/param; "
        f"kv_cache = {kv} × context_length × sequences; per_gpu = total / tensor_parallel; "
        "fits = per_gpu ≤ gpu_memory_gb × gpu_memory_utilization"
    )


def _kv_dtype_name(workload: Workload, dtype: str, kv_bytes: int) -> str:
    if workload.kv_cache_dtype != "auto":
        return workload.kv_cache_dtype
    return "fp32" if kv_bytes == 4 else "fp16" if dtype == "fp16" else "bf16"


def _usable_bytes(gpu_memory_gb: float | None, gpu_memory_utilization: float) -> float | None:
    if not 0 < gpu_memory_utilization <= 1:
        raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
    return None if gpu_memory_gb is None else gpu_memory_gb * gpu_memory_utilization * GB


def _result(terms: _Terms, tp: int, usable: float | None, **fields: Any) -> SizingResult:
    per_gpu = terms.total / tp
    return SizingResult(
        total_vram_gb=terms.total / GB,
        weights_gb=terms.weights / GB,
        kv_cache_gb=terms.kv_cache / GB,
        activations_gb=terms.activations / GB,
        overhead_gb=terms.overhead / GB,
        gradients_gb=terms.gradients / GB,
        optimizer_gb=terms.optimizer / GB,
        weights_bytes=round(terms.weights),
        kv_cache_bytes=round(terms.kv_cache),
        tensor_parallel=tp,
        per_gpu_gb=per_gpu / GB,
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
    ``requirement.min_gpu_memory_gb(gpu_memory_utilization)`` GB.
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
        gpu_memory_gb=gpu_memory_gb,
        gpu_memory_utilization=gpu_memory_utilization,
        assumptions=notes,
        formula=f"total = params × bytes/param × {NON_LLM_FACTOR}",
    )
