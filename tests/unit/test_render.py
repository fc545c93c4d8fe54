"""The Markdown plan: each instance row says what it deploys, each model if it fits; a
training run shows its run, a deployment its month."""

from agents.render import render_plan
from agents.schemas import (
    CostEstimate,
    DeploymentPlan,
    GpuRecommendation,
    ModelRecommendation,
    WorkloadSpec,
)

INT4_BUILD = "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"


def _gpu(instance_type, gpu_model, gpu_count, **fields):
    return GpuRecommendation(
        provider="gcp", instance_type=instance_type, region="us-east4", gpu_model=gpu_model,
        gpu_count=gpu_count, vram_total_gb=24.0 * gpu_count, price_hourly_usd=0.7,
        price_monthly_usd=511.0, why="x", **fields,
    )


def _searched_options():
    return [
        _gpu("g2-standard-4", "L4", 1, instances=2, precision="fp8", kv_cache_dtype="fp8",
             tensor_parallel=1, replicas=2),
        _gpu("n1-standard-16+2xT4", "T4", 2, precision="int4", build_repo=INT4_BUILD,
             kv_cache_dtype="fp16", tensor_parallel=2, replicas=1),
    ]


def _table(markdown, heading):
    lines = markdown.splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    header, _rule, *body = rows
    return [dict(zip(header, row, strict=True)) for row in body]


def test_gpu_table_when_options_searched_then_each_row_names_weights_kv_and_tp_x_replicas():
    plan = DeploymentPlan(understanding="x", gpu_recommendations=_searched_options())

    rows = _table(render_plan(plan), "### GPU instances (cheapest that fit first)")

    assert [(r["weights"], r["KV cache"], r["TP × replicas"]) for r in rows] == [
        ("fp8", "fp8", "1 × 2"),
        (f"int4 ({INT4_BUILD})", "fp16", "2 × 1"),
    ]
    assert rows[0]["instances"] == "2" and rows[0]["$/month, all"] == "$1,022.00"


def test_gpu_table_when_no_option_has_a_configuration_then_no_configuration_columns():
    plan = DeploymentPlan(understanding="x", gpu_recommendations=[_gpu("g2-standard-4", "L4", 1)])

    rows = _table(render_plan(plan), "### GPU instances (cheapest that fit first)")

    assert "weights" not in rows[0] and "TP × replicas" not in rows[0]
    assert rows[0]["instance"] == "g2-standard-4"


def _model(model_id, params, **fields):
    return ModelRecommendation(model_id=model_id, params_b=params, score=0.7, why="x", **fields)


def test_models_table_when_fit_marked_then_each_model_says_how_it_runs_or_what_it_needs():
    plan = DeploymentPlan(understanding="x", model_recommendations=[
        _model("meta-llama/Llama-3.1-8B-Instruct", 8.03, fits_plan_gpus=True,
               fit_note="planned: fp8, TP 1 × 2 replica(s)"),
        _model("meta-llama/Llama-2-70b-chat-hf", 69.0, fits_plan_gpus=False,
               fit_note="needs bigger GPUs for 15 sequence(s) a replica: 70.3 GiB a GPU"),
    ])

    rows = _table(render_plan(plan), "### Models")

    assert [r["on this plan's GPUs"] for r in rows] == [
        "planned: fp8, TP 1 × 2 replica(s)",
        "needs bigger GPUs for 15 sequence(s) a replica: 70.3 GiB a GPU",
    ]
    assert rows[1]["params (B)"] == "69"


def test_models_table_when_no_fit_checked_then_no_fit_column():
    plan = DeploymentPlan(understanding="x", model_recommendations=[
        _model("openai/whisper-large-v3", 1.55)])

    rows = _table(render_plan(plan), "### Models")

    assert list(rows[0]) == ["model", "licence", "params (B)", "task", "score"]



def _rec(name, hourly, run=None):
    return GpuRecommendation(
        provider="aws", instance_type=name, region="us-east-1", gpu_model="L4", gpu_count=1,
        vram_total_gb=22.35, price_hourly_usd=hourly, price_monthly_usd=round(hourly * 730, 2),
        run_hours=run[0] if run else None, run_usd=run[1] if run else None, why="test",
    )


def test_training_run_then_run_time_and_cost_and_a_one_off_job_cost():
    plan = DeploymentPlan(
        understanding="u",
        gpu_recommendations=[_rec("g6.xlarge", 0.8048, (3.02, 2.43)),
                             _rec("g6e.xlarge", 1.861, (0.52, 2.50))],
        cost_estimate=CostEstimate(
            period="run", compute_monthly_usd=2.43, storage_monthly_usd=0.26,
            network_monthly_usd=0.0, total_monthly_usd=2.69,
            job={"kind": "training", "gpu_hours": 2.52, "wall_clock_hours": 3.02,
                 "total_usd": 2.43, "fixed_hours": 0.5, "formula": "4·N·D"}),
    )

    text = render_plan(plan)

    assert "| $/hour | run time | run cost |" in text
    assert "| 3.0 h | $2.43 |" in text and "| 31 min | $2.50 |" in text
    assert "### Job cost (one-off, per run)" in text and "**$2.69**" in text
    assert "$/month" not in text and "Monthly cost" not in text


def test_serving_then_the_month_of_every_option():
    plan = DeploymentPlan(
        understanding="u",
        gpu_recommendations=[_rec("g6.xlarge", 0.8048)],
        cost_estimate=CostEstimate(compute_monthly_usd=587.5, storage_monthly_usd=8.0,
                                   network_monthly_usd=45.0, total_monthly_usd=640.5),
    )

    text = render_plan(plan)

    assert "$/month, all" in text and "### Monthly cost" in text and "run cost" not in text


def test_batch_of_known_size_then_each_option_shows_its_run_and_keeps_its_configuration():
    from agents.job_costs import price_batch_runs
    from tools.search import Load, Offer, search_configurations
    from tools.throughput import load_gpus_csv

    l4 = Offer(provider="gcp", instance_type="g2-standard-4", region="us-east4",
               gpu_model="L4", gpu_count=1, gpu_memory_gb_per_gpu=24, price_hourly_usd=0.7)
    night = Load(kind="batch", concurrency=256, input_tokens=500, output_tokens=256,
                 min_tokens_per_s=1333, tokens_per_run=150_000 * 256)
    config = search_configurations("meta-llama/Llama-3.1-8B-Instruct", night, [l4],
                                   load_gpus_csv()).chosen
    assert config is not None
    spec = WorkloadSpec(task_type="batch", domain="llm",
                        scale={"documents_per_day": 150_000, "tokens_per_request": 256})
    options = [_gpu("g2-standard-4", "L4", 1, precision="fp8", kv_cache_dtype="fp8",
                    tensor_parallel=1, replicas=1,
                    est_tokens_per_s=config.estimate.tokens_per_s)]
    price_batch_runs(options, spec)
    plan = DeploymentPlan(understanding="x", configuration=config, gpu_recommendations=options)

    (row,) = _table(render_plan(plan), "### GPU instances (cheapest that fit first)")

    # 38.4M tokens at the option's rate, plus the half hour of start-up, at $0.70 an hour.
    hours = 150_000 * 256 / config.estimate.tokens_per_s / 3600 + 0.5
    assert row["weights"] == "fp8" and row["TP × replicas"] == "1 × 1"
    assert row["$ a run"] == f"${0.7 * hours:,.2f}" and "$/month, all" not in row
