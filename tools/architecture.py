"""Architecture facts for LLMs: the catalog row, lookups, parameter counts and attention layout.

What a model *is* (layers, heads, experts, which layers attend locally), apart from what it
*needs* (``tools.sizing``) and how fast it runs (``tools.performance``). Pure functions over
pydantic models; the one SQL read is ``load_architecture``.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from psycopg import AsyncConnection

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
TP_DEGREES = (1, 2, 4, 8)
MLA_ROPE_DIM = 64  # DeepSeek-V2/V3 and Kimi-K2 keep 64 decoupled RoPE dims next to the latent

# Which layers attend within a window, per HF architecture class, as (every n-th layer is
# global, default window). From each model's transformers config: Gemma 2 alternates
# local/global (layer_types, sliding_window 4096); Gemma 3 has five local layers per global
# one (sliding_window_pattern 6); gpt-oss alternates 128-token sliding and full layers;
# Llama 4 uses chunked attention (attention_chunk_size 8192) with a NoPE global layer every
# 4th layer. Any other model with a sliding_window applies it on every layer (Mistral 7B
# v0.1, Phi-3, Starcoder2). vLLM's hybrid KV manager keeps only the window's blocks for a
# local layer, so those layers hold min(tokens, window) per sequence.
LOCAL_ATTENTION_LAYOUT: dict[str, tuple[int, int | None]] = {
    "Gemma2ForCausalLM": (2, 4096),
    "Gemma3ForCausalLM": (6, None),
    "Gemma3ForConditionalGeneration": (6, None),
    "GptOssForCausalLM": (2, 128),
    "Llama4ForConditionalGeneration": (4, 8192),
    "Llama4ForCausalLM": (4, 8192),
}


class Architecture(BaseModel):
    """Transformer facts for one LLM, named as the ``llm_architectures`` catalog columns."""

    model_config = ConfigDict(frozen=True, extra="ignore", protected_namespaces=())

    model_id: str | None = None
    architecture: str | None = None
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
select model_id, architecture, num_hidden_layers, hidden_size, intermediate_size,
       num_attention_heads, num_key_value_heads, head_dim, vocab_size, max_position_embeddings,
       tie_word_embeddings,
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


class AttentionLayout(NamedTuple):
    """How many layers attend globally and how many within ``window`` tokens."""

    global_layers: int
    local_layers: int
    window: int | None

    def kv_tokens(self, tokens: int) -> float:
        """Return layer-weighted tokens held per sequence, in units of one full layer.

        A global layer holds every token; a local one at most its window.
        """
        local = min(tokens, self.window) if self.window else tokens
        return self.global_layers * tokens + self.local_layers * local


def attention_layout(arch: Architecture) -> AttentionLayout:
    """Return the model's global and local (sliding-window or chunked) attention layers."""
    layers = arch.num_hidden_layers
    rule = LOCAL_ATTENTION_LAYOUT.get(arch.architecture or "")
    if rule is not None:
        every, default_window = rule
        window = arch.sliding_window or default_window
        if window:
            global_layers = layers // every
            return AttentionLayout(global_layers, layers - global_layers, window)
    if arch.sliding_window:
        return AttentionLayout(0, layers, arch.sliding_window)
    return AttentionLayout(layers, 0, None)
