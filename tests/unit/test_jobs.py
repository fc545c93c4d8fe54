"""Jobs priced by the hours they take, checked against figures worked by hand."""

from __future__ import annotations

import pytest

from agents.job_costs import rank_by_job_cost, training_cost
from agents.schemas import WorkloadSpec
from tools.jobs import batch_inference_job, required_tokens_per_s, training_flops, training_job

H100_BF16_TFLOPS = 989
A100_BF16_TFLOPS = 312


def test_pretraining_flops_when_3b_params_on_60b_tokens_then_1_08e21():
    # 6 × 3e9 × 60e9 = 1.08e21 FLOPs.
    assert training_flops(3, 60e9) == pytest.approx(1.08e21)


def test_pretraining_job_when_3b_on_60b_tokens_on_8_h100_at_40_mfu_then_758_gpu_hours():
    job = training_job(3, 60e9, H100_BF16_TFLOPS, gpu_count=8, mfu=0.4, hourly_usd_per_gpu=3.0)

    # 1.08e21 / (989e12 × 0.4) = 2.730e6 s = 758.3 GPU-hours; 8 GPUs: 94.8 h; at $3: $2,275.
    assert job.gpu_hours == pytest.approx(758.3, abs=0.1)
    assert job.wall_clock_hours == pytest.approx(94.79, abs=0.01)
    assert job.total_usd == pytest.approx(2275, abs=1)


def test_pretraining_job_when_a100_then_about_2400_gpu_hours():
    job = training_job(3, 60e9, A100_BF16_TFLOPS, mfu=0.4)

    # 1.08e21 / (312e12 × 0.4) / 3600 = 2,403.8 A100-hours.
    assert job.gpu_hours == pytest.approx(2403.8, abs=0.1)
    assert job.total_usd is None


def test_lora_job_when_same_tokens_then_two_thirds_of_the_flops_of_full():
    full = training_flops(8, 1e9, "full")
    lora = training_flops(8, 1e9, "lora")

    # No weight gradients for the frozen base: 4·N·D instead of 6·N·D.
    assert lora / full == pytest.approx(2 / 3)


def test_qlora_job_when_default_mfu_then_slower_than_lora():
    lora = training_job(8, 1e9, H100_BF16_TFLOPS, method="lora")
    qlora = training_job(8, 1e9, H100_BF16_TFLOPS, method="qlora")

    # 4 × 8e9 × 1e9 = 3.2e19 FLOPs; at 30 % and 20 % of 989 TFLOPS: 30.0 h and 44.9 h.
    assert lora.gpu_hours == pytest.approx(29.96, abs=0.01)
    assert qlora.gpu_hours == pytest.approx(44.94, abs=0.01)


def test_required_rate_when_300k_documents_of_800_tokens_a_day_then_2778_tokens_per_s():
    # 300,000 × 800 = 2.4e8 tokens in 24 h: 2.4e8 / 86,400 = 2,777.8 tokens/s.
    assert required_tokens_per_s(300_000 * 800, 24) == pytest.approx(2777.8, abs=0.1)


def test_batch_job_when_rate_and_price_then_hours_and_cost():
    job = batch_inference_job(2.4e8, 10_000, gpu_count=4, hourly_usd=12.0)

    # 2.4e8 / 10,000 = 24,000 s = 6.67 h; 4 GPUs → 26.7 GPU-hours; $80.
    assert job.wall_clock_hours == pytest.approx(6.667, abs=0.001)
    assert job.gpu_hours == pytest.approx(26.667, abs=0.001)
    assert job.total_usd == pytest.approx(80.0)


def test_training_job_when_mfu_above_one_then_value_error():
    with pytest.raises(ValueError, match="mfu must be in"):
        training_job(3, 60e9, H100_BF16_TFLOPS, mfu=1.5)


# --- training ranked by what the run costs ----------------------------------------------------
A100_NODE = {"provider": "gcp", "instance_type": "a2-ultragpu-4g", "gpu_model": "A100-80GB",
             "gpu_count": 4.0, "price_hourly_usd": 11.78328, "spot_price_hourly_usd": None,
             "dense_tflops": 312.0}
H100_NODE = {"provider": "gcp", "instance_type": "a3-highgpu-4g", "gpu_model": "H100",
             "gpu_count": 4.0, "price_hourly_usd": 21.53307, "spot_price_hourly_usd": None,
             "dense_tflops": 989.0}
PRETRAIN_3B = WorkloadSpec(task_type="training", domain="llm", training={"dataset_tokens": 6e10})
SIZED_3B = {"params_billion": 3.0}


def test_pretraining_3b_on_60b_tokens_then_the_h100_node_leads_though_dearer_by_the_hour():
    ranked = rank_by_job_cost([A100_NODE, H100_NODE], PRETRAIN_3B, SIZED_3B, spot=False)
    first, second = (training_cost(PRETRAIN_3B, SIZED_3B, row, False) for row in ranked)

    # 6·3e9·6e10 = 1.08e21 FLOPs at 40 %: 758 H100-hours × $5.38 vs 2,404 A100-hours × $2.95.
    assert [r["instance_type"] for r in ranked] == ["a3-highgpu-4g", "a2-ultragpu-4g"]
    assert first is not None and first.total_usd == pytest.approx(4082, rel=0.01)
    assert second is not None and second.total_usd == pytest.approx(7081, rel=0.01)


def test_training_without_a_token_count_then_the_search_order_stays():
    spec = WorkloadSpec(task_type="training", domain="llm")

    ranked = rank_by_job_cost([A100_NODE, H100_NODE], spec, SIZED_3B, spot=False)

    assert ranked == [A100_NODE, H100_NODE]


def test_instance_without_a_dense_rate_then_ranked_after_the_priced_ones():
    unknown = {**H100_NODE, "instance_type": "mystery", "dense_tflops": None,
               "price_hourly_usd": 0.01}

    ranked = rank_by_job_cost([unknown, A100_NODE], PRETRAIN_3B, SIZED_3B, spot=False)

    assert [r["instance_type"] for r in ranked] == ["a2-ultragpu-4g", "mystery"]
