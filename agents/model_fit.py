"""The plan's models, marked by whether the plan's GPUs serve them in the same role.

A plan sized for an 8B model on 24 GiB GPUs that lists a 70B model as an alternative invites
a swap the hardware cannot take. Each recommended model is tried on the plan's first
instance (``tools.model_fit``) at the load one replica carries there: the models that fit
say at which build and tensor parallel; the others say what one GPU would need, and follow
them. The models the user named stay first; the model the plan deploys says so.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from agents.schemas import DeploymentPlan, ModelRecommendation, WorkloadSpec
from tools.architecture import Architecture, architecture_from_params, load_architecture
from tools.model_fit import GpuFit, fit_on_gpus
from tools.search import Configuration
from tools.throughput import load_gpu_specs


def _build(precision: str, repo: str, model_id: str) -> str:
    return precision if repo.lower() == model_id.lower() else f"{precision} ({repo})"


def fit_words(fit: GpuFit | None, model_id: str, config: Configuration) -> str:
    """Say how a model runs on the plan's instance, or what it would need."""
    where = f"{config.gpus_per_instance}× {config.gpu_model}"
    if fit is None:
        return f"needs other GPUs: its heads do not split over {where}"
    build = _build(fit.precision, fit.build_repo, model_id)
    if fit.fits:
        return f"fits in memory: {build}, TP {fit.tensor_parallel}"
    return (f"needs bigger GPUs for {config.estimate.concurrency_per_replica} sequence(s) a "
            f"replica: {fit.per_gpu_gb:,.1f} GiB a GPU at {build}, TP {fit.tensor_parallel}; "
            f"{fit.usable_gb:,.1f} usable on {where}")


async def _architecture(
    conn: AsyncConnection[Any], model: ModelRecommendation
) -> Architecture | None:
    arch = await load_architecture(conn, model.model_id)
    if arch is None and model.params_b:
        # Sized as the planner sizes any model the catalog lacks: from its parameter count.
        arch = architecture_from_params(model.params_b)[0].model_copy(
            update={"model_id": model.model_id})
    return arch


async def mark_model_fit(
    conn: AsyncConnection[Any], plan: DeploymentPlan, spec: WorkloadSpec
) -> list[ModelRecommendation]:
    """Return the plan's models marked by fit on its first instance; named, fitting first.

    Plans without a searched configuration on their first instance are not marked: there is
    no one load per replica to check the models against (and no mark goes unchecked).
    """
    config = plan.configuration
    first = plan.gpu_recommendations[0] if plan.gpu_recommendations else None
    models = [m.model_copy(update={"fits_plan_gpus": None, "fit_note": None})
              for m in plan.model_recommendations]
    if config is None or first is None or first.instance_type != config.instance_type:
        return models
    gpu = (await load_gpu_specs(conn)).get(config.gpu_model)
    if gpu is None:
        return models
    planned = config.model_id.lower()
    named = {m.lower() for m in spec.model_needs.named_models} | {planned}
    marked = []
    for model in models:
        if model.model_id.lower() == planned:
            note = (f"planned: {_build(config.precision, config.build_repo, config.model_id)}, "
                    f"TP {config.tensor_parallel} × {config.replicas} replica(s)")
            marked.append(model.model_copy(update={"fits_plan_gpus": True, "fit_note": note}))
            continue
        arch = await _architecture(conn, model)
        if arch is None:
            marked.append(model)
            continue
        fit = fit_on_gpus(
            arch, gpu, config.gpus_per_instance, config.gpu_memory_gb,
            context_length=config.max_model_len,
            sequences=config.estimate.concurrency_per_replica,
            typical_tokens=config.input_tokens + config.output_tokens,
        )
        marked.append(model.model_copy(update={
            "fits_plan_gpus": bool(fit and fit.fits),
            "fit_note": fit_words(fit, model.model_id, config),
        }))

    def rank(model: ModelRecommendation) -> int:
        if model.model_id.lower() in named:
            return 0
        return {True: 1, None: 2, False: 3}[model.fits_plan_gpus]

    return sorted(marked, key=rank)  # stable: the search's order within each group
