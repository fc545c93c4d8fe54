"""Configuration search over hand-made offers: the cheapest that fits and carries the load."""

from __future__ import annotations

import pytest

from tools.search import Load, Offer, search_configurations
from tools.throughput import load_gpus_csv

GPUS = load_gpus_csv()
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


def _offer(gpu, count, memory, price, *, provider="gcp", spot=None, name=None):
    return Offer(provider=provider, instance_type=name or f"{count}x{gpu}", region="us-central1",
                 gpu_model=gpu, gpu_count=count, gpu_memory_gb_per_gpu=memory,
                 price_hourly_usd=price, spot_price_hourly_usd=spot)


L4 = _offer("L4", 1, 24, 0.85)
A100_80 = _offer("A100-80GB", 1, 80, 3.67)
CHAT_8 = Load(concurrency=8, input_tokens=2000, output_tokens=500)


def test_search_when_fp8_meets_tpot_on_one_l4_then_fp8_l4_beats_bf16_a100():
    outcome = search_configurations(LLAMA_8B, CHAT_8, [L4, A100_80], GPUS)

    # bf16 on an L4 streams 16 GB of weights per step at ~225 GB/s: ~75 ms > 50 ms. fp8
    # halves the weights: under 50 ms, on a card a quarter of the A100's price.
    chosen = outcome.chosen
    assert chosen is not None
    assert (chosen.gpu_model, chosen.precision, chosen.quantized) == ("L4", "fp8", True)
    assert chosen.estimate.tpot_ms <= 50 and chosen.estimate.ttft_ms <= 2000
    assert chosen.monthly_usd == pytest.approx(0.85 * 730)
    # The A100 costs 4.3× as much: not an alternative worth listing (at most 2× the chosen).
    assert [a.gpu_model for a in outcome.alternatives] == []


def test_search_when_alternative_within_twice_the_price_then_listed():
    outcome = search_configurations(LLAMA_8B, CHAT_8, [L4, _offer("L40S", 1, 48, 1.6)], GPUS)

    assert outcome.chosen is not None and outcome.chosen.gpu_model == "L4"
    assert [a.gpu_model for a in outcome.alternatives] == ["L40S"]


def test_search_when_70b_on_two_h100_then_only_quantized_weights_fit():
    two_h100 = _offer("H100", 2, 80, 6.0, name="a3-highgpu-2g")
    load = Load(concurrency=16, input_tokens=6000, output_tokens=2192, tpot_ms=200)

    outcome = search_configurations(LLAMA_70B, load, [two_h100], GPUS)

    # 16 × 8,192 tokens of KV (40 GiB) beside 131.5 GiB of bf16 weights is 87.9 GiB per GPU
    # at TP 2 (> 72); fp8 weights bring it to 56.0 GiB.
    assert outcome.chosen is not None
    assert (outcome.chosen.precision, outcome.chosen.tensor_parallel) == ("fp8", 2)
    assert outcome.chosen.estimate.memory_gb == pytest.approx(56.04, abs=0.01)


def test_search_when_spot_not_allowed_then_on_demand_price():
    offer = _offer("L4", 1, 24, 0.85, spot=0.30)

    on_demand = search_configurations(LLAMA_8B, CHAT_8, [offer], GPUS).chosen
    spot = search_configurations(LLAMA_8B, CHAT_8.model_copy(update={"spot_ok": True}),
                                 [offer], GPUS).chosen

    assert on_demand is not None and spot is not None
    assert (on_demand.spot, on_demand.hourly_usd) == (False, 0.85)
    assert (spot.spot, spot.hourly_usd) == (True, 0.30)


def test_search_when_marketplace_offer_then_skipped_unless_allowed():
    vast = _offer("RTX4090", 1, 24, 0.35, provider="vast")

    outcome = search_configurations(LLAMA_8B, CHAT_8, [vast, A100_80], GPUS)
    allowed = search_configurations(
        LLAMA_8B, CHAT_8.model_copy(update={"allow_marketplace": True}), [vast, A100_80], GPUS
    )

    assert outcome.chosen is not None and outcome.chosen.provider == "gcp"
    assert any("marketplace" in note for note in outcome.assumptions)
    assert allowed.chosen is not None and allowed.chosen.marketplace is True


def test_search_when_accelerator_runs_no_vllm_then_skipped():
    inferentia = _offer("Inferentia2", 1, 32, 0.76, provider="aws")

    outcome = search_configurations(LLAMA_8B, CHAT_8, [inferentia], GPUS)

    assert outcome.chosen is None
    assert any("vLLM does not run on the accelerator" in note for note in outcome.assumptions)


def test_search_when_nothing_fits_then_none_and_the_reason_per_shape():
    t4 = _offer("T4", 1, 16, 0.53)

    outcome = search_configurations(LLAMA_70B, CHAT_8, [t4], GPUS)

    assert outcome.chosen is None
    assert outcome.rejected[0].gpu_model == "T4"
    assert outcome.rejected[0].reason.startswith("memory:")


def test_search_when_batch_then_ranked_by_dollars_per_million_tokens():
    load = Load(kind="batch", concurrency=256, input_tokens=1500, output_tokens=800,
                min_tokens_per_s=2800)

    outcome = search_configurations(LLAMA_8B, load, [L4, _offer("H100", 1, 80, 3.0)], GPUS)

    # One H100 at $3/h outruns several L4s at $0.85/h per token: batch ranks by $/1M.
    chosen = outcome.chosen
    assert chosen is not None and chosen.gpu_model == "H100"
    assert chosen.estimate.tokens_per_s >= 2800
    assert all(chosen.usd_per_million_tokens <= a.usd_per_million_tokens
               for a in outcome.alternatives)


def test_search_when_native_only_then_no_quantized_build_is_chosen():
    outcome = search_configurations(LLAMA_8B, CHAT_8, [L4, A100_80], GPUS,
                                    precisions=("native",), kv_cache_dtypes=("auto",))

    # Without fp8 the L4 misses 50 ms per token; the A100 in bf16 is the cheapest left.
    assert outcome.chosen is not None
    assert (outcome.chosen.gpu_model, outcome.chosen.precision) == ("A100-80GB", "bf16")
    assert outcome.rejected[0].gpu_model == "L4"
    assert outcome.rejected[0].reason.startswith("TPOT")


def test_gpu_variant_when_h100_nvl_offer_then_its_own_bandwidth():
    nvl = _offer("H100", 1, 94, 7.0, name="Standard_NC40ads_H100_v5")

    outcome = search_configurations(LLAMA_8B, CHAT_8, [nvl], GPUS)

    # 3.9 TB/s (NVL) rather than the SXM row's 3.35: a shorter step than on an SXM card.
    sxm = search_configurations(LLAMA_8B, CHAT_8, [_offer("H100", 1, 80, 7.0)], GPUS)
    assert outcome.chosen is not None and sxm.chosen is not None
    assert outcome.chosen.estimate.tpot_ms < sxm.chosen.estimate.tpot_ms


def test_search_when_price_far_under_the_types_median_then_flagged_not_hidden():
    cheap = L4.model_copy(update={"median_hourly_usd": 2.0})  # 0.85 < 60 % of 2.00
    fair = L4.model_copy(update={"median_hourly_usd": 1.0})

    flagged = search_configurations(LLAMA_8B, CHAT_8, [cheap], GPUS).chosen
    plain = search_configurations(LLAMA_8B, CHAT_8, [fair], GPUS).chosen

    assert flagged is not None and flagged.price_outlier
    assert plain is not None and not plain.price_outlier


def test_search_when_amd_or_arm_hosted_gpu_then_skipped_unless_named():
    offers = [_offer("MI300X", 8, 192, 0.5), _offer("GH200", 1, 96, 0.6), L4]

    outcome = search_configurations(LLAMA_8B, CHAT_8, offers, GPUS)
    named = search_configurations(
        LLAMA_8B, CHAT_8.model_copy(update={"allow_non_cuda": True}), offers, GPUS
    )

    assert outcome.chosen is not None and outcome.chosen.gpu_model == "L4"
    assert any("not an NVIDIA GPU" in note for note in outcome.assumptions)
    assert any("Arm host" in note for note in outcome.assumptions)
    assert named.chosen is not None and named.chosen.gpu_model in ("MI300X", "GH200")


def test_search_when_int4_build_on_a_t4_then_named_as_it_runs_there():
    t4 = _offer("T4", 1, 16, 0.53, name="g4dn.xlarge")

    outcome = search_configurations(LLAMA_8B, Load(concurrency=4), [t4], GPUS)

    # 16 GB of bf16 weights do not fit a T4, which has no fp8: the AWQ build does. The T4 has
    # no bf16 and AWQ kernels compute in fp16, so the KV cache is fp16, not "bf16".
    chosen = outcome.chosen
    assert chosen is not None
    assert (chosen.precision, chosen.kv_cache_dtype) == ("int4", "fp16")
    assert chosen.build_repo == "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"


def test_search_when_a_nights_batch_then_a_small_gpu_beats_a_node_that_pays_its_start_up():
    node = _offer("H100", 8, 80, 24.0, name="8xH100")
    # 150k documents × 256 output tokens a night, within 8 hours: 1,333 tokens/s at least.
    night = Load(kind="batch", concurrency=256, input_tokens=500, output_tokens=256,
                 min_tokens_per_s=1333, tokens_per_run=150_000 * 256)
    steady = night.model_copy(update={"tokens_per_run": None})

    per_run = search_configurations(LLAMA_8B, night, [L4, node], GPUS).chosen
    per_token = search_configurations(LLAMA_8B, steady, [L4, node], GPUS).chosen

    # At the steady rate the 8-GPU node is cheapest per token; over the night's run it does
    # the work in minutes but pays its half hour of start-up at $24/h: the L4 is cheaper.
    assert per_token is not None and per_token.gpu_model == "H100"
    assert per_run is not None and per_run.gpu_model == "L4"
    assert per_run.estimate.tokens_per_s >= 1333
    hours = 150_000 * 256 / per_run.estimate.tokens_per_s / 3600 + 0.5
    assert per_run.usd_per_million_tokens == pytest.approx(
        per_run.hourly_usd * hours / (150_000 * 256) * 1e6)
