"""Memory for local attention, GiB capacities and typical KV budgets, worked by hand.

Every *_gb figure is GiB (2**30 bytes); a GPU's "80 GB" is 80 GiB.
"""

from __future__ import annotations

import pytest

from tools.sizing import GIB, Workload, attention_layout, default_architectures, estimate_memory

GEMMA_3_27B = "google/gemma-3-27b-it"
GPT_OSS_120B = "openai/gpt-oss-120b"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


def test_gemma_3_27b_kv_when_32k_by_8_then_25_gb_not_133():
    workload = Workload(context_length=32768, concurrent_sequences=8)

    result = estimate_memory(GEMMA_3_27B, workload)

    # 62 layers, 16 KV heads × 128 dims × 2 (K, V) × 2 bytes = 8,192 bytes per token per layer.
    # Five local layers (1,024-token window) per global one: 62 // 6 = 10 global, 52 local.
    # Global: 10 × 32,768 × 8 × 8,192 = 21.47e9; local: 52 × 1,024 × 8 × 8,192 = 3.49e9.
    per_layer_token = 2 * 16 * 128 * 2
    expected = (10 * 32768 + 52 * 1024) * 8 * per_layer_token
    assert result.kv_cache_bytes == expected == 24_964_497_408  # ≈ 25 GB, 23.25 GiB
    assert result.kv_cache_gb == pytest.approx(23.25)
    # Counted on every layer at full context it would be 62 × 32,768 × 8 × 8,192 = 133 GB.
    assert 62 * 32768 * 8 * per_layer_token / 1e9 == pytest.approx(133.1, abs=0.1)


def test_attention_layout_when_llama_4_then_three_chunked_layers_in_four():
    scout = default_architectures()["meta-llama/Llama-4-Scout-17B-16E-Instruct"]

    layout = attention_layout(scout)

    # attention_chunk_size 8192 on 36 of 48 layers; every 4th layer is global (NoPE).
    assert layout == (12, 36, 8192)


def test_gpt_oss_120b_when_32_sequences_of_8k_then_fits_one_80gb_gpu():
    workload = Workload(context_length=8192, concurrent_sequences=32)

    result = estimate_memory(GPT_OSS_120B, workload, gpu_memory_gb=80, tensor_parallel=1)

    # Weights: mxfp4 experts (4.25 bits) with bf16 embeddings and head: 59.47 GiB.
    # KV: 36 layers alternate 128-token sliding and full attention; 8 KV heads × 64 dims ×
    # 2 × 2 bytes = 2,048 bytes per token per layer. Full: 18 × 8,192 × 32 × 2,048 = 9.0 GiB;
    # sliding: 18 × 128 × 32 × 2,048 = 0.14 GiB. Total 59.47 + 9.14 + 0.18 act + 1.5 = 70.3
    # GiB ≤ 80 × 0.9 = 72 GiB. Counting every layer at full context (18.1 GiB) would not fit.
    kv = (18 * 8192 + 18 * 128) * 32 * 2048
    assert result.kv_cache_bytes == kv
    assert result.per_gpu_gb == pytest.approx(70.29, abs=0.01)
    assert result.fits is True
    assert result.per_gpu_gb + (18 * (8192 - 128) * 32 * 2048) / GIB > 72


def test_llama_8b_when_8_users_of_4k_on_24gb_l4_then_fits_in_gib():
    workload = Workload(context_length=4096, concurrent_sequences=8)

    result = estimate_memory(LLAMA_8B, workload, gpu_memory_gb=24, tensor_parallel=1)

    # Weights 16.06e9 + KV 8 × 4,096 × 131,072 = 4.29e9 + activations 0.60e9 + 1.5 GiB
    # = 22.57e9 bytes = 21.02 GiB ≤ 24 GiB × 0.9 = 21.6 GiB. Read as decimal GB the need
    # (22.57) would exceed 21.6 and the plan would jump to a larger card.
    need = 16.06e9 + 8 * 4096 * 131072 + 8192 * (2 * 4096 + 2 * 14336) * 2 + 1.5 * GIB
    assert result.per_gpu_gb == pytest.approx(need / GIB)
    assert result.per_gpu_gb == pytest.approx(21.02, abs=0.01)
    assert need / 1e9 > 24 * 0.9
    assert result.fits is True


@pytest.mark.parametrize(("dtype", "fits"), [("bf16", False), ("fp8", True)])
def test_llama_70b_on_two_h100_when_16_users_of_8k_then_only_fp8_fits(dtype, fits):
    workload = Workload(dtype=dtype, context_length=8192, concurrent_sequences=16)

    result = estimate_memory(LLAMA_70B, workload, gpu_memory_gb=80, tensor_parallel=2)

    # KV 16 × 8,192 × 327,680 bytes = 40 GiB, 20 GiB per GPU. bf16 weights 131.5 GiB →
    # 65.75 per GPU: 65.75 + 20 + 0.69 + 1.5 = 87.9 GiB > 72. fp8 linear layers (embeddings
    # and head stay bf16): 67.7 GiB → 33.85 + 20 + 0.69 + 1.5 = 56.0 GiB ≤ 72.
    assert result.kv_cache_gb == pytest.approx(40.0)
    assert result.per_gpu_gb == pytest.approx(87.94 if dtype == "bf16" else 56.04, abs=0.01)
    assert result.fits is fits


def test_kv_budget_when_typical_tokens_then_budgeted_and_worst_case_beside_it():
    workload = Workload(context_length=32768, concurrent_sequences=50, typical_tokens=4500)

    result = estimate_memory(LLAMA_70B, workload)

    # Budget: 50 × 4,500 × 327,680 = 73.7e9 bytes = 68.66 GiB; worst case 50 × 32,768.
    assert result.kv_tokens_per_sequence == 4500
    assert result.kv_cache_bytes == 50 * 4500 * 327680
    assert result.kv_cache_worst_case_gb == pytest.approx(50 * 32768 * 327680 / GIB)  # 500 GiB


def test_kv_budget_when_one_short_sequence_then_still_holds_one_full_context():
    workload = Workload(context_length=131072, concurrent_sequences=1, typical_tokens=1000)

    result = estimate_memory(LLAMA_8B, workload)

    # vLLM will not start unless one max_model_len sequence fits: 131,072 × 131,072 = 16 GiB.
    assert result.kv_cache_gb == pytest.approx(16.0)
