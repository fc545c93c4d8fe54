"""Serving estimates: the roofline worked by hand, and which estimator answers where."""

from __future__ import annotations

import pytest

from tools import aiconfigurator, performance
from tools.performance import PerformanceQuery, estimate_performance
from tools.sizing import BYTES_PER_PARAM
from tools.throughput import load_gpus_csv

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
GPUS = load_gpus_csv()


def _query(**changes):
    base = {"model_id": LLAMA_8B, "gpu_model": "H100", "concurrency": 1,
            "input_tokens": 1000, "output_tokens": 200}
    return PerformanceQuery(**(base | changes))


def test_roofline_when_one_user_on_t4_then_tpot_is_bytes_over_bandwidth():
    query = _query(gpu_model="T4", precision="int4")

    result = estimate_performance(query, GPUS["T4"])

    # int4 linear layers, bf16 embeddings and head: (8.03e9 − 1.05e9) × 0.52 + 1.05e9 × 2.
    embeddings = 2 * 128256 * 4096
    weights = (8.03e9 - embeddings) * BYTES_PER_PARAM["int4"] + embeddings * 2
    kv = 131072 * (1000 + 200 / 2)  # one sequence at its mean length while decoding
    # 320 GB/s at 75 % plus 32 layers × 12 µs of launches.
    expected = (weights + kv) / (320e9 * 0.75) * 1e3 + 32 * 0.012
    assert result.tpot_ms == pytest.approx(expected)
    assert result.tpot_ms == pytest.approx(24.85, abs=0.01)  # 5.89e9 bytes per step
    assert result.bound == "memory"
    assert result.estimator.startswith("roofline")


def test_roofline_when_tp4_over_pcie_then_slower_than_over_nvlink():
    nvlink = GPUS["H100"]
    pcie = nvlink.model_copy(update={"interconnect": "PCIe Gen4 x16 (no NVLink)"})
    query = _query(model_id=LLAMA_70B, gpu_count=4, tensor_parallel=4, concurrency=16)

    over_nvlink = estimate_performance(query, nvlink, use_aiconfigurator=False)
    over_pcie = estimate_performance(query, pcie, use_aiconfigurator=False)

    # 160 all-reduces per step of 16 × 8192 × 2 bytes: ~6 ms more at 4 GB/s than over NVLink.
    assert over_pcie.tpot_ms > over_nvlink.tpot_ms + 5
    assert over_pcie.ttft_ms > 2 * over_nvlink.ttft_ms


@pytest.mark.parametrize(("gpu", "speedup"), [("H100", 2.0), ("A100-80GB", 1.0)])
def test_roofline_when_fp8_then_prefill_faster_only_where_fp8_tensor_cores_exist(gpu, speedup):
    bf16 = estimate_performance(_query(gpu_model=gpu, precision="bf16", input_tokens=8000),
                                GPUS[gpu], use_aiconfigurator=False)
    fp8 = estimate_performance(_query(gpu_model=gpu, precision="fp8", input_tokens=8000),
                               GPUS[gpu], use_aiconfigurator=False)

    # Prefill is compute-bound: Hopper doubles its rate in fp8; Ampere dequantizes to bf16.
    dispatch = 32 * performance.DISPATCH_MS_PER_LAYER
    ratio = (bf16.ttft_ms - dispatch) / (fp8.ttft_ms - dispatch)
    assert ratio == pytest.approx(speedup, rel=0.1)


def test_estimate_when_covered_model_gpu_and_engine_then_aiconfigurator_answers():
    result = estimate_performance(_query(concurrency=8), GPUS["H100"])

    assert result.bound == "measured"
    assert result.estimator.startswith("aiconfigurator 0.12.0 (vllm")


@pytest.mark.parametrize(("gpu", "engine"), [("T4", "vLLM"), ("A10G", "vLLM"), ("H100", "Ollama")])
def test_estimate_when_not_covered_then_roofline_says_why(gpu, engine):
    result = estimate_performance(_query(gpu_model=gpu, engine=engine), GPUS[gpu])

    assert result.estimator.startswith("roofline")
    assert any("no measured data" in note for note in result.assumptions)


def test_estimate_when_four_gpus_at_tp2_then_two_replicas_share_the_load():
    query = _query(model_id=LLAMA_70B, gpu_count=4, tensor_parallel=2, concurrency=30)

    result = estimate_performance(query, GPUS["H100"], use_aiconfigurator=False)

    assert (result.replicas, result.concurrency_per_replica) == (2, 15)
    assert result.tokens_per_s == pytest.approx(30 * 1e3 / result.tpot_ms, rel=0.2)


def test_estimate_when_fewer_gpus_than_tp_then_value_error():
    with pytest.raises(ValueError, match="cannot hold tensor_parallel 4"):
        estimate_performance(_query(gpu_count=2, tensor_parallel=4), GPUS["H100"])


@pytest.mark.parametrize(
    ("model", "gpu", "engine", "covered"),
    [(LLAMA_8B, "H100", "vLLM", True), (LLAMA_70B, "A100-80GB", "SGLang", True),
     (LLAMA_8B, "T4", "vLLM", False), (LLAMA_8B, "H100", "Ollama", False),
     ("google/gemma-2-9b-it", "H100", "vLLM", False)],
)
def test_aiconfigurator_coverage_when_catalog_names_then_mapped_to_its_data(
    model, gpu, engine, covered
):
    assert aiconfigurator.covered(model, gpu, engine) is covered


def test_estimate_when_only_if_warm_then_roofline_until_the_configuration_is_loaded():
    query = _query(model_id="Qwen/Qwen3-8B", gpu_model="H200", concurrency=4)

    cold = estimate_performance(query, GPUS["H200"], only_if_warm=True)
    loaded = aiconfigurator.warm_up("Qwen/Qwen3-8B", "H200", "vLLM", 1)
    warm = estimate_performance(query, GPUS["H200"], only_if_warm=True)

    assert cold.estimator.startswith("roofline")
    assert any("not loaded yet" in note for note in cold.assumptions)
    assert loaded is True
    assert warm.estimator.startswith("aiconfigurator")
