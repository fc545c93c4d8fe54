"""Work that ends, priced as a job: a training run from 6·N·D, a batch run from its rate.

A plan for training, fine-tuning or batch inference carries ``cost_estimate.job``: GPU-hours,
hours on the clock and dollars for one run (and runs a month for recurring batches), so the
monthly figure is what the runs cost, not an instance kept busy 24/7.
"""

from __future__ import annotations

from typing import Any

from agents.schemas import JobCost, WorkloadSpec
from tools.jobs import Method, batch_inference_job, run_cost_key, training_job
from tools.search import Configuration

# A nightly or daily batch runs this many times a month.
RUNS_PER_MONTH = 30
# Tokens in one training example when only examples are counted (an instruction pair).
TOKENS_PER_EXAMPLE = 512


def batch_job(result: dict[str, Any], spec: WorkloadSpec) -> JobCost | None:
    """Price one run of batch work at the chosen configuration's rate, if its size is known."""
    config = Configuration.model_validate(result["chosen"])
    scale = spec.scale
    documents = scale.documents_per_day or scale.documents
    output = scale.tokens_per_request or 256
    tokens = scale.tokens_per_day or (documents * output if documents else None)
    if spec.task_type != "batch" or not tokens or config.estimate.tokens_per_s <= 0:
        return None
    job = batch_inference_job(tokens, config.estimate.tokens_per_s, gpu_count=config.gpu_count,
                              hourly_usd=config.hourly_usd)
    daily = bool(scale.documents_per_day or scale.tokens_per_day)
    return JobCost(
        gpu_hours=round(job.gpu_hours, 2),
        wall_clock_hours=round(job.wall_clock_hours, 2),
        total_usd=round(job.total_usd or 0.0, 2),
        runs_per_month=RUNS_PER_MONTH if daily else 1,
        formula=job.formula,
    )


def training_tokens(spec: WorkloadSpec) -> float | None:
    """Return the tokens a training run processes, every epoch counted; None if unsaid."""
    data = spec.training
    tokens = data.dataset_tokens or (
        data.dataset_examples * TOKENS_PER_EXAMPLE if data.dataset_examples else None
    )
    return tokens * (data.epochs or 1) if tokens else None


def training_cost(
    spec: WorkloadSpec, sizing: dict[str, Any] | None, row: dict[str, Any] | None, spot: bool
) -> JobCost | None:
    """Price a training or fine-tuning run on the first instance, if its data size is known."""
    tokens = training_tokens(spec)
    if spec.task_type not in ("training", "fine_tuning") or not tokens or not sizing or not row:
        return None
    rate, gpus = row.get("dense_tflops"), int(row.get("gpu_count") or 0)
    hourly = row.get("spot_price_hourly_usd") if spot else row.get("price_hourly_usd")
    if not rate or gpus < 1 or not hourly or not sizing.get("params_billion"):
        return None
    method: Method = "pretraining"
    if spec.task_type == "fine_tuning":
        method = spec.model_needs.fine_tuning_method or "lora"
    job = training_job(sizing["params_billion"], tokens, rate, method=method, gpu_count=gpus,
                       hourly_usd_per_gpu=hourly / gpus)
    return JobCost(
        gpu_hours=round(job.gpu_hours, 2),
        wall_clock_hours=round(job.wall_clock_hours, 2),
        total_usd=round(job.total_usd or 0.0, 2),
        runs_per_month=1,
        formula=job.formula + "; " + "; ".join(job.assumptions),
    )


def ranks_by_job(spec: WorkloadSpec) -> bool:
    """Say whether instances are ranked by what the run costs: training with a known size."""
    return spec.task_type in ("training", "fine_tuning") and training_tokens(spec) is not None


def rank_by_job_cost(
    rows: list[dict[str, Any]], spec: WorkloadSpec, sizing: dict[str, Any] | None, spot: bool
) -> list[dict[str, Any]]:
    """Order instances by the cost of the whole training run, cheapest first.

    A GPU three times as fast at twice the hourly price finishes the same job for less, so a
    training run whose tokens are known is ranked by ``run_cost_key``, not by the hour. Ties
    and unpriceable rows keep the search's order (cheapest by the hour first).
    """
    if not ranks_by_job(spec) or not sizing:
        return rows

    def key(row: dict[str, Any]) -> float:
        hourly = row.get("spot_price_hourly_usd") if spot else row.get("price_hourly_usd")
        return run_cost_key(hourly, float(row.get("gpu_count") or 0), row.get("dense_tflops"))

    return sorted(rows, key=key)


def job_tradeoffs(
    rows: list[dict[str, Any]], spec: WorkloadSpec, sizing: dict[str, Any] | None, spot: bool
) -> list[str]:
    """Compare the runners-up with the first instance by what the run costs and how long."""
    jobs = [training_cost(spec, sizing, row, spot) for row in rows]
    first, chosen = jobs[0] if jobs else None, rows[0] if rows else {}
    if first is None:
        return []
    lines = []
    for row, job in zip(rows[1:], jobs[1:], strict=True):
        if job is None:
            continue
        hourly = "cheaper" if _hourly(row, spot) < _hourly(chosen, spot) else "dearer"
        lines.append(
            f"{row['instance_type']} ({row['gpu_count']:g}× {row['gpu_model']}) is {hourly} by "
            f"the hour, but the run would cost ${job.total_usd:,.0f} over "
            f"{job.wall_clock_hours:,.0f} h, against ${first.total_usd:,.0f} over "
            f"{first.wall_clock_hours:,.0f} h on {chosen['instance_type']}"
        )
    return lines


def _hourly(row: dict[str, Any], spot: bool) -> float:
    price = row.get("spot_price_hourly_usd") if spot else row.get("price_hourly_usd")
    return float(price or 0.0)
