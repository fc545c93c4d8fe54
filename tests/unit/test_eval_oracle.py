import math

import pytest

from agents import architect, costs, job_costs, plan_builder, validator
from agents.schemas import (
    CostEstimate,
    DeploymentPlan,
    GpuRecommendation,
    SizingSummary,
    WorkloadSpec,
)
from evals import oracle, oracle_sizing
from evals.catalog import Catalog, Instance
from evals.oracle import check_plan
from evals.oracle_sizing import fitting_degree, reference_need
from tools import jobs
from tools.sizing import default_architectures

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


def _instance(name, price, *, gpu="L4", count=1.0, per_gpu=24.0, provider="aws", region="r1"):
    total = per_gpu * count if count >= 1 else per_gpu * count
    return Instance(
        provider=provider,
        instance_type=name,
        region=region,
        gpu_model=gpu,
        gpu_count=count,
        gpu_memory_gb_per_gpu=per_gpu if gpu else None,
        gpu_memory_gb_total=total if gpu else 0.0,
        memory_gb=64.0,
        price_hourly_usd=price,
        spot_price_hourly_usd=None,
    )


def _catalog(*instances):
    return Catalog(
        instances={i.key: i for i in instances},
        gpu_vendors={"L4": "NVIDIA", "A100": "NVIDIA", "MI300X": "AMD"},
        models={},
        charts={},
        architectures={LLAMA_8B: default_architectures()[LLAMA_8B]},
    )


def _rec(inst, monthly=None):
    hourly = inst.price_hourly_usd
    return GpuRecommendation(
        provider=inst.provider,
        instance_type=inst.instance_type,
        region=inst.region,
        gpu_model=inst.gpu_model or "none",
        gpu_count=inst.gpu_count,
        vram_total_gb=inst.gpu_memory_gb_total,
        price_hourly_usd=hourly,
        price_monthly_usd=round(hourly * 730, 2) if monthly is None else monthly,
        why="test",
    )


def _plan(recs, *, total=None, within=None, warnings=(), sizing=None, storage=8.0):
    compute = recs[0].price_monthly_usd if recs else 0.0
    return DeploymentPlan(
        understanding="test",
        sizing=sizing,
        gpu_recommendations=recs,
        cost_estimate=CostEstimate(
            compute_monthly_usd=compute,
            storage_monthly_usd=storage,
            network_monthly_usd=45.0,
            total_monthly_usd=round(compute + storage + 45.0, 2) if total is None else total,
            within_budget=within,
        ),
        warnings=list(warnings),
    )


VISION = WorkloadSpec(task_type="inference", domain="vision", gpu_needed=True)
CHEAP = _instance("cheap", 0.70)
MID = _instance("mid", 1.00)
DEAR = _instance("dear", 2.00, gpu="A100", per_gpu=40.0)


def _failed(result):
    return {c.name for c in result.failures}


def test_correct_plan_then_every_check_passes():
    catalog = _catalog(CHEAP, MID, DEAR)

    result = check_plan(_plan([_rec(CHEAP), _rec(MID), _rec(DEAR)]), VISION, catalog)

    assert result.passed, result.failures


def test_reversed_ranking_then_order_and_cheapest_fail():
    catalog = _catalog(CHEAP, MID, DEAR)

    result = check_plan(_plan([_rec(DEAR), _rec(MID), _rec(CHEAP)]), VISION, catalog)

    assert {"order", "cheapest"} <= _failed(result)


def test_cheaper_fitting_instance_left_out_then_cheapest_fails():
    catalog = _catalog(CHEAP, MID, DEAR)

    result = check_plan(_plan([_rec(MID), _rec(DEAR)]), VISION, catalog)

    assert _failed(result) == {"cheapest"}
    assert "aws/cheap/r1" in result.failures[0].detail


def test_cheaper_non_cuda_or_too_small_instances_then_not_candidates():
    amd = _instance("amd", 0.10, gpu="MI300X", per_gpu=192.0)
    slice_ = _instance("slice", 0.05, count=0.25)  # a 6 GB slice: under the 16 GB floor
    catalog = _catalog(CHEAP, amd, slice_)

    result = check_plan(_plan([_rec(CHEAP)]), VISION, catalog)

    assert result.passed, result.failures


def test_provider_filter_then_other_providers_not_candidates():
    gcp = _instance("gcp-cheap", 0.10, provider="gcp")
    spec = VISION.model_copy(update={"providers": ["aws"]})

    result = check_plan(_plan([_rec(CHEAP)]), spec, _catalog(CHEAP, gcp))

    assert result.passed, result.failures


def test_monthly_price_not_hourly_times_730_then_price_fails():
    result = check_plan(_plan([_rec(CHEAP, monthly=400.0)], total=453.0), VISION, _catalog(CHEAP))

    assert "price" in _failed(result)


def test_cost_total_wrong_then_cost_fails():
    result = check_plan(_plan([_rec(CHEAP)], total=99.0), VISION, _catalog(CHEAP))

    assert _failed(result) == {"cost"}


def test_instance_not_in_catalog_then_price_fails():
    ghost = _instance("ghost", 0.01)

    result = check_plan(_plan([_rec(ghost)]), VISION, _catalog(CHEAP))

    assert "price" in _failed(result)


@pytest.mark.parametrize(
    ("within", "warnings", "ok"),
    [
        (False, ["nothing fits the $400/month budget"], True),
        (False, [], False),  # nothing fits and the plan does not say so
        (True, ["nothing fits the $400/month budget"], False),  # claims to be within
    ],
)
def test_budget_nothing_fits_then_plan_must_say_so(within, warnings, ok):
    spec = VISION.model_copy(update={"budget_monthly_usd": 400.0})

    result = check_plan(
        _plan([_rec(CHEAP)], within=within, warnings=warnings), spec, _catalog(CHEAP)
    )

    assert ("budget" not in _failed(result)) is ok


def test_over_budget_although_an_instance_fits_then_budget_fails():
    spec = VISION.model_copy(update={"budget_monthly_usd": 700.0})
    catalog = _catalog(CHEAP, MID)
    plan = _plan([_rec(MID)], within=False, warnings=["over the budget"])

    result = check_plan(plan, spec, catalog)

    assert {"budget", "cheapest"} <= _failed(result)


def _llama_spec(*, users, sequences=None):
    """Llama 3.1 8B inference for ``users`` (and ``sequences`` in flight, when stated)."""
    scale = {"concurrent_users": users}
    if sequences is not None:
        scale["concurrent_sequences"] = sequences
    return WorkloadSpec(
        task_type="inference",
        domain="llm",
        gpu_needed=True,
        model_needs={"named_models": [LLAMA_8B]},
        scale=scale,
    )


def test_llama_8b_needs_two_l4_then_tp2_is_the_fit():
    spec = _llama_spec(users=10, sequences=10)
    catalog = _catalog()
    need = reference_need(LLAMA_8B, spec, catalog)

    # 8.03e9 params × 2 bytes = 16.06e9 bytes = 14.96 GiB (sizing reports GiB).
    assert need is not None and need.weights_gb == pytest.approx(14.96, abs=0.01)
    assert fitting_degree(_instance("one", 1.0), need, None) is None
    assert fitting_degree(_instance("two", 2.0, count=2), need, None) == 2


def _llama_plan(spec, inst, **changes):
    need = reference_need(LLAMA_8B, spec, _catalog(inst))
    tp = fitting_degree(inst, need, None)
    # A plan states its total at its own TP degree: per-GPU need × TP.
    total = need.per_gpu_by_tp[tp] * tp
    sizing = SizingSummary(
        model_id=LLAMA_8B,
        precision="bf16",
        weights_gb=need.weights_gb,
        kv_cache_gb=need.kv_cache_gb,
        overhead_gb=total - need.weights_gb - need.kv_cache_gb,
        total_vram_gb=total,
        tensor_parallel=tp,
        per_gpu_gb=need.per_gpu_by_tp[tp],
    ).model_copy(update=changes)
    return _plan([_rec(inst)], sizing=sizing, storage=8.0)


def test_sizing_recomputed_then_a_wrong_weight_fails_and_the_right_one_passes():
    spec = _llama_spec(users=10, sequences=10)
    two_l4 = _instance("two", 2.0, count=2)
    catalog = _catalog(two_l4)

    good = check_plan(_llama_plan(spec, two_l4), spec, catalog)
    bad = check_plan(_llama_plan(spec, two_l4, weights_gb=8.0), spec, catalog)

    assert good.passed, good.failures
    assert "sizing" in _failed(bad)


def test_stated_tensor_parallel_not_the_smallest_fit_then_flagged():
    spec = _llama_spec(users=1)
    four_l4 = _instance("four", 4.0, count=4)
    plan = _llama_plan(spec, four_l4)
    need = reference_need(LLAMA_8B, spec, _catalog(four_l4))
    plan.sizing.tensor_parallel, plan.sizing.per_gpu_gb = 4, need.per_gpu_by_tp[4]

    result = check_plan(plan, spec, _catalog(four_l4))

    assert "tensor_parallel" in _failed(result)


def test_size_only_spec_then_sized_model_must_be_closest_in_size():
    catalog = Catalog.load()
    spec = WorkloadSpec(model_needs={"size_billion_params": 8.03})

    ok, _ = oracle.expected_model_ok(LLAMA_8B, spec, catalog)
    far, detail = oracle.expected_model_ok("meta-llama/Llama-3.1-70B-Instruct", spec, catalog)

    assert ok and not far and "70" in detail


def test_oracle_policies_then_match_the_planners_stated_ones():
    # The oracle keeps its own copies on purpose; a drift must be a deliberate decision.
    assert oracle.DEFAULT_MIN_GPU_GB == architect.DEFAULT_MIN_GPU_GB
    assert oracle.STORAGE_USD_PER_GB_MONTH == plan_builder.STORAGE_USD_PER_GB_MONTH
    assert oracle.MIN_STORAGE_GB == plan_builder.MIN_STORAGE_GB
    assert oracle.NETWORK_MONTHLY_USD == pytest.approx(
        plan_builder.NETWORK_EGRESS_GB * plan_builder.NETWORK_USD_PER_GB
    )
    assert oracle_sizing.GPU_MEMORY_UTILIZATION == validator.GPU_MEMORY_UTILIZATION
    assert oracle.HOURS_PER_MONTH == plan_builder.HOURS_PER_MONTH


FOO_13B = "acme/foo-13b"
NAMED_FOO = WorkloadSpec(
    task_type="inference",
    domain="llm",
    gpu_needed=True,
    model_needs={"named_models": [FOO_13B]},
    scale={"concurrent_users": 1, "concurrent_sequences": 1},
)
TWO_L4 = _instance("two-l4", 1.00, count=2)  # 48 GB, but only 24 per GPU
A100_40 = _instance("a100-40", 2.00, gpu="A100", per_gpu=40.0)
A100_80 = _instance("a100-80", 3.00, gpu="A100", per_gpu=80.0)


def _foo_plan(*instances):
    need = reference_need(FOO_13B, NAMED_FOO, _catalog(*instances))
    sizing = SizingSummary(
        model_id=FOO_13B,
        precision="bf16",
        weights_gb=need.weights_gb,
        kv_cache_gb=need.kv_cache_gb,
        overhead_gb=need.total_gb - need.weights_gb - need.kv_cache_gb,
        total_vram_gb=need.total_gb,
        tensor_parallel=1,
        per_gpu_gb=need.per_gpu_by_tp[1],
    )
    return _plan([_rec(i) for i in instances], sizing=sizing, storage=8.0)


def test_model_known_only_by_name_then_sized_from_the_13b_in_it():
    need = reference_need(FOO_13B, NAMED_FOO, _catalog())

    # 13e9 params × 2 bytes = 26e9 bytes = 24.21 GiB (sizing reports GiB).
    assert need is not None and need.weights_gb == pytest.approx(26e9 / 2**30)
    assert set(need.per_gpu_by_tp) == {1}  # the planner does not split it over GPUs
    assert need.gpu_floor_gb == math.ceil(need.per_gpu_by_tp[1] / 0.9) == 30
    assert fitting_degree(TWO_L4, need, None) is None
    assert fitting_degree(A100_40, need, None) == 1


def test_name_sized_model_with_the_cheapest_fit_first_then_every_check_passes():
    catalog = _catalog(TWO_L4, A100_40, A100_80)

    result = check_plan(_foo_plan(A100_40, A100_80), NAMED_FOO, catalog)

    assert result.passed, result.failures


def test_name_sized_model_top_instance_not_the_cheapest_fit_then_cheapest_fails():
    catalog = _catalog(TWO_L4, A100_40, A100_80)

    result = check_plan(_foo_plan(A100_80), NAMED_FOO, catalog)

    assert _failed(result) == {"cheapest"}
    assert "aws/a100-40/r1" in result.failures[0].detail


@pytest.mark.parametrize(
    "model_id", ["evil/jailbreak-7b", FOO_13B, "org/m-1.5b-chat", "org/b7-model", "org/no-size"]
)
def test_parameter_count_in_a_name_then_read_as_the_planner_reads_it(model_id):
    # Kept apart from the planner's parser like the policies; a drift must be deliberate.
    assert oracle_sizing.params_in_name(model_id) == architect.params_from_name(model_id)


A100_x4 = _instance("a100-x4", 12.0, gpu="A100", count=4.0, per_gpu=40.0)
H100_x4 = _instance("h100-x4", 20.0, gpu="H100", count=4.0, per_gpu=80.0)
TRAIN_ON_TOKENS = WorkloadSpec(task_type="training", domain="vision", gpu_needed=True,
                               training={"dataset_tokens": 1e10})


def _job_plan(*instances):
    plan = _plan([_rec(i) for i in instances])
    assert plan.cost_estimate is not None
    plan.cost_estimate = CostEstimate(
        compute_monthly_usd=1000.0, storage_monthly_usd=8.0, network_monthly_usd=45.0,
        total_monthly_usd=1053.0, within_budget=None,
        job={"gpu_hours": 200.0, "wall_clock_hours": 50.0, "total_usd": 1000.0,
             "runs_per_month": 1, "formula": "6·N·D"},
    )
    return plan


def _job_catalog(*instances):
    catalog = _catalog(*instances)
    return Catalog(
        instances=catalog.instances, gpu_vendors={**catalog.gpu_vendors, "H100": "NVIDIA"},
        models={}, charts={}, gpu_dense_tflops={"A100": 312.0, "H100": 989.0},
    )


def test_training_run_led_by_the_cheapest_hour_not_the_cheapest_run_then_cheapest_fails():
    # $12/h over 4 × 312 TFLOPS costs more per run than $20/h over 4 × 989.
    catalog = _job_catalog(A100_x4, H100_x4)

    wrong = check_plan(_job_plan(A100_x4, H100_x4), TRAIN_ON_TOKENS, catalog)
    right = check_plan(_job_plan(H100_x4, A100_x4), TRAIN_ON_TOKENS, catalog)

    assert {"order", "cheapest"} <= _failed(wrong)
    assert right.passed, right.failures


# --- a short LoRA: the run's fixed hours keep it off a node of eight GPUs ---------------------
L4_BOX = _instance("g6.xlarge", 0.8048, gpu="L4", per_gpu=24.0)
L40S_BOX = _instance("g6e.xlarge", 1.861, gpu="L40S", per_gpu=48.0)
B200_NODE = _instance("p6-b200.48xlarge", 113.93, gpu="B200", count=8.0, per_gpu=180.0)
LORA_20K = WorkloadSpec(task_type="fine_tuning", domain="llm", gpu_needed=True,
                        model_needs={"named_models": [LLAMA_8B], "fine_tuning_method": "lora"},
                        training={"dataset_examples": 20_000})
# 4 × 8.03e9 × (20,000 × 512) at 30 % MFU = 304.5 TFLOP-hours: hours = 304.5 / (GPUs × rate)
# + 0.5 h of start-up; cost = hourly × hours (worked by hand).
RUNS = {"g6.xlarge": (3.02, 2.43), "g6e.xlarge": (1.34, 2.50), "p6-b200.48xlarge": (0.52, 58.89)}


def _lora_plan(*instances):
    catalog = _catalog(*instances)
    catalog = Catalog(
        instances=catalog.instances,
        gpu_vendors={"L4": "NVIDIA", "L40S": "NVIDIA", "B200": "NVIDIA"},
        models={}, charts={}, architectures=catalog.architectures,
        gpu_dense_tflops={"L4": 121.0, "L40S": 362.0, "B200": 2250.0},
    )
    recs = [_rec(i).model_copy(update={"run_hours": RUNS[i.instance_type][0],
                                       "run_usd": RUNS[i.instance_type][1]}) for i in instances]
    hours, compute = RUNS[instances[0].instance_type]
    need = reference_need(LLAMA_8B, LORA_20K, catalog)
    tp = fitting_degree(instances[0], need, None)
    total = need.per_gpu_by_tp[tp] * tp
    plan = _plan(recs, sizing=SizingSummary(
        model_id=LLAMA_8B, precision="bf16", weights_gb=need.weights_gb,
        kv_cache_gb=need.kv_cache_gb, overhead_gb=total - need.weights_gb - need.kv_cache_gb,
        total_vram_gb=total, tensor_parallel=tp, per_gpu_gb=need.per_gpu_by_tp[tp],
    ))
    # A one-off run: 100 GB of volume for a day (the minimum) is $0.26; no egress.
    plan.cost_estimate = CostEstimate(
        period="run", compute_monthly_usd=compute, storage_monthly_usd=0.26,
        network_monthly_usd=0.0, total_monthly_usd=round(compute + 0.26, 2),
        job={"kind": "training", "gpu_hours": hours - 0.5, "wall_clock_hours": hours,
             "total_usd": compute, "fixed_hours": 0.5, "formula": "4·N·D"},
    )
    return plan, catalog


def test_short_lora_led_by_the_cheapest_tflop_hour_not_the_cheapest_run_then_fails():
    # The B200 node is cheapest per dense TFLOP-hour but its half hour of start-up costs $57.
    wrong, catalog = _lora_plan(B200_NODE, L40S_BOX, L4_BOX)
    right, _ = _lora_plan(L4_BOX, L40S_BOX)

    assert {"order", "cheapest"} <= _failed(check_plan(wrong, LORA_20K, catalog))
    checked = check_plan(right, LORA_20K, catalog)
    assert not {"run", "order", "cheapest", "offered", "cost"} & _failed(checked), checked.failures


def test_option_costing_24_times_the_cheapest_run_then_offered_fails():
    plan, catalog = _lora_plan(L4_BOX, L40S_BOX, B200_NODE)

    assert "offered" in _failed(check_plan(plan, LORA_20K, catalog))


def test_option_with_a_wrong_run_cost_then_run_fails():
    plan, catalog = _lora_plan(L4_BOX, L40S_BOX)
    plan.gpu_recommendations[1].run_usd = 1.86  # an hour's price, not the run's

    assert "run" in _failed(check_plan(plan, LORA_20K, catalog))


def test_training_run_priced_as_a_month_then_cost_fails():
    plan, catalog = _lora_plan(L4_BOX, L40S_BOX)
    assert plan.cost_estimate is not None
    plan.cost_estimate.period = "month"

    assert "cost" in _failed(check_plan(plan, LORA_20K, catalog))


def test_oracle_run_policies_then_match_the_planners_stated_ones():
    assert oracle.RUN_FIXED_HOURS == jobs.RUN_FIXED_HOURS
    assert oracle.TOKENS_PER_EXAMPLE == job_costs.TOKENS_PER_EXAMPLE
    assert oracle.BYTES_PER_TOKEN == job_costs.BYTES_PER_TOKEN
    assert oracle.FLOPS_PER_PARAM_TOKEN == jobs.FLOPS_PER_PARAM_TOKEN
    assert oracle.MFU == jobs.DEFAULT_MFU
    assert oracle.CLOSE_RUN_COST_RATIO == jobs.CLOSE_RUN_COST_RATIO
    assert oracle.FAST_RUN_COST_RATIO == jobs.FAST_RUN_COST_RATIO
    assert oracle.FAST_RUN_TIME_RATIO == jobs.FAST_RUN_TIME_RATIO
    assert oracle.MIN_JOB_STORAGE_HOURS == costs.MIN_JOB_STORAGE_HOURS
