"""Template synthesis: a DeploymentPlan from the spec and the tools' results, no LLM.

Every instance, model and chart in the plan is copied from a tool result, and every number
is computed from those results; the validator re-checks them anyway.
"""

from __future__ import annotations

from typing import Any

from agents.artifacts.build import build_artifacts
from agents.artifacts.configure import InstanceFacts, configure
from agents.artifacts.target import DeploymentTarget
from agents.configured import (
    budget_warnings,
    configurations,
    offer_warnings,
    recommendation,
    rejected_by_kind,
    row_of,
    search_assumptions,
    searched,
    shortfall_warnings,
)
from agents.configured import tradeoffs as configured_tradeoffs
from agents.constraints import OWN_PROVIDER, constraint_warnings, plan_on_own_hardware
from agents.costs import HOURS_PER_MONTH as HOURS_PER_MONTH
from agents.costs import MIN_STORAGE_GB as MIN_STORAGE_GB
from agents.costs import NETWORK_EGRESS_GB as NETWORK_EGRESS_GB
from agents.costs import NETWORK_USD_PER_GB as NETWORK_USD_PER_GB
from agents.costs import STORAGE_USD_PER_GB_MONTH as STORAGE_USD_PER_GB_MONTH
from agents.costs import cost_estimate as cost_estimate
from agents.costs import overhead_budget as overhead_budget
from agents.engine import EngineChoice
from agents.job_costs import (
    batch_job,
    dataset_words,
    job_tradeoffs,
    method_words,
    offered_for_job,
    option_run,
    price_batch_runs,
    rank_by_job_cost,
    ranks_by_job,
    training_cost,
)
from agents.schemas import (
    ChartRecommendation,
    DeploymentPlan,
    GpuRecommendation,
    JobCost,
    ModelRecommendation,
    SizingSummary,
    WorkloadSpec,
)
from tools.search import Configuration


def own_rows_used(rows: list[dict[str, Any]]) -> bool:
    """Say whether the plan runs on the user's own nodes (no search of rented instances)."""
    return bool(rows) and rows[0].get("provider") == OWN_PROVIDER
# How a warning names a search that failed this turn (the plan is built without its results).
SKIPPED_SEARCHES = {
    "hf_model_search": "model search",
    "compute_search": "instance search",
    "k8s_chart_search": "Helm chart search",
    "vram_sizing": "VRAM sizing",
    "local_cluster": "the local cluster check",
}


def _gpu_row(
    row: dict[str, Any], rank: int, spot: bool, job: JobCost | None = None
) -> GpuRecommendation:
    hourly = row["spot_price_hourly_usd"] if spot else row["price_hourly_usd"]
    run = option_run(hourly, float(row["gpu_count"] or 0), row.get("dense_tflops"), job)
    why = [f"#{rank} by " + ("the cost of the run" if run else "price") + " among instances "
           "that fit"]
    if row["provider"] == OWN_PROVIDER:
        why = ["runs on the hardware you already have (compute cost $0)"]
    if row.get("tensor_parallel"):
        why.append(f"runs the model at tensor parallel {row['tensor_parallel']}")
    why.append(f"price from {row['source']}")
    return GpuRecommendation(
        provider=row["provider"],
        instance_type=row["instance_type"],
        region=row["region"],
        gpu_model=row["gpu_model"] or "none",
        gpu_count=row["gpu_count"],
        vram_total_gb=row["gpu_memory_gb_total"],
        price_hourly_usd=hourly,
        price_monthly_usd=round(hourly * HOURS_PER_MONTH, 2),
        est_tokens_per_s=row.get("est_tokens_per_s"),
        usd_per_1m_tokens=row.get("usd_per_1m_tokens"),
        run_hours=run[0] if run else None,
        run_usd=run[1] if run else None,
        why="; ".join(why),
    )


def _sizing_summary(
    sizing: dict[str, Any],
    fit: dict[str, Any] | None,
    first_row: dict[str, Any] | None,
    workload: dict[str, Any],
) -> SizingSummary:
    extra = sizing["activations_gb"] + sizing["overhead_gb"]
    extra += sizing["gradients_gb"] + sizing["optimizer_gb"]
    tp, per_gpu = sizing["tensor_parallel"], sizing["per_gpu_gb"]
    # Show the split the first recommended instance actually runs.
    chosen_tp = (first_row or {}).get("tensor_parallel")
    total = sizing["total_vram_gb"]
    if fit and chosen_tp and str(chosen_tp) in fit.get("per_gpu_gb_by_tp", {}):
        # Total and per-GPU figures at the same degree: sharding replicates some memory.
        tp, per_gpu = chosen_tp, fit["per_gpu_gb_by_tp"][str(chosen_tp)]
        total = fit.get("total_vram_gb_by_tp", {}).get(str(chosen_tp), total)
    return SizingSummary(
        model_id=sizing.get("model_id"),
        precision=sizing["dtype"],
        weights_gb=sizing["weights_gb"],
        kv_cache_gb=sizing["kv_cache_gb"],
        # At TP > 1 every GPU carries its own engine overhead: the breakdown still sums.
        overhead_gb=round(max(extra, total - sizing["weights_gb"] - sizing["kv_cache_gb"]), 3),
        total_vram_gb=total,
        tensor_parallel=tp,
        per_gpu_gb=round(per_gpu, 3),
        context_length=workload.get("context_length"),
        kv_cache_dtype=sizing.get("kv_cache_dtype") or "auto",
        kv_cache_worst_case_gb=sizing.get("kv_cache_worst_case_gb"),
        assumptions=list(sizing.get("assumptions", []))[:8],
    )


DOMAIN_WORDS = {
    "llm": "a language model (LLM)",
    "nlp": "an NLP model",
    "speech": "a speech model",
    "image_generation": "an image-generation model",
    "vision": "a vision model",
    "embeddings": "an embedding model",
    "multimodal": "a vision-language model",
    "tabular": "a tabular model",
}


def _understanding(spec: WorkloadSpec) -> str:
    task = (spec.task_type or "workload").replace("_", "-")
    training = spec.task_type in ("training", "fine_tuning")
    if training:
        task = "a " + method_words(spec)
    parts = [f"{task} of {DOMAIN_WORDS.get(spec.domain or '', 'an ML model')}"]
    if spec.model_needs.named_models:
        parts.append("(" + ", ".join(spec.model_needs.named_models) + ")")
    elif spec.model_needs.size_billion_params:
        parts.append(f"of about {spec.model_needs.size_billion_params:g}B parameters")
    # A job reads a dataset; it carries no users (a count of chats there is the data).
    parts += [words] if training and (words := dataset_words(spec)) else []
    parts += [] if training else _load_words(spec)
    if spec.latency.ttft_ms:
        parts.append(f"with the first token within {spec.latency.ttft_ms:,.0f} ms")
    if spec.latency.tpot_ms:
        parts.append(f"at {spec.latency.tpot_ms:g} ms per output token")
    if spec.budget_monthly_usd and ranks_by_job(spec):
        parts.append(f"within a ${spec.budget_monthly_usd:,.0f} budget for the run")
    elif spec.budget_monthly_usd:
        parts.append(f"under ${spec.budget_monthly_usd:,.0f}/month")
    if spec.providers:
        parts.append("on " + " or ".join(p.upper() for p in spec.providers))
    own = spec.own_hardware
    if own.gpu_model:
        nodes, per_node = own.nodes or 1, own.gpus_per_node or 1
        parts.append(f"on your own {nodes} node(s) of {per_node}× {own.gpu_model}")
    if spec.data_residency:
        parts.append(f"with the data kept in {spec.data_residency}")
    if spec.hardware.spot_allowed:
        parts.append("(spot capacity allowed)")
    return "You want " + " ".join(parts) + "."


def _load_words(spec: WorkloadSpec) -> list[str]:
    """Say the load in the units the user gave."""
    scale = spec.scale
    said = []
    if scale.concurrent_users:
        said.append(f"for {scale.concurrent_users:,} concurrent users")
    elif scale.concurrent_streams:
        said.append(f"for {scale.concurrent_streams:,} live streams at once")
    elif scale.concurrent_sequences:
        said.append(f"for {scale.concurrent_sequences:,} concurrent requests")
    if scale.requests_per_second:
        said.append(f"at {scale.requests_per_second:g} requests/s")
    if scale.images_per_second:
        said.append(f"at {scale.images_per_second:g} images/s")
    if scale.tokens_per_day:
        said.append(f"for {scale.tokens_per_day:,.0f} tokens a day")
    if scale.documents_per_day:
        said.append(f"for {scale.documents_per_day:,} documents a day")
    elif scale.documents:
        said.append(f"over {scale.documents:,} documents")
    if scale.audio_hours_per_month:
        said.append(f"for {scale.audio_hours_per_month:,.0f} hours of audio a month")
    return said


def steps_for(target: DeploymentTarget | None, charts: list[ChartRecommendation]) -> list[str]:
    """Return the ordered steps for the target's hardware: GPU checks only when it has GPUs."""
    pool = f" ({target.instance_type})" if target and target.instance_type else ""
    # A batch is priced for the hours it runs: its GPU nodes must not outlive it.
    scaling = (
        ", scaling from zero nodes (cluster autoscaler or Karpenter) so that its GPU nodes run "
        "only while the batch does"
        if target and target.workload == "batch" and not target.cpu_only
        else ""
    )
    steps = [
        "Create a Kubernetes cluster (EKS, GKE, AKS or self-managed) with a node pool "
        f"of the first recommended instance type{pool}{scaling}."
    ]
    if target and target.provider == OWN_PROVIDER:
        steps = [
            "Use your own cluster: point kubectl at it and check that the nodes with "
            f"{target.gpu_model} GPUs are Ready (kubectl get nodes)."
        ]
    for chart in charts:
        steps.append(
            f"helm install {chart.chart} ({chart.repo or 'its repository'}"
            f"{', version ' + chart.version if chart.version else ''}): {chart.purpose}."
        )
    if target is None:
        steps.append(
            "The deployment files are withheld (see the notes): change the request or the "
            "budget so that an instance fits, then plan again."
        )
        return steps
    if target.gpu_count and not target.cpu_only:
        steps.append(
            f"Check the {target.gpu_model} GPUs are schedulable and labelled by GPU feature "
            "discovery: kubectl get nodes -L nvidia.com/gpu.product."
        )
    if target.model_repo and target.engine != "Ollama":
        steps.append(
            "For gated models, store a Hugging Face token: "
            "kubectl create secret generic hf-token --from-literal=token=$HF_TOKEN."
        )
    if target.engine == "Triton":
        steps.append(
            "Put the Triton model repository in /models (replace the model-cache emptyDir "
            "with a volume holding it)."
        )
    if target.workload == "batch" and target.batch_input != "requests":
        steps.append(
            f"Create a PersistentVolumeClaim named {target.name}-data (ReadWriteMany when "
            f"{target.replicas} workers share it) and copy the audio under audio/ on it."
        )
        steps.append(
            "Apply workload.yaml to run the Indexed Job: each worker transcribes its share of "
            "the files into transcripts/ and the Job completes when all are done."
        )
    elif target.workload == "batch":
        share = (
            f"at least {target.replicas} files, one share per worker"
            if target.replicas > 1
            else "in one or more files"
        )
        shared = ""
        if target.replicas > 1:
            shared = f" (ReadWriteMany: {target.replicas} workers share it)"
        steps.append(
            f"Create a PersistentVolumeClaim named {target.name}-data{shared} and write the "
            "requests under requests/ on it as OpenAI batch files (JSONL, one "
            "/v1/chat/completions request a line, "
            f"\"model\": \"{target.model_id}\"), {share}."
        )
        when = (
            f"The CronJob starts the Indexed Job at {target.schedule} (cron, UTC) each day"
            if target.schedule
            else "Apply workload.yaml to run the Indexed Job"
        )
        steps.append(
            f"{'Apply workload.yaml. ' if target.schedule else ''}{when}: each worker runs its "
            "files through vLLM's run_batch into results/ (a file already there is skipped, so "
            "a retried worker resumes) and the GPUs are released when the batch is done."
        )
    elif target.workload == "train":
        runner = {"PyTorchJob": "the training operator's PyTorchJob", "RayJob": "KubeRay's RayJob"}
        steps.append(
            "Build an image with your training script (train.py) and data access; "
            f"apply workload.yaml to run {runner.get(target.launcher, 'the Job')}."
        )
        steps.append(
            "Follow loss and metrics as the Job runs; keep checkpoints on the volume "
            "and register the final model."
        )
    else:
        steps.append(f"Apply workload.yaml to run {target.engine}; wait for the pods to be Ready.")
        steps.append("Smoke-test the endpoint, then load-test at the target concurrency.")
    return steps


def build_plan(
    spec: WorkloadSpec,
    engine: EngineChoice,
    results: dict[str, Any],
    sources: dict[str, str],
) -> DeploymentPlan:
    """Assemble the plan from the architect's tool results."""
    sizing = results.get("sizing")
    compute = results.get("compute") or {"results": [], "rejected": {}}
    fallback = results.get("compute_without_budget")
    spot = bool(results.get("spot"))
    rows = compute["results"] or (fallback["results"] if fallback else [])
    warnings: list[str] = []
    if spec.own_hardware.gpu_model or spec.own_hardware.cloud_allowed is False:
        own_rows, own_warnings = plan_on_own_hardware(
            spec, fallback or compute, results.get("gpu_memory_gb") or {}
        )
        warnings += own_warnings
        if own_rows is not None:
            rows, compute, fallback = own_rows, {**compute, "results": own_rows}, None
    left_out: list[dict[str, Any]] = []
    job = None
    if not own_rows_used(rows):
        rows = rank_by_job_cost(rows, spec, sizing, spot)
        rows, left_out = offered_for_job(rows, spec, sizing, spot)
        job = training_cost(spec, sizing, rows[0], spot) if rows else None
    gpus = [_gpu_row(row, i + 1, spot, job) for i, row in enumerate(rows[:3])]
    found = searched(results) if not own_rows_used(rows) else None
    if found is not None:
        # The configuration search chose what runs: its instances, memory and price lead.
        configs = configurations(found)
        gpus = [recommendation(config, i + 1) for i, config in enumerate(configs)]
        rows = [row_of(configs[0], found.get("instance"))]
        sizing = found["sizing"]
        fallback = None
        compute = {"results": rows, "rejected": rejected_by_kind(found)}
    warnings += constraint_warnings(spec, results, rows)
    if found is None and not compute["results"] and fallback and fallback["results"]:
        cheapest = gpus[0]
        warnings.append(
            f"nothing fits the ${spec.budget_monthly_usd:,.0f}/month budget; the cheapest "
            f"instance that fits is {cheapest.provider} {cheapest.instance_type} at "
            f"${cheapest.price_monthly_usd:,.2f}/month"
        )
    elif not rows and spec.gpu_needed is not False and spec.own_hardware.cloud_allowed is not False:
        warnings.append("no instance in the catalog fits this workload")
    for name, reason in (results.get("skipped") or {}).items():
        what = SKIPPED_SEARCHES.get(name, f"the {name} tool")
        warnings.append(f"{what} was skipped ({reason[:200]}); the plan is built without it")
    models = [
        ModelRecommendation(
            model_id=hit["model_id"],
            license=hit["license"],
            params_b=hit["params_billion"],
            pipeline_tag=hit["pipeline_tag"],
            score=round(hit["score"], 4),
            why=hit["why"],
        )
        for hit in (results.get("hf") or {}).get("results", [])[:5]
    ]
    charts = [
        ChartRecommendation(
            chart=c["name"], version=c["version"], repo=c["repo"], purpose=c["purpose"]
        )
        for c in results.get("charts", [])
    ]
    tradeoffs = [f"{engine.engine}: {engine.why}"]
    if found is not None:
        tradeoffs += configured_tradeoffs(found)
    elif job is not None:
        tradeoffs += job_tradeoffs(rows[:3], left_out, spec, sizing, spot)
    elif len(gpus) > 1:
        delta = gpus[1].price_monthly_usd - gpus[0].price_monthly_usd
        tradeoffs.append(
            f"{gpus[1].instance_type} costs ${delta:,.0f}/month more than "
            f"{gpus[0].instance_type} for {gpus[1].vram_total_gb:g} GB of GPU memory"
        )
    if spot:
        tradeoffs.append("spot prices can be reclaimed at short notice; keep a fallback pool")
    workload = results.get("workload") or {}
    if found is not None:
        job = batch_job(found, spec)
        if job is not None:
            price_batch_runs(gpus, spec)
    compute_monthly = gpus[0].price_monthly_usd * gpus[0].instances if gpus else 0.0
    if job is not None:
        compute_monthly = job.total_usd * (job.runs_per_month or 1)
    costs = cost_estimate(compute_monthly, sizing, spec.budget_monthly_usd,
                          instances=gpus[0].instances if gpus else 1, job=job)
    if found is not None:
        warnings += shortfall_warnings(found) + offer_warnings(found)
        warnings += budget_warnings(found, spec, costs.total_monthly_usd)
    assumed = results.get("assumptions", [])
    if found is not None:
        assumed = search_assumptions(found, spec, assumed)
    plan = DeploymentPlan(
        understanding=_understanding(spec),
        assumptions=list(dict.fromkeys([*spec.assumptions, *assumed])),
        sizing=_sizing_summary(
            sizing, (fallback or compute).get("fit"), rows[0] if rows else None, workload
        )
        if sizing
        else None,
        gpu_recommendations=gpus,
        rejected_summary={k: v["count"] for k, v in compute.get("rejected", {}).items()},
        model_recommendations=models,
        serving_engine=engine.engine,
        serving_engine_why=engine.why,
        kubernetes_stack=charts,
        cost_estimate=costs,
        configuration=Configuration.model_validate(found["chosen"]) if found else None,
        tradeoffs=tradeoffs,
        warnings=warnings,
        sources=sources,
    )
    facts = InstanceFacts(rows[0].get("vcpus"), rows[0].get("memory_gb")) if rows else None
    return with_deployment(plan, spec, facts, spot=spot)


def with_deployment(
    plan: DeploymentPlan,
    spec: WorkloadSpec,
    facts: InstanceFacts | None,
    *,
    spot: bool = False,
    model_max_context: int | None = None,
    steps: bool = True,
) -> DeploymentPlan:
    """Set the plan's deployment target and its files (and steps) from its structured fields."""
    target, notes = configure(plan, spec, facts, spot=spot, model_max_context=model_max_context)
    plan.deployment = target
    plan.artifacts = build_artifacts(target) if target else []
    if steps:
        plan.deployment_steps = steps_for(target, plan.kubernetes_stack)
    if target and target.engine != plan.serving_engine:
        plan.serving_engine = target.engine
    plan.warnings = list(dict.fromkeys([*plan.warnings, *notes]))
    return plan
