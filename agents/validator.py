"""Plan validator: recompute every number of a plan from the catalogs; repair or flag.

Whatever wrote the plan (template or model), nothing reaches the user unchecked: instances
and prices must exist in the catalog, monthly = hourly × 730, the GPUs must hold the sizing,
the cheapest fitting instance comes first, the total is checked against the budget, models
and charts must exist. The deployment files are then generated from the checked plan's
configuration (agents.artifacts) and the plan-consistency check (agents.consistency) reads
them back: what it still finds is shown as a warning.
"""

from __future__ import annotations

from typing import Any

import yaml
from psycopg import AsyncConnection

from agents.artifacts.configure import InstanceFacts
from agents.consistency import artifact_problems, check_plan, step_problems
from agents.constraints import OWN_PROVIDER
from agents.job_costs import option_run, ranks_by_job
from agents.model_fit import mark_model_fit
from agents.plan_builder import HOURS_PER_MONTH, cost_estimate, steps_for, with_deployment
from agents.schemas import (
    Artifact,
    DeploymentPlan,
    GpuRecommendation,
    JobCost,
    ModelRecommendation,
    WorkloadSpec,
)
from tools.catalog import model_licences
from tools.jobs import run_cost, run_cost_key, worth_offering

# A plan's GPUs must hold the sizing within this share of their memory (vLLM's default).
GPU_MEMORY_UTILIZATION = 0.9
PRICE_TOLERANCE = 0.005
# libyaml's C parser; the pure-Python one is the slowest step of validation.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


async def _instance(conn: AsyncConnection[Any], rec: GpuRecommendation) -> dict[str, Any] | None:
    cursor = await conn.execute(
        "select i.price_hourly_usd, i.spot_price_hourly_usd, i.gpu_memory_gb_total, "
        "i.gpu_count, i.gpu_model, i.memory_gb, i.vcpus, g.fp16_bf16_dense_tflops as "
        "dense_tflops from cloud.instances i left join cloud.gpus g on g.gpu_model = i.gpu_model "
        "where i.provider = %s and i.instance_type = %s and i.region = %s",
        (rec.provider, rec.instance_type, rec.region),
    )
    return await cursor.fetchone()


async def _existing(conn: AsyncConnection[Any], query: str, values: list[str]) -> set[str]:
    if not values:
        return set()
    rows = await (await conn.execute(query, (values,))).fetchall()
    return {row["name"] for row in rows}


def _fits(rec: GpuRecommendation, plan: DeploymentPlan, host_ram_gb: float | None) -> bool:
    if plan.sizing is None:
        return True
    if rec.gpu_count == 0:
        # A CPU-only plan holds the model in host memory.
        return (host_ram_gb or 0.0) + 1e-6 >= plan.sizing.total_vram_gb
    # The plan's total is at its own TP degree, with every GPU's engine overhead: an instance
    # with fewer GPUs carries that overhead fewer times.
    sizing = plan.sizing
    gpus = max(rec.gpu_count, 1.0)
    per_gpu_overhead = sizing.overhead_gb / sizing.tensor_parallel
    need = sizing.weights_gb + sizing.kv_cache_gb + per_gpu_overhead * gpus
    return rec.vram_total_gb * GPU_MEMORY_UTILIZATION + 1e-6 >= min(need, sizing.total_vram_gb)


async def _check_gpus(
    conn: AsyncConnection[Any],
    plan: DeploymentPlan,
    warnings: list[str],
    rows: dict[str, dict[str, Any]],
    by_run: bool = False,
    work: float | None = None,
) -> list[GpuRecommendation]:
    """Return the recommendations that exist, priced and fitting, cheapest first.

    ``rows`` receives each kept instance's catalog row, by instance type. ``by_run``: a
    training run priced as a job, whose cheapest is the cheapest run, not the cheapest hour
    (of ``work`` dense TFLOP-hours, its fixed hours counted, when the plan states it).
    """
    kept: list[GpuRecommendation] = []
    for rec in plan.gpu_recommendations:
        if rec.provider == OWN_PROVIDER:
            # The user's own machines: not in any catalog, and free to run.
            rec.price_hourly_usd = rec.price_monthly_usd = 0.0
            kept.append(rec)
            continue
        row = await _instance(conn, rec)
        if row is None:
            warnings.append(
                f"removed {rec.provider} {rec.instance_type} {rec.region}: "
                "not in the instance catalog"
            )
            continue
        prices = [p for p in (row["price_hourly_usd"], row["spot_price_hourly_usd"]) if p]
        if not any(abs(rec.price_hourly_usd - p) <= PRICE_TOLERANCE for p in prices):
            if row["price_hourly_usd"] is None:
                warnings.append(f"removed {rec.instance_type}: no catalog price")
                continue
            warnings.append(
                f"corrected {rec.instance_type} price from "
                f"${rec.price_hourly_usd}/h to the catalog's "
                f"${row['price_hourly_usd']}/h"
            )
            rec.price_hourly_usd = row["price_hourly_usd"]
        monthly = round(rec.price_hourly_usd * HOURS_PER_MONTH, 2)
        if abs(rec.price_monthly_usd - monthly) > 0.01:
            warnings.append(f"corrected {rec.instance_type} monthly price to hourly × 730")
            rec.price_monthly_usd = monthly
        rec.vram_total_gb = row["gpu_memory_gb_total"]
        rec.gpu_count = row["gpu_count"]
        rec.gpu_model = row["gpu_model"] or "none"
        # A searched plan's alternatives run their own precision and TP, which the search
        # fitted; the plan's sizing is the first instance's configuration.
        alternative = plan.configuration is not None and rec is not plan.gpu_recommendations[0]
        if not alternative and not _fits(rec, plan, row["memory_gb"]):
            warnings.append(
                f"removed {rec.instance_type}: {rec.vram_total_gb:g} GB of GPU memory "
                "does not hold the sizing"
            )
            continue
        rows[rec.instance_type] = row
        kept.append(rec)
    # A searched plan leads with its chosen configuration (the cheapest that carries the
    # load, a 4-bit build only where it saves enough); its alternatives follow by price.
    lead = kept[:1] if plan.configuration is not None and kept and (
        kept[0] is plan.gpu_recommendations[0]) else []
    if by_run:
        def run_key(r: GpuRecommendation) -> float:
            rate = (rows.get(r.instance_type) or {}).get("dense_tflops")
            if work is None:
                return run_cost_key(r.price_hourly_usd, r.gpu_count, rate)
            return run_cost(r.price_hourly_usd, r.gpu_count, rate, work)

        ordered = sorted(kept, key=run_key)
    else:
        ordered = lead + sorted(kept[len(lead):], key=lambda r: (
            r.price_monthly_usd * r.instances, -r.vram_total_gb))
    if [r.instance_type for r in ordered] != [r.instance_type for r in kept]:
        what = "cheapest run" if by_run else "cheapest"
        warnings.append(f"reordered the GPU recommendations {what} first")
    return ordered


async def _named_models_first(
    conn: AsyncConnection[Any], plan: DeploymentPlan, spec: WorkloadSpec
) -> list[ModelRecommendation]:
    """Put the models the user named first: a plan answers the question that was asked."""
    named = spec.model_needs.named_models
    if not named:
        return plan.model_recommendations
    rows = await (
        await conn.execute(
            "select model_id, license, params_billion, pipeline_tag from hf.models "
            "where model_id = any(%s)",
            (named,),
        )
    ).fetchall()
    facts = {row["model_id"]: row for row in rows}
    top_score = max((m.score for m in plan.model_recommendations), default=1.0)
    first = [
        ModelRecommendation(
            model_id=model_id,
            license=facts[model_id]["license"],
            params_b=facts[model_id]["params_billion"],
            pipeline_tag=facts[model_id]["pipeline_tag"],
            score=round(top_score, 4),
            why="the model you asked for",
        )
        for model_id in named
        if model_id in facts
    ]
    rest = [m for m in plan.model_recommendations if m.model_id not in facts]
    return (first + rest)[:5]


async def _licence_warnings(conn: AsyncConnection[Any], spec: WorkloadSpec) -> list[str]:
    """Warn about each named model whose licence is not one the user allowed."""
    allowed = spec.model_needs.license_allow_list
    if not allowed or not spec.model_needs.named_models:
        return []
    licences = await model_licences(conn, spec.model_needs.named_models)
    return [
        f"{model_id} is licensed {licence}, not one of the licences you allowed "
        f"({', '.join(allowed)}); the recommended models below respect the licence"
        for model_id, licence in licences.items()
        if licence not in allowed
    ]


async def validate_plan(
    conn: AsyncConnection[Any], plan: DeploymentPlan, spec: WorkloadSpec
) -> DeploymentPlan:
    """Return the plan with every number re-derived and every unknown name removed."""
    plan = plan.model_copy(deep=True)
    warnings = list(plan.warnings)
    rows: dict[str, dict[str, Any]] = {}
    job = plan.cost_estimate.job if plan.cost_estimate else None
    by_run = ranks_by_job(spec) and job is not None
    work = job.dense_tflop_hours if job is not None and job.kind == "training" else None
    plan.gpu_recommendations = await _check_gpus(conn, plan, warnings, rows, by_run, work)
    if by_run and job is not None and work is not None:
        plan.gpu_recommendations, job = price_training_runs(plan.gpu_recommendations, rows, job,
                                                    warnings)
    known_models = await _existing(
        conn,
        "select model_id as name from hf.models where model_id = any(%s)",
        [m.model_id for m in plan.model_recommendations],
    )
    for model in plan.model_recommendations:
        if model.model_id not in known_models:
            warnings.append(f"removed model {model.model_id}: not in the model catalog")
    plan.model_recommendations = [
        m for m in plan.model_recommendations if m.model_id in known_models
    ]
    plan.model_recommendations = await _named_models_first(conn, plan, spec)
    plan.model_recommendations = await mark_model_fit(conn, plan, spec)
    known_charts = await _existing(
        conn,
        "select name from k8s.charts where name = any(%s)",
        [c.chart for c in plan.kubernetes_stack],
    )
    for chart in plan.kubernetes_stack:
        if chart.chart not in known_charts:
            warnings.append(f"removed chart {chart.chart}: not in the chart catalog")
    plan.kubernetes_stack = [c for c in plan.kubernetes_stack if c.chart in known_charts]
    plan.warnings = warnings
    plan = await _deployment(conn, plan, spec, rows)
    warnings = plan.warnings
    first = plan.gpu_recommendations[0] if plan.gpu_recommendations else None
    compute = first.price_monthly_usd * _instances(plan) if first else 0.0
    if job is not None and first is not None:
        compute = job.total_usd * (job.runs_per_month or 1)  # billed while the job runs
    sizing = plan.sizing.model_dump() if plan.sizing else None
    plan.cost_estimate = cost_estimate(
        compute, sizing, spec.budget_monthly_usd, instances=_instances(plan) if first else 1,
        job=job if first is not None else None,
    )
    if not plan.gpu_recommendations and spec.budget_monthly_usd is not None:
        # Nothing to run means nothing within the budget: $0 of compute is not a plan.
        plan.cost_estimate.within_budget = False
        warnings.append(
            f"no configuration in the catalog carries this workload, so the "
            f"${spec.budget_monthly_usd:,.0f}/month budget cannot be met as asked"
        )
    warnings += await _licence_warnings(conn, spec)
    if plan.cost_estimate.within_budget is False and not any("budget" in w for w in warnings):
        warnings.append(
            f"the total ${plan.cost_estimate.total_monthly_usd:,.2f}/month is over "
            f"the ${spec.budget_monthly_usd:,.0f} budget"
        )
    versions = await (
        await conn.execute(
            "select catalog, file_sha256 from public.catalog_versions order by catalog"
        )
    ).fetchall()
    plan.sources = {row["catalog"]: row["file_sha256"][:12] for row in versions}
    plan.warnings = warnings
    warnings += [f"inconsistent plan: {problem}" for problem in check_plan(plan, spec)]
    plan.warnings = list(dict.fromkeys(warnings))
    return plan


def price_training_runs(
    recs: list[GpuRecommendation],
    rows: dict[str, dict[str, Any]],
    job: JobCost,
    warnings: list[str],
) -> tuple[list[GpuRecommendation], JobCost]:
    """Re-derive each option's run hours and cost, drop options not worth offering, reprice.

    A training run's options are each priced from the run's work at the catalog price; one
    that costs more than the cheapest run (or runs more GPUs) for no real saving in time is removed
    (``tools.jobs.worth_offering``), and the job's cost is the first option's run.
    """
    priced: list[tuple[GpuRecommendation, float, float]] = []
    for rec in recs:
        rate = (rows.get(rec.instance_type) or {}).get("dense_tflops")
        run = option_run(rec.price_hourly_usd, rec.gpu_count, rate, job)
        if run is None:
            rec.run_hours = rec.run_usd = None
            continue
        if (rec.run_hours, rec.run_usd) != run and rec.run_usd is not None:
            warnings.append(f"corrected {rec.instance_type}'s run to {run[0]:g} h, ${run[1]:,.2f}")
        rec.run_hours, rec.run_usd = run
        priced.append((rec, run[0], run[1]))
    if not priced:
        return recs, job
    cheapest, best_hours, best_cost = priced[0]
    offered = []
    for rec in recs:
        if rec.run_usd is None or rec is cheapest or worth_offering(
            rec.run_usd, rec.run_hours or 0.0, best_cost, best_hours,
            rec.gpu_count, cheapest.gpu_count,
        ):
            offered.append(rec)
        else:
            warnings.append(f"removed {rec.instance_type}: its run costs ${rec.run_usd:,.2f} "
                            f"against ${best_cost:,.2f} without finishing much sooner")
    first = priced[0][0]
    rate = float((rows.get(first.instance_type) or {}).get("dense_tflops") or 0.0)
    repriced = job.model_copy(update={
        "wall_clock_hours": first.run_hours or 0.0,
        "gpu_hours": round((job.dense_tflop_hours or 0.0) / rate, 2) if rate else job.gpu_hours,
        "total_usd": first.run_usd or 0.0,
    })
    return offered, repriced


def _instances(plan: DeploymentPlan) -> int:
    """Return the instances the plan runs: the configuration's, or one per replica."""
    if plan.deployment is None:
        return 1
    return max(plan.deployment.instances, 1) if plan.configuration else plan.deployment.replicas


def _artifacts_parse(artifacts: list[Artifact]) -> bool:
    try:
        for artifact in artifacts:
            list(yaml.load_all(artifact.content, Loader=_LOADER))
    except yaml.YAMLError:
        return False
    return True


async def _deployment(
    conn: AsyncConnection[Any],
    plan: DeploymentPlan,
    spec: WorkloadSpec,
    rows: dict[str, dict[str, Any]],
) -> DeploymentPlan:
    """Generate the files from the checked plan's configuration; keep its steps if they fit.

    Files written by a model are replaced (with a warning when they disagreed with the
    configuration): the files always come from the configuration, never from text.
    """
    # ``with_deployment`` replaces the list of files; the files themselves are not changed.
    before = list(plan.artifacts)
    first = plan.gpu_recommendations[0] if plan.gpu_recommendations else None
    row = rows.get(first.instance_type) if first else None
    facts = InstanceFacts(row.get("vcpus"), row.get("memory_gb")) if row else None
    spot = bool(
        first
        and row
        and row["spot_price_hourly_usd"]
        and abs(first.price_hourly_usd - row["spot_price_hourly_usd"]) <= PRICE_TOLERANCE
        and abs(first.price_hourly_usd - (row["price_hourly_usd"] or -1)) > PRICE_TOLERANCE
    )
    model_id = (plan.sizing.model_id if plan.sizing else None) or (
        plan.model_recommendations[0].model_id if plan.model_recommendations else None
    )
    context = None
    if model_id:
        found = await (
            await conn.execute(
                "select context_length from hf.models where model_id = %s", (model_id,)
            )
        ).fetchone()
        context = found["context_length"] if found else None
    plan = with_deployment(plan, spec, facts, spot=spot, model_max_context=context, steps=False)
    if step_problems(plan) or not plan.deployment_steps or plan.deployment is None:
        plan.deployment_steps = steps_for(plan.deployment, plan.kubernetes_stack)
    # Files identical to the ones generated from the checked configuration (the offline
    # template's always are) agree with it by construction: parsing them would find nothing.
    unchanged = [a.content for a in before] == [a.content for a in plan.artifacts]
    if before and plan.deployment and not unchanged and not _artifacts_parse(before):
        plan.warnings.append("the plan's files were not valid YAML: regenerated them")
    elif before and plan.deployment and not unchanged:
        if artifact_problems(plan.deployment, before):
            plan.warnings.append(
                "the plan's files did not match its configuration: regenerated them from it"
            )
    if plan.deployment and model_id and plan.deployment.model_id:
        known = await _existing(
            conn,
            "select model_id as name from hf.models where model_id = any(%s)",
            [plan.deployment.model_id],
        )
        if not known:
            plan.warnings.append(
                f"the files serve {plan.deployment.model_id}, which is not in the model catalog"
            )
    return plan
