"""VRAM sizing and decode throughput, checked against figures worked by hand.

Units: every *_gb field is GiB (2**30 bytes), the unit of GPU capacities; GB = 1e9 bytes.
"""

from __future__ import annotations

import csv

import pytest

from tools.sizing import (
    BYTES_PER_PARAM,
    DATA_DIR,
    GB,
    GIB,
    Workload,
    default_architectures,
    estimate_memory,
    estimate_non_llm_memory,
    find_architecture,
    load_architecture,
    load_architectures_csv,
    vram_requirement,
)
from tools.throughput import (
    decode_tokens_per_s,
    estimate_throughput,
    load_gpu_specs,
    load_gpus_csv,
    moe_params_read_billion,
    usd_per_million_tokens,
)

LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
MISTRAL_7B = "mistralai/Mistral-7B-Instruct-v0.3"  # 7.25B, 32 layers, 8 KV heads, vocab 32768

# Llama-3.1-70B KV for one sequence of 8,192 tokens: 2 (K and V) × 80 layers × 8 KV heads
# × head_dim 128 × 2 bytes (bf16) × 8,192 tokens.
LLAMA_70B_KV_8K = 2 * 80 * 8 * 128 * 2 * 8192


class FakeCursor:
    def __init__(self, rows: list[dict[str, object]]) -> None:
        self.rows = rows

    async def fetchall(self) -> list[dict[str, object]]:
        return self.rows


class FakeConnection:
    """Stands in for a psycopg AsyncConnection with dict_row rows; records each query."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, tuple[object, ...] | None]] = []

    async def execute(self, query: str, params: tuple[object, ...] | None = None) -> FakeCursor:
        self.calls.append((query, params))
        return FakeCursor(self.rows)


# --- weights and units -------------------------------------------------------------------


def test_weights_when_llama_70b_bf16_then_131_5_gib():
    workload = Workload(dtype="bf16")

    result = estimate_memory(LLAMA_70B, workload)

    # 70.6e9 params × 2 bytes = 141.2e9 bytes = 141.2 GB = 131.5 GiB.
    assert result.weights_bytes == 141_200_000_000
    assert result.weights_gb == pytest.approx(131.50, abs=0.01)
    assert result.weights_bytes / GB == pytest.approx(141.2)
    assert result.unit == "GiB"


def test_kv_cache_when_8k_tokens_one_sequence_then_2_5_gib():
    workload = Workload(dtype="bf16", context_length=8192, concurrent_sequences=1)

    result = estimate_memory(LLAMA_70B, workload)

    # 2 × 80 × 8 × 128 × 2 × 8192 = 2,684,354,560 bytes = 2.5 GiB exactly = 2.684 GB.
    assert result.kv_cache_bytes == LLAMA_70B_KV_8K == 2_684_354_560
    assert result.kv_cache_bytes / GIB == 2.5
    assert result.kv_cache_gb == 2.5
    assert result.kv_cache_bytes_per_token == 2 * 80 * 8 * 128 * 2  # 327,680 bytes


def test_kv_cache_when_gqa_then_eight_times_smaller():
    arch = default_architectures()[LLAMA_70B]
    without_gqa = arch.model_copy(update={"num_key_value_heads": 64})
    workload = Workload(dtype="bf16", context_length=8192)

    gqa = estimate_memory(arch, workload)
    mha = estimate_memory(without_gqa, workload)

    # 64 heads instead of 8: 2 × 80 × 64 × 128 × 2 × 8192 = 21,474,836,480 bytes = 20 GiB.
    assert mha.kv_cache_bytes == 8 * gqa.kv_cache_bytes == 21_474_836_480
    assert mha.kv_cache_bytes / GIB == 20.0


def test_kv_cache_when_mla_then_latent_plus_rope_per_layer():
    workload = Workload(context_length=1)

    result = estimate_memory("deepseek-ai/DeepSeek-V3", workload)

    # MLA caches (kv_lora_rank 512 + rope 64) per layer, not 2 × 128 heads × 192:
    # 61 × 576 × 2 bytes = 70,272 bytes per token (vs 5,996,544 counted as plain MHA).
    assert result.kv_cache_bytes_per_token == 61 * (512 + 64) * 2 == 70_272
    assert any("MLA" in note for note in result.assumptions)


# --- what fits ---------------------------------------------------------------------------


def test_fits_when_7b_int4_on_24gb_gpu_then_one_gpu():
    workload = Workload(dtype="int4", context_length=4096)

    result = estimate_memory(MISTRAL_7B, workload, gpu_memory_gb=24)

    embeddings = 32768 * 4096 * 2  # untied input and output tables stay bf16
    weights = (7.25e9 - embeddings) * (4 + 20 / 128) / 8 + embeddings * 2  # 3.878 GiB
    kv = 2 * 32 * 8 * 128 * 2 * 4096  # 0.5 GiB
    activations = 4096 * (2 * 4096 + 2 * 14336) * 2  # 0.281 GiB
    total = weights + kv + activations + 1.5 * GIB  # 6.159 GiB ≤ 24 × 0.9 = 21.6 GiB
    assert result.total_vram_gb == pytest.approx(total / GIB)
    assert result.total_vram_gb == pytest.approx(6.159, abs=0.001)
    assert result.tensor_parallel == 1
    assert result.fits is True


def test_fits_when_full_finetune_7b_with_adam_on_80gb_then_false():
    workload = Workload(task="full", dtype="bf16", context_length=2048)

    result = estimate_memory(MISTRAL_7B, workload, gpu_memory_gb=80, tensor_parallel=1)

    # 2 (bf16 weights) + 2 (grads) + 4 + 4 (Adam m, v) + 4 (fp32 master) = 16 bytes/param:
    # 7.25e9 × 16 = 116e9 bytes = 108.0 GiB before activations, over 80 × 0.9 = 72 GiB.
    states = result.weights_gb + result.gradients_gb + result.optimizer_gb
    assert states == pytest.approx(116e9 / GIB)
    assert result.optimizer_gb == pytest.approx(7.25e9 * 12 / GIB)
    assert result.fits is False


def test_fits_when_qlora_7b_on_80gb_then_true():
    workload = Workload(task="qlora", context_length=2048)

    result = estimate_memory(MISTRAL_7B, workload, gpu_memory_gb=80, tensor_parallel=1)

    embeddings = 32768 * 4096 * 2
    nf4 = (4 + 8 / 64 + 32 / (64 * 256)) / 8  # 0.516 bytes/param with double quantization
    base = (7.25e9 - embeddings) * nf4 + embeddings * 2  # 4.138 GB
    # Rank-16 adapters, per layer r × (fan_in + fan_out) over q, o (4096→4096), k, v
    # (4096→1024), gate, up, down (4096↔14336): 16 × 81,920 × 32 layers = 41.9M params.
    adapters = 16 * (2 * (4096 + 4096) + 2 * (4096 + 1024) + 3 * (4096 + 14336)) * 32
    activations = 2 * 4096 * 32 * 2 * 2048 + 2048 * 32768 * 4  # checkpoints + fp32 logits
    total = base + adapters * 16 + activations + 1.5 * GIB  # 7.16 GiB
    assert adapters == 41_943_040
    assert result.total_vram_gb == pytest.approx(total / GIB)
    assert result.fits is True


def test_tensor_parallel_when_70b_bf16_8k_32_sequences_on_80gb_then_4():
    workload = Workload(dtype="bf16", context_length=8192, concurrent_sequences=32)

    result = estimate_memory(LLAMA_70B, workload, gpu_memory_gb=80)

    # Usable per GPU: 80 × 0.9 = 72 GiB. Weights 131.5 GiB, KV 32 × 2.5 = 80 GiB.
    # Activations per GPU: 8,192 prefill tokens × (2 × 8192 + 2 × 28672 / TP) × 2 bytes.
    # TP 2: 105.75 + 0.69 + 1.5 = 107.9 GiB; TP 4: 52.88 + 0.47 + 1.5 = 54.84 GiB ≤ 72,
    # so 4 is the smallest degree that fits.
    per_gpu_tp2 = (141.2e9 + 32 * LLAMA_70B_KV_8K) / 2 + 8192 * (16384 + 28672) * 2 + 1.5 * GIB
    per_gpu_tp4 = (141.2e9 + 32 * LLAMA_70B_KV_8K) / 4 + 8192 * (16384 + 14336) * 2 + 1.5 * GIB
    assert per_gpu_tp2 > 72 * GIB
    assert result.tensor_parallel == 4
    assert result.per_gpu_gb == pytest.approx(per_gpu_tp4 / GIB)
    assert result.per_gpu_gb == pytest.approx(54.844, abs=0.001)
    assert result.fits is True


def test_vram_requirement_when_tp_4_then_total_is_four_gpus():
    workload = Workload(dtype="bf16", context_length=8192, concurrent_sequences=32)

    requirement = vram_requirement("Llama-3.1-70B", workload, tensor_parallel=4)

    assert requirement.total_vram_gb == pytest.approx(4 * requirement.per_gpu_gb)
    assert requirement.per_gpu_gb == pytest.approx(54.844, abs=0.001)
    # A GPU must hold 54.844 GiB in its 90 % share: at least 60.94 GiB.
    assert requirement.min_gpu_memory_gb(0.9) == pytest.approx(54.844 / 0.9, abs=0.001)


def test_tensor_parallel_when_heads_do_not_split_then_error():
    workload = Workload()

    # Falcon-7B has 71 attention heads: only TP 1 splits them.
    with pytest.raises(ValueError, match="does not split 71 attention"):
        estimate_memory("tiiuae/falcon-7b-instruct", workload, tensor_parallel=2)


def test_tensor_parallel_when_nothing_fits_then_largest_degree_and_not_fits():
    workload = Workload(dtype="bf16")

    result = estimate_memory("meta-llama/Llama-3.1-405B-Instruct", workload, gpu_memory_gb=24)

    # 405e9 × 2 = 810e9 bytes = 754 GiB: over 8 × 21.6 GiB.
    assert result.tensor_parallel == 8
    assert result.fits is False


def test_sliding_window_when_every_layer_windowed_then_kv_capped_at_window():
    workload = Workload(context_length=8192)

    result = estimate_memory("mistralai/Mistral-7B-v0.1", workload)

    # Mistral 7B v0.1 applies its 4,096-token window on all 32 layers: 8,192 → 4,096 held.
    assert result.kv_cache_bytes == 2 * 32 * 8 * 128 * 2 * 4096
    assert any("32 of 32 layers hold at most 4096" in note for note in result.assumptions)


# --- throughput and cost -----------------------------------------------------------------


def test_throughput_when_8b_bf16_on_h100_then_bandwidth_over_bytes_per_token():
    h100 = load_gpus_csv()["H100"]
    workload = Workload(dtype="bf16", context_length=4096)

    estimate = estimate_throughput(LLAMA_8B, workload, h100)

    # Bytes per token: 8.03e9 × 2 (weights) + 2 × 32 × 8 × 128 × 2 × 4096 (KV) = 16.597e9.
    # 3350e9 B/s × 0.7 efficiency / 16.597e9 B = 141.29 tokens/s.
    by_hand = 3350e9 * 0.7 / (8.03e9 * 2 + 2 * 32 * 8 * 128 * 2 * 4096)
    assert estimate.single_sequence_tokens_per_s == pytest.approx(by_hand)
    assert estimate.single_sequence_tokens_per_s == pytest.approx(141.29, abs=0.01)
    assert estimate.bound == "memory"


def test_decode_tokens_per_s_when_bytes_per_token_then_bandwidth_times_efficiency_over_it():
    # 3350 GB/s × 0.7 / 16.597e9 bytes per token = 141.29 tokens/s.
    assert decode_tokens_per_s(16_596_870_912, 3350, 0.7) == pytest.approx(141.29, abs=0.01)


def test_throughput_when_32_sequences_then_weights_read_once_per_step():
    h100 = load_gpus_csv()["H100"]
    workload = Workload(dtype="bf16", context_length=4096, concurrent_sequences=32)

    estimate = estimate_throughput(LLAMA_8B, workload, h100)

    # One step reads the weights once and 32 sequences' KV: 16.06e9 + 32 × 0.537e9 = 33.24e9 B.
    step_s = (8.03e9 * 2 + 32 * 2 * 32 * 8 * 128 * 2 * 4096) / (3350e9 * 0.7)  # 14.17 ms
    assert estimate.aggregate_tokens_per_s == pytest.approx(32 / step_s)  # 2,257 tokens/s
    assert estimate.tokens_per_s_per_sequence == pytest.approx(1 / step_s)  # 70.5 tokens/s


def test_throughput_when_moe_then_bytes_use_active_params():
    h100 = load_gpus_csv()["H100"]
    workload = Workload(dtype="bf16", context_length=4096)

    estimate = estimate_throughput("mistralai/Mixtral-8x7B-Instruct-v0.1", workload, h100)

    # Mixtral: 46.7B total but 12.9B active; one token reads 12.9e9 × 2 + 0.537e9 bytes.
    by_hand = 3350e9 * 0.7 / (12.9e9 * 2 + 2 * 32 * 8 * 128 * 2 * 4096)  # 88.99 tokens/s
    assert estimate.single_sequence_tokens_per_s == pytest.approx(by_hand)


def test_moe_params_read_when_large_batch_then_every_expert_read():
    mixtral = default_architectures()["mistralai/Mixtral-8x7B-Instruct-v0.1"]

    one, many = moe_params_read_billion(mixtral, 1), moe_params_read_billion(mixtral, 1000)

    assert one == pytest.approx(12.9)
    assert many == pytest.approx(46.7)


def test_usd_per_million_tokens_when_hourly_and_rate_then_formula():
    # $3/hour at 141.29 tokens/s: 3 / (141.29 × 3600) × 1e6 = $5.898 per 1M tokens.
    assert usd_per_million_tokens(3.0, 141.29) == pytest.approx(3.0 / (141.29 * 3600) * 1e6)
    assert usd_per_million_tokens(3.0, 141.29) == pytest.approx(5.898, abs=0.001)


def test_cost_when_instance_has_eight_gpus_then_eight_replicas_share_the_price():
    h100 = load_gpus_csv()["H100"]
    workload = Workload(dtype="bf16", context_length=4096)

    estimate = estimate_throughput(LLAMA_8B, workload, h100, hourly_usd=24.0, gpu_count=8)

    tokens_per_s = 8 * 3350e9 * 0.7 / (8.03e9 * 2 + 2 * 32 * 8 * 128 * 2 * 4096)  # 1,130 tok/s
    assert estimate.replicas == 8
    assert estimate.instance_tokens_per_s == pytest.approx(tokens_per_s)
    assert estimate.usd_per_million_tokens == pytest.approx(24.0 / (tokens_per_s * 3600) * 1e6)


def test_cost_when_instance_has_fewer_gpus_than_tp_then_error():
    h100 = load_gpus_csv()["H100"]

    with pytest.raises(ValueError, match="fewer than TP 4"):
        estimate_throughput(LLAMA_70B, Workload(), h100, tensor_parallel=4, gpu_count=2)


# --- models outside the catalog ----------------------------------------------------------


def test_estimate_when_unknown_model_with_params_then_assumption_stated():
    workload = Workload(dtype="bf16")

    result = estimate_memory("acme/secret-7b", workload, params_billion=7)

    assert result.model_id == "acme/secret-7b"
    assert result.weights_gb == pytest.approx(14e9 / GIB)  # 7e9 × 2 bytes = 13.04 GiB
    assert "architecture unknown" in result.assumptions[0]
    assert "35 layers, hidden 4096" in result.assumptions[0]  # 7e9 / (12 × 4096²) = 34.8


def test_estimate_when_unknown_model_without_params_then_value_error():
    with pytest.raises(ValueError, match="unknown model 'acme/secret-7b'"):
        estimate_memory("acme/secret-7b", Workload())


def test_non_llm_when_params_only_then_weights_times_bytes_times_1_2():
    workload = Workload(dtype="fp16")

    result = estimate_non_llm_memory(2.6, workload, gpu_memory_gb=16)

    # 2.6e9 × 2 bytes × 1.2 = 6.24e9 bytes = 5.81 GiB.
    assert result.total_vram_gb == pytest.approx(6.24e9 / GIB)
    assert result.weights_gb == pytest.approx(5.2e9 / GIB)
    assert result.fits is True


# --- bad input ---------------------------------------------------------------------------


def test_workload_when_negative_context_then_value_error():
    with pytest.raises(ValueError, match="context_length"):
        Workload(context_length=-1)


def test_workload_when_unknown_dtype_then_value_error_names_the_choices():
    with pytest.raises(ValueError, match="unknown dtype 'fp6'; expected one of: fp32, bf16"):
        Workload(dtype="fp6")


def test_estimate_when_full_finetune_on_int4_then_value_error():
    workload = Workload(task="full", dtype="int4")

    with pytest.raises(ValueError, match="use task='qlora'"):
        estimate_memory(MISTRAL_7B, workload)


def test_estimate_when_utilization_above_one_then_value_error():
    with pytest.raises(ValueError, match="gpu_memory_utilization"):
        estimate_memory(MISTRAL_7B, Workload(), gpu_memory_gb=24, gpu_memory_utilization=1.5)


# --- catalogs ----------------------------------------------------------------------------


def test_load_architectures_csv_when_shipped_then_every_row_parses():
    with (DATA_DIR / "llm_architectures.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))

    catalog = load_architectures_csv()

    assert len(catalog) == len(rows) >= 131
    assert catalog[LLAMA_70B].num_key_value_heads == 8
    assert catalog["deepseek-ai/DeepSeek-V3"].kv_lora_rank == 512


def test_find_architecture_when_org_missing_and_case_differs_then_matches():
    catalog = default_architectures()

    found = find_architecture("llama-3.1-70b-INSTRUCT", catalog)

    assert found is not None
    assert found.model_id == LLAMA_70B


def test_find_architecture_when_base_name_then_instruct_row_and_stated():
    result = estimate_memory("Llama-3.1-70B", Workload())

    assert result.model_id == LLAMA_70B
    assert "matched catalog row" in result.assumptions[0]


async def test_load_architecture_when_db_row_then_matched_without_org():
    row = default_architectures()[LLAMA_70B].model_dump()
    conn = FakeConnection([row])

    found = await load_architecture(conn, "Llama-3.1-70B-Instruct")

    query, params = conn.calls[0]
    assert found == default_architectures()[LLAMA_70B]
    assert "from hf.architectures" in query
    assert params is not None and query.count("%s") == len(params)


async def test_load_gpu_specs_when_rows_then_keyed_by_model():
    conn = FakeConnection([{"gpu_model": "H100", "vendor": "NVIDIA", "memory_gb": 80.0,
                            "memory_bandwidth_gbps": 3350.0, "fp16_bf16_dense_tflops": 989.0,
                            "fp8_dense_tflops": 1979.0, "int8_dense_tops": None}])

    specs = await load_gpu_specs(conn)

    assert specs["H100"].memory_bandwidth_gbps == 3350.0
    assert specs["H100"].int8_dense_tops is None
    assert "from cloud.gpus" in conn.calls[0][0]


def test_load_gpus_csv_when_shipped_then_h100_bandwidth():
    gpus = load_gpus_csv()

    assert gpus["H100"].memory_bandwidth_gbps == 3350
    assert gpus["H100"].memory_gb == 80


def test_bytes_per_param_when_int4_then_scales_included():
    # GPTQ/AWQ group 128: 4 bits + (16-bit scale + 4-bit zero) / 128 = 4.156 bits.
    assert BYTES_PER_PARAM["int4"] == pytest.approx(0.5195, abs=1e-4)
