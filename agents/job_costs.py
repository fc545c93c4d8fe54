"""Work that ends, priced as a job: a training run from 6·N·D, a batch run from its rate.

A plan for training, fine-tuning or batch inference carries ``cost_estimate.job``: GPU-hours,
hours on the clock and dollars for one run (and runs a month for recurring batches), so the
cost is what the runs cost, not an instance kept busy 24/7. A training run is priced once:
each option shows its hours and its run's cost (the fixed start-up hours of ``tools.jobs``
counted), options are ranked by that cost, and one that costs several times the cheapest
run is offered only when it finishes much sooner.
"""

from __future__ import annotations

from typing import Any

from agents.schemas import GpuRecommendation, JobCost, WorkloadSpec
from agents.workload import batch_output_tokens
from tools.jobs import (
    RUN_FIXED_HOURS,
    Method,
    batch_inference_job,
    run_cost,
    run_hours,
    training_job,
    training_work,
    worth_offering,
)
from tools.search import Configuration

# A nightly or daily batch runs this many times a month.
RUNS_PER_MONTH = 30
# Tokens in one training example when only examples are counted: an instruction pair runs
# 200-500 tokens, a support chat of a few turns 500-1,000; 512 is the middle of that range.
TOKENS_PER_EXAMPLE = 512
# Raw text given in gigabytes: English prose and logs run about 4 characters, so about 4 bytes
# of UTF-8, per token with Llama-3- or Mistral-class tokenizers.
BYTES_PER_TOKEN = 4


def price_batch_runs(recs: list[GpuRecommendation], spec: WorkloadSpec) -> None:
    """Set each option's run hours and cost for one run of the batch, start-up included."""
    tokens = batch_output_tokens(spec)
    for rec in recs:
        if not tokens or not rec.est_tokens_per_s:
            continue
        job = batch_inference_job(tokens, rec.est_tokens_per_s,
                                  gpu_count=int(rec.gpu_count) * rec.instances,
                                  hourly_usd=rec.price_hourly_usd * rec.instances,
                                  fixed_hours=RUN_FIXED_HOURS)
        rec.run_hours = round(job.wall_clock_hours, 2)
        rec.run_usd = round(job.total_usd or 0.0, 2)


def batch_job(result: dict[str, Any], spec: WorkloadSpec) -> JobCost | None:
    """Price one run of batch work at the chosen configuration's rate, if its size is known."""
    config = Configuration.model_validate(result["chosen"])
    scale = spec.scale
    tokens = batch_output_tokens(spec)
    if not tokens or config.estimate.tokens_per_s <= 0:
        return None
    # Every run pays its start-up, as the search ranked it (tools.search._usd_per_million).
    job = batch_inference_job(tokens, config.estimate.tokens_per_s, gpu_count=config.gpu_count,
                              hourly_usd=config.hourly_usd, fixed_hours=RUN_FIXED_HOURS)
    daily = bool(scale.documents_per_day or scale.tokens_per_day)
    return JobCost(
        gpu_hours=round(job.gpu_hours, 2),
        wall_clock_hours=round(job.wall_clock_hours, 2),
        total_usd=round(job.total_usd or 0.0, 2),
        runs_per_month=RUNS_PER_MONTH if daily else 1,
        fixed_hours=RUN_FIXED_HOURS,
        formula=job.formula,
    )


def dataset_tokens(spec: WorkloadSpec) -> float | None:
    """Return the tokens in one pass over the data: stated, or from examples or gigabytes."""
    data = spec.training
    if data.dataset_tokens:
        return data.dataset_tokens
    if data.dataset_examples:
        return data.dataset_examples * TOKENS_PER_EXAMPLE
    if data.dataset_gb:
        return data.dataset_gb * 1e9 / BYTES_PER_TOKEN
    return None


def training_tokens(spec: WorkloadSpec) -> float | None:
    """Return the tokens a training run processes, every epoch counted; None if unsaid."""
    tokens = dataset_tokens(spec)
    return tokens * (spec.training.epochs or 1) if tokens else None


def _tokens_text(tokens: float) -> str:
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if tokens >= size:
            return f"{tokens / size:,.3g}{suffix}"
    return f"{tokens:,.0f}"


def dataset_words(spec: WorkloadSpec) -> str | None:
    """Say the dataset in the user's units, with the tokens it comes to: for the understanding."""
    data = spec.training
    tokens = dataset_tokens(spec)
    if tokens is None:
        return None
    epochs = data.epochs or 1
    passes = f"{epochs:g} epoch{'s' if epochs != 1 else ''}"
    if data.dataset_tokens:
        return f"on {_tokens_text(tokens)} tokens ({passes})"
    if data.dataset_examples:
        return f"on {data.dataset_examples:,} examples (≈{_tokens_text(tokens)} tokens, {passes})"
    return f"on {data.dataset_gb:g} GB of text (≈{_tokens_text(tokens)} tokens, {passes})"


def dataset_assumptions(spec: WorkloadSpec) -> list[str]:
    """Say how the run's tokens were derived from what the user gave."""
    data = spec.training
    tokens = dataset_tokens(spec)
    if tokens is None or spec.task_type not in ("training", "fine_tuning"):
        return []
    said = []
    if not data.dataset_tokens and data.dataset_examples:
        said.append(
            f"{data.dataset_examples:,} examples × {TOKENS_PER_EXAMPLE} tokens each (assumed: an "
            f"instruction pair or a short chat) ≈ {_tokens_text(tokens)} tokens a pass"
        )
    elif not data.dataset_tokens and data.dataset_gb:
        said.append(
            f"{data.dataset_gb:g} GB of text at about {BYTES_PER_TOKEN} bytes per token (assumed) "
            f"≈ {_tokens_text(tokens)} tokens a pass"
        )
    if not data.epochs:
        said.append("assumed 1 epoch (one pass over the data); more epochs cost in proportion")
    return said


def training_method(spec: WorkloadSpec) -> Method:
    """Return how the run trains: pre-training, or the fine-tuning method (LoRA by default)."""
    if spec.task_type == "fine_tuning":
        return spec.model_needs.fine_tuning_method or "lora"
    return "pretraining"


def method_words(spec: WorkloadSpec) -> str:
    """Name the run for a reader: "LoRA fine-tune", "full fine-tune", "training run"."""
    method = training_method(spec)
    if method == "pretraining":
        return "training run"
    return {"lora": "LoRA", "qlora": "QLoRA", "full": "full"}[method] + " fine-tune"


def run_work(spec: WorkloadSpec, sizing: dict[str, Any] | None) -> float | None:
    """Return the run's work in dense TFLOP-hours at its MFU, if its data and model are known."""
    tokens = training_tokens(spec)
    params = (sizing or {}).get("params_billion")
    if spec.task_type not in ("training", "fine_tuning") or not tokens or not params:
        return None
    return training_work(params, tokens, training_method(spec))


def _hourly(row: dict[str, Any], spot: bool) -> float | None:
    price = row.get("spot_price_hourly_usd") if spot else row.get("price_hourly_usd")
    return float(price) if price else None


def training_cost(
    spec: WorkloadSpec, sizing: dict[str, Any] | None, row: dict[str, Any] | None, spot: bool
) -> JobCost | None:
    """Price a training or fine-tuning run on one instance, if its data size is known."""
    tokens = training_tokens(spec)
    if spec.task_type not in ("training", "fine_tuning") or not tokens or not sizing or not row:
        return None
    rate, gpus = row.get("dense_tflops"), int(row.get("gpu_count") or 0)
    hourly = _hourly(row, spot)
    if not rate or gpus < 1 or not hourly or not sizing.get("params_billion"):
        return None
    job = training_job(sizing["params_billion"], tokens, rate, method=training_method(spec),
                       gpu_count=gpus, hourly_usd_per_gpu=hourly / gpus)
    return JobCost(
        kind="training",
        gpu_hours=round(job.gpu_hours, 2),
        wall_clock_hours=round(job.wall_clock_hours, 2),
        total_usd=round(job.total_usd or 0.0, 2),
        runs_per_month=1,
        fixed_hours=job.fixed_hours,
        dense_tflop_hours=job.work_tflop_hours,
        formula=job.formula + "; " + "; ".join(job.assumptions),
    )


def option_run(
    hourly_usd: float | None, gpu_count: float, dense_tflops: float | None, job: JobCost | None
) -> tuple[float, float] | None:
    """Return an option's (hours on the clock, run cost) for a training job, rounded as shown."""
    work = job.dense_tflop_hours if job is not None else None
    if work is None or not hourly_usd or not dense_tflops or gpu_count <= 0:
        return None
    hours = run_hours(work, gpu_count, dense_tflops)
    return round(hours, 2), round(run_cost(hourly_usd, gpu_count, dense_tflops, work), 2)


def ranks_by_job(spec: WorkloadSpec) -> bool:
    """Say whether instances are ranked by what the run costs: training with a known size."""
    return spec.task_type in ("training", "fine_tuning") and training_tokens(spec) is not None


def _row_cost(row: dict[str, Any], work: float, spot: bool) -> float:
    return run_cost(_hourly(row, spot), float(row.get("gpu_count") or 0), row.get("dense_tflops"),
                    work)


def rank_by_job_cost(
    rows: list[dict[str, Any]], spec: WorkloadSpec, sizing: dict[str, Any] | None, spot: bool
) -> list[dict[str, Any]]:
    """Order instances by the cost of the whole training run, cheapest first.

    A GPU three times as fast at twice the hourly price finishes the same job for less, and a
    node of eight GPUs starts up as long as one of one: so a training run whose tokens are
    known is ranked by ``tools.jobs.run_cost`` (its fixed hours counted), not by the hour.
    Ties and unpriceable rows keep the search's order (cheapest by the hour first).
    """
    work = run_work(spec, sizing)
    if not ranks_by_job(spec) or work is None:
        return rows
    return sorted(rows, key=lambda row: _row_cost(row, work, spot))


def offered_for_job(
    rows: list[dict[str, Any]], spec: WorkloadSpec, sizing: dict[str, Any] | None, spot: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split ranked rows into the options worth offering and those left out.

    The first (cheapest run) always stays; a runner-up stays when ``tools.jobs.worth_offering``
    says so: close in cost on no more GPUs, or much sooner done for a bounded premium.
    """
    work = run_work(spec, sizing)
    if not ranks_by_job(spec) or work is None or not rows:
        return rows, []
    first = rows[0]
    gpus, rate = float(first.get("gpu_count") or 0), first.get("dense_tflops")
    best_cost = _row_cost(first, work, spot)
    if best_cost == float("inf") or not rate:
        return rows, []
    best_hours = run_hours(work, gpus, rate)
    kept: list[dict[str, Any]] = [first]
    left: list[dict[str, Any]] = []
    for row in rows[1:]:
        cost = _row_cost(row, work, spot)
        offer = cost < float("inf") and worth_offering(
            cost, _row_hours(row, work), best_cost, best_hours,
            float(row["gpu_count"] or 0), gpus,
        )
        (kept if offer else left).append(row)
    return kept, left


def duration(hours: float) -> str:
    """Say a run's length for a reader: minutes under an hour, days past two."""
    if hours < 1:
        return f"{max(1, round(hours * 60)):d} min"
    if hours < 10:
        return f"{hours:.1f} h"
    if hours < 48:
        return f"{hours:.0f} h"
    return f"{hours:,.0f} h ({hours / 24:.1f} days)"


def _money(usd: float) -> str:
    return f"${usd:,.2f}"  # as the table shows it


def job_tradeoffs(
    rows: list[dict[str, Any]],
    left_out: list[dict[str, Any]],
    spec: WorkloadSpec,
    sizing: dict[str, Any] | None,
    spot: bool,
) -> list[str]:
    """Compare the runners-up with the first option by what the run costs and how long.

    A line says only what differs as shown (no "$2 over 1 h, against $2 over 1 h"); the
    fastest option left out says what more GPUs would buy, and at what price.
    """
    work = run_work(spec, sizing)
    if work is None or not rows or _row_cost(rows[0], work, spot) == float("inf"):
        return []

    def shown(row: dict[str, Any]) -> tuple[str, str]:
        # Rounded as the table rounds them (``option_run``), so a line quotes the table.
        hours = round(run_hours(work, float(row["gpu_count"]), row["dense_tflops"]), 2)
        return duration(hours), _money(round(_row_cost(row, work, spot), 2))

    first = rows[0]
    first_time, first_cost = shown(first)
    name = f"{first['instance_type']} ({first['gpu_count']:g}× {first['gpu_model']})"
    lines = []
    for row in rows[1:]:
        time, cost = shown(row)
        other = f"{row['instance_type']} ({row['gpu_count']:g}× {row['gpu_model']})"
        if (time, cost) == (first_time, first_cost):
            continue
        if time == first_time:
            lines.append(f"{other} would take the same {time} for {cost}, against {first_cost} "
                         f"on {name}")
        elif cost == first_cost:
            lines.append(f"{other} would finish in {time} for the same {cost}, against "
                         f"{first_time} on {name}")
        else:
            lines.append(f"{other} would finish in {time} for {cost}, against {first_time} for "
                         f"{first_cost} on {name}")
    priced = [r for r in left_out if _row_cost(r, work, spot) < float("inf")]
    fastest = min(priced, key=lambda r: _row_hours(r, work), default=None)
    if fastest is not None and _row_hours(fastest, work) < _row_hours(first, work):
        time, cost = shown(fastest)
        ratio = _row_cost(fastest, work, spot) / _row_cost(first, work, spot)
        lines.append(
            f"more GPUs do not pay here: the fastest option found, {fastest['instance_type']} "
            f"({fastest['gpu_count']:g}× {fastest['gpu_model']}), would finish in {time} but "
            f"cost {cost}, {ratio:,.1f}× the cheapest run, so it is not offered (its "
            f"{RUN_FIXED_HOURS:g} h of start-up is billed at its full hourly price)"
        )
    return lines


def _row_hours(row: dict[str, Any], work: float) -> float:
    return run_hours(work, float(row["gpu_count"]), row["dense_tflops"])
