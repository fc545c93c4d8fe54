"""The Markdown plan: a training run shows its run, a deployment its month."""

from agents.render import render_plan
from agents.schemas import CostEstimate, DeploymentPlan, GpuRecommendation


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
