"""What a plan costs: a month of running, or one run of a job, as compute, storage and network.

A deployment that serves runs 24/7 and is priced by the month: hourly × 730, block storage for
the weights, egress for its API traffic. A training run ends: it is priced once, for the hours
it takes (``cost_estimate.job``), with its volume billed for those hours and no egress.
"""

from __future__ import annotations

from typing import Any

from agents.artifacts.configure import MIN_STORAGE_GB as MIN_STORAGE_GB
from agents.artifacts.configure import storage_gb as weights_storage_gb
from agents.schemas import CostEstimate, JobCost

HOURS_PER_MONTH = 730
# Block storage for weights, checkpoints and caches: gp3/pd-balanced list prices are close to this.
STORAGE_USD_PER_GB_MONTH = 0.08
# Egress for API traffic: a stated guess, since the chat rarely says.
NETWORK_EGRESS_GB = 500
NETWORK_USD_PER_GB = 0.09
# A training run's volume is kept at least this long: the run's hours, then time to evaluate
# the result and copy the checkpoints to object storage before deleting it.
MIN_JOB_STORAGE_HOURS = 24


def storage_gb(sizing: dict[str, Any] | None) -> float:
    """Return disk to provision: three copies of the weights (download, cache, spare), ≥ 100."""
    return weights_storage_gb(float(sizing["weights_gb"]) if sizing else None)


def cost_estimate(
    compute: float,
    sizing: dict[str, Any] | None,
    budget: float | None,
    *,
    instances: int = 1,
    job: JobCost | None = None,
) -> CostEstimate:
    """Break the cost into compute, storage and network, and check the budget.

    ``compute`` is a month of the instances, or with a training ``job`` what its run costs
    (then every figure is for the run: see ``job_cost_estimate``).
    """
    if job is not None and job.kind == "training":
        return job_cost_estimate(job, sizing, budget)
    running = (
        f"compute: {instances} instances running 24/7 (hourly × {HOURS_PER_MONTH} × "
        f"{instances})"
        if instances > 1
        else f"compute: the first instance running 24/7 (hourly × {HOURS_PER_MONTH})"
    )
    if job is not None:
        running = (
            f"compute: billed while the job runs, {job.wall_clock_hours:,.2f} h × "
            f"{job.runs_per_month or 1:g} run(s) a month"
        )
    disk = storage_gb(sizing)
    storage = round(disk * STORAGE_USD_PER_GB_MONTH, 2)
    network = round(NETWORK_EGRESS_GB * NETWORK_USD_PER_GB, 2)
    total = round(compute + storage + network, 2)
    return CostEstimate(
        compute_monthly_usd=round(compute, 2),
        storage_monthly_usd=storage,
        network_monthly_usd=network,
        total_monthly_usd=total,
        within_budget=None if budget is None else total <= budget,
        job=job,
        assumptions=[
            running,
            f"storage: {disk:g} GB of block storage at ${STORAGE_USD_PER_GB_MONTH}/GB-month",
            f"network: {NETWORK_EGRESS_GB} GB egress at ${NETWORK_USD_PER_GB}/GB",
        ],
    )


def job_storage_usd(disk_gb: float, run_hours: float) -> float:
    """Return the volume's cost for a run: its hours, at least ``MIN_JOB_STORAGE_HOURS``."""
    hours = max(run_hours, MIN_JOB_STORAGE_HOURS)
    return round(disk_gb * STORAGE_USD_PER_GB_MONTH * hours / HOURS_PER_MONTH, 2)


def job_cost_estimate(
    job: JobCost, sizing: dict[str, Any] | None, budget: float | None
) -> CostEstimate:
    """Price one training run, paid once: the run's compute, its volume, no egress.

    The ``*_monthly_usd`` fields hold the run's figures (``period="run"``); a monthly budget
    is met when the run costs no more than it.
    """
    disk = storage_gb(sizing)
    storage = job_storage_usd(disk, job.wall_clock_hours)
    total = round(job.total_usd + storage, 2)
    kept = max(job.wall_clock_hours, MIN_JOB_STORAGE_HOURS)
    return CostEstimate(
        period="run",
        compute_monthly_usd=round(job.total_usd, 2),
        storage_monthly_usd=storage,
        network_monthly_usd=0.0,
        total_monthly_usd=total,
        within_budget=None if budget is None else total <= budget,
        job=job,
        assumptions=[
            "a one-off job, paid once: these figures are for one run, not a month",
            f"compute: {job.wall_clock_hours:,.2f} h on the clock, of which {job.fixed_hours:g} h "
            "of start-up, image pull, model download and checkpoint writes",
            f"storage: {disk:g} GB of block storage for {kept:,.0f} h (the run, and at least "
            f"{MIN_JOB_STORAGE_HOURS} h to copy the checkpoints off) at "
            f"${STORAGE_USD_PER_GB_MONTH}/GB-month",
            "network: $0; the data and the base weights come in (ingress is free) and the "
            "result goes to object storage in the same region",
        ],
    )


def overhead_budget(sizing: dict[str, Any] | None) -> float:
    """Return the storage and network part of a month's cost, to leave out of a budget."""
    return cost_estimate(0.0, sizing, None).total_monthly_usd
