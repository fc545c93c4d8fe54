"""Jobs priced by the hours they take, checked against figures worked by hand."""

from __future__ import annotations

import pytest

from agents.job_costs import (
    duration,
    job_tradeoffs,
    offered_for_job,
    rank_by_job_cost,
    training_cost,
    training_tokens,
)
from agents.schemas import GpuRecommendation, JobCost, WorkloadSpec
from agents.validator import price_training_runs
from tools.jobs import (
    RUN_FIXED_HOURS,
    batch_inference_job,
    required_tokens_per_s,
    run_cost,
    training_flops,
    training_job,
    training_work,
    worth_offering,
)

H100_BF16_TFLOPS = 989
A100_BF16_TFLOPS = 312


def test_pretraining_flops_when_3b_params_on_60b_tokens_then_1_08e21():
    # 6 × 3e9 × 60e9 = 1.08e21 FLOPs.
    assert training_flops(3, 60e9) == pytest.approx(1.08e21)


def test_pretraining_job_when_3b_on_60b_tokens_on_8_h100_at_40_mfu_then_758_gpu_hours():
    job = training_job(3, 60e9, H100_BF16_TFLOPS, gpu_count=8, mfu=0.4, hourly_usd_per_gpu=3.0)

    # 1.08e21 / (989e12 × 0.4) = 2.730e6 s = 758.3 GPU-hours; 8 GPUs: 94.8 h + 0.5 h of
    # start-up = 95.29 h; 8 GPUs at $3 for 95.29 h: $2,287.
    assert job.gpu_hours == pytest.approx(758.3, abs=0.1)
    assert job.wall_clock_hours == pytest.approx(95.29, abs=0.01)
    assert job.total_usd == pytest.approx(2287, abs=1)


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

    # 6·3e9·6e10 = 1.08e21 FLOPs at 40 %: 758 H100-hours × $5.38 vs 2,404 A100-hours × $2.95,
    # each with 0.5 h of start-up on the whole node ($10.77 and $5.89).
    assert [r["instance_type"] for r in ranked] == ["a3-highgpu-4g", "a2-ultragpu-4g"]
    assert first is not None and first.total_usd == pytest.approx(4092, rel=0.01)
    assert second is not None and second.total_usd == pytest.approx(7087, rel=0.01)


def test_training_without_a_token_count_then_the_search_order_stays():
    spec = WorkloadSpec(task_type="training", domain="llm")

    ranked = rank_by_job_cost([A100_NODE, H100_NODE], spec, SIZED_3B, spot=False)

    assert ranked == [A100_NODE, H100_NODE]


def test_instance_without_a_dense_rate_then_ranked_after_the_priced_ones():
    unknown = {**H100_NODE, "instance_type": "mystery", "dense_tflops": None,
               "price_hourly_usd": 0.01}

    ranked = rank_by_job_cost([unknown, A100_NODE], PRETRAIN_3B, SIZED_3B, spot=False)

    assert [r["instance_type"] for r in ranked] == ["a2-ultragpu-4g", "mystery"]


# --- the fixed hours of every run: a short job does not pick eight GPUs -----------------------
L4_BOX = {"provider": "aws", "instance_type": "g6.xlarge", "gpu_model": "L4", "gpu_count": 1.0,
          "price_hourly_usd": 0.8048, "spot_price_hourly_usd": None, "dense_tflops": 121.0}
L40S_BOX = {"provider": "aws", "instance_type": "g6e.xlarge", "gpu_model": "L40S",
            "gpu_count": 1.0, "price_hourly_usd": 1.861, "spot_price_hourly_usd": None,
            "dense_tflops": 362.0}
B200_NODE = {"provider": "aws", "instance_type": "p6-b200.48xlarge", "gpu_model": "B200",
             "gpu_count": 8.0, "price_hourly_usd": 113.93, "spot_price_hourly_usd": None,
             "dense_tflops": 2250.0}
LORA_20K_CHATS = WorkloadSpec(task_type="fine_tuning", domain="llm",
                              model_needs={"fine_tuning_method": "lora"},
                              training={"dataset_examples": 20_000})
SIZED_8B = {"params_billion": 8.03}


def test_run_cost_when_fixed_hours_then_billed_at_the_whole_instance_price():
    # 1,000 TFLOP-hours on 8 GPUs of 1,000 TFLOPS: 0.125 h + 0.5 h = 0.625 h at $100/h.
    assert RUN_FIXED_HOURS == 0.5
    assert run_cost(100.0, 8, 1000.0, 1000.0) == pytest.approx(62.5)


def test_lora_on_20k_chats_then_one_gpu_leads_and_the_8_gpu_node_is_not_offered():
    ranked = rank_by_job_cost([B200_NODE, L40S_BOX, L4_BOX], LORA_20K_CHATS, SIZED_8B, False)
    offered, left_out = offered_for_job(ranked, LORA_20K_CHATS, SIZED_8B, False)

    # 20,000 × 512 tokens, 4·N·D at 30 % MFU: 304.6 TFLOP-hours. L4: 2.52 h + 0.5 h at $0.80 =
    # $2.43; L40S: 0.84 h + 0.5 h at $1.86 = $2.50; B200 node: 0.017 h + 0.5 h at $113.93 =
    # $58.9, cheapest by $/TFLOP-hour but 24× the cheapest run for a job this short.
    assert training_work(8.03, 20_000 * 512, "lora") == pytest.approx(304.6, abs=0.1)
    assert [r["instance_type"] for r in offered] == ["g6.xlarge", "g6e.xlarge"]
    assert [r["instance_type"] for r in left_out] == ["p6-b200.48xlarge"]
    first = training_cost(LORA_20K_CHATS, SIZED_8B, offered[0], False)
    assert first is not None and first.total_usd == pytest.approx(2.43, abs=0.01)
    assert first.wall_clock_hours == pytest.approx(3.02, abs=0.01)


def test_long_run_then_the_8_gpu_node_ranks_by_its_rate_its_start_up_negligible():
    pretrain = WorkloadSpec(task_type="training", domain="llm", training={"dataset_tokens": 1e11})

    ranked = rank_by_job_cost([L4_BOX, L40S_BOX, B200_NODE], pretrain, SIZED_8B, False)

    # 6·8.03e9·1e11 at 40 %: 3.35e6 TFLOP-hours. L40S 9,243 h for $17.2k; B200 node 186 h for
    # $21.2k; L4 27,653 h for $22.3k: the node now beats the L4, unlike on a 1-hour LoRA.
    assert [r["instance_type"] for r in ranked] == ["g6e.xlarge", "p6-b200.48xlarge", "g6.xlarge"]


def test_worth_offering_when_dearer_but_much_sooner_then_offered_up_to_three_times():
    assert worth_offering(cost=14.0, hours=30.0, cheapest_cost=10.0, cheapest_hours=40.0)
    assert worth_offering(cost=29.0, hours=10.0, cheapest_cost=10.0, cheapest_hours=40.0)
    assert not worth_offering(cost=31.0, hours=10.0, cheapest_cost=10.0, cheapest_hours=40.0)
    assert not worth_offering(cost=20.0, hours=30.0, cheapest_cost=10.0, cheapest_hours=40.0)


def test_worth_offering_when_more_gpus_for_a_close_price_then_only_if_much_sooner():
    # 4 consumer GPUs sharding a LoRA over PCIe for 16 % more and no time saved: not offered.
    assert not worth_offering(1.42, 3.8, 1.22, 3.5, gpus=4, cheapest_gpus=1)
    assert worth_offering(1.42, 1.5, 1.22, 3.5, gpus=4, cheapest_gpus=1)


def test_tradeoffs_when_the_node_is_left_out_then_say_what_it_would_cost_and_never_0_h():
    ranked = rank_by_job_cost([B200_NODE, L40S_BOX, L4_BOX], LORA_20K_CHATS, SIZED_8B, False)
    offered, left_out = offered_for_job(ranked, LORA_20K_CHATS, SIZED_8B, False)

    lines = job_tradeoffs(offered, left_out, LORA_20K_CHATS, SIZED_8B, False)

    assert lines[0].startswith("g6e.xlarge (1× L40S) would finish in 1.3 h for $2.50, against "
                               "3.0 h for $2.43 on g6.xlarge (1× L4)")
    assert "p6-b200.48xlarge (8× B200), would finish in 31 min but cost $58.89" in lines[1]
    assert not any(" 0 h" in line for line in lines)


def test_tradeoffs_when_an_option_runs_the_same_as_shown_then_no_line():
    twin = {**L4_BOX, "instance_type": "g6.xlarge-twin"}

    assert job_tradeoffs([L4_BOX, twin], [], LORA_20K_CHATS, SIZED_8B, False) == []


@pytest.mark.parametrize(
    ("hours", "said"),
    [(0.52, "31 min"), (0.001, "1 min"), (1.34, "1.3 h"), (30.4, "30 h"),
     (186.2, "186 h (7.8 days)")],
)
def test_duration_then_minutes_hours_or_days_never_0_h(hours, said):
    assert duration(hours) == said


def test_dataset_in_gigabytes_then_tokens_at_four_bytes_each():
    spec = WorkloadSpec(task_type="training", training={"dataset_gb": 50, "epochs": 2})

    assert training_tokens(spec) == pytest.approx(2.5e10)


def test_validator_prices_each_option_and_drops_one_24_times_the_cheapest_run():
    recs = [
        GpuRecommendation(provider="aws", instance_type=row["instance_type"], region="us-east-1",
                          gpu_model=row["gpu_model"], gpu_count=row["gpu_count"],
                          vram_total_gb=24.0, price_hourly_usd=row["price_hourly_usd"],
                          price_monthly_usd=round(row["price_hourly_usd"] * 730, 2), why="x")
        for row in (L4_BOX, L40S_BOX, B200_NODE)
    ]
    rates = {row["instance_type"]: {"dense_tflops": row["dense_tflops"]}
             for row in (L4_BOX, L40S_BOX, B200_NODE)}
    job = JobCost(kind="training", gpu_hours=1.0, wall_clock_hours=1.5, total_usd=9.99,
                  fixed_hours=0.5, dense_tflop_hours=304.55, formula="4·N·D")
    warnings: list[str] = []

    offered, repriced = price_training_runs(recs, rates, job, warnings)

    assert [r.instance_type for r in offered] == ["g6.xlarge", "g6e.xlarge"]
    assert (offered[0].run_hours, offered[0].run_usd) == (3.02, 2.43)
    assert repriced.total_usd == 2.43 and repriced.wall_clock_hours == 3.02
    assert any("removed p6-b200.48xlarge" in w for w in warnings)


def test_batch_job_with_start_up_then_every_run_pays_it():
    bare = batch_inference_job(3.6e6, 1000, hourly_usd=2.0)
    started = batch_inference_job(3.6e6, 1000, hourly_usd=2.0, fixed_hours=0.5)

    # 3.6M tokens at 1,000/s: 1 h; with the half hour of start-up, 1.5 h and $3.
    assert (bare.wall_clock_hours, bare.total_usd) == (1.0, 2.0)
    assert (started.wall_clock_hours, started.total_usd) == (1.5, 3.0)
    assert "+ 0.5" in started.formula
