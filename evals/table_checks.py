"""Checks that a serving plan's tables say what each option deploys.

An engineer signs a plan's instance table only if every row says what runs on it: the
weights precision, and the build when it is not the base model (an AWQ int4 repo), the KV
cache dtype, and tensor parallel × replicas. And the Models table's alternatives must be
models this hardware could serve in the same role, or say that they need other GPUs.

These checks read the plan's data and the Markdown answer the user sees; whether a model
fits the plan's GPUs is recomputed here with ``tools.sizing`` (the reference formula), from
the catalog files, at the lightest load a deployment has: one sequence at the plan's context.
"""

from __future__ import annotations

import re

from agents.schemas import DeploymentPlan, GpuRecommendation, ModelRecommendation
from evals.catalog import Catalog
from evals.oracle import Check
from tools.offers import QUANTIZED_BUILDS
from tools.sizing import (
    TP_DEGREES,
    Workload,
    architecture_from_params,
    estimate_memory,
    find_architecture,
    tensor_parallel_supported,
)

GPU_MEMORY_UTILIZATION = 0.9
PRECISIONS = frozenset({"fp32", "bf16", "fp16", "fp8", "int8", "int4"})
INFERENCE_CONTEXT = 4096
AWQ_MIN_CAPABILITY = 7.5
# How the answer marks a model that the plan's GPUs cannot serve.
NEEDS_OTHER_GPUS = "needs"


def markdown_table(response: str, heading: str) -> list[dict[str, str]]:
    """Return the rows of the first table under a heading starting with ``heading``."""
    lines = response.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if line.startswith("#") and line.lstrip("#").strip().startswith(heading)), None)
    if start is None:
        return []
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    if len(rows) < 2:
        return []
    header = [h.lower() for h in rows[0]]
    return [dict(zip(header, row, strict=False)) for row in rows[2:]]


def _column(row: dict[str, str], word: str) -> str | None:
    return next((cell for name, cell in row.items() if word in name), None)


def _row_problems(
    rec: GpuRecommendation, row: dict[str, str] | None, sized: str | None
) -> list[str]:
    label = rec.instance_type
    problems = []
    if rec.precision not in PRECISIONS:
        problems.append(f"{label}: weights precision {rec.precision!r}")
    if not rec.kv_cache_dtype:
        problems.append(f"{label}: no KV cache dtype")
    if not rec.tensor_parallel or not rec.replicas:
        problems.append(f"{label}: no tensor parallel or replicas")
    elif rec.tensor_parallel * rec.replicas > rec.gpu_count * rec.instances:
        problems.append(f"{label}: TP {rec.tensor_parallel} × {rec.replicas} replicas on "
                        f"{rec.instances}× {rec.gpu_count:g} GPUs")
    build = rec.build_repo
    if build is not None and sized is not None and build.lower() == sized.lower():
        problems.append(f"{label}: build {build} named though it is the base model")
    published = {repo.lower() for builds in QUANTIZED_BUILDS.values() for repo in builds.values()}
    if rec.precision == "int4" and (build is None or build.lower() not in published):
        problems.append(f"{label}: int4 row names no published 4-bit build ({build})")
    if row is None:
        return [*problems, f"{label}: no row in the answer's GPU table"]
    weights, kv, tp = _column(row, "weights"), _column(row, "kv"), _column(row, "tp")
    if weights is None or (rec.precision or "?") not in weights or (build and build not in weights):
        problems.append(f"{label}: table says weights {weights!r}")
    if kv is None or (rec.kv_cache_dtype or "?") not in kv:
        problems.append(f"{label}: table says KV cache {kv!r}")
    if tp is None or re.findall(r"\d+", tp) != [str(rec.tensor_parallel), str(rec.replicas)]:
        problems.append(f"{label}: table says TP × replicas {tp!r}")
    return problems


def gpu_rows_configured(plan: DeploymentPlan, response: str) -> Check:
    """Check every instance row states its build, precision, KV dtype, TP and replicas."""
    rows = markdown_table(response, "GPU instances")
    sized = plan.sizing.model_id if plan.sizing else None
    problems: list[str] = []
    if not plan.gpu_recommendations:
        problems.append("no instance recommended")
    for i, rec in enumerate(plan.gpu_recommendations):
        row = rows[i] if i < len(rows) and rows[i].get("instance") == rec.instance_type else None
        problems += _row_problems(rec, row, sized)
    return Check("gpu_rows_configured", not problems, "; ".join(problems[:4]))


def model_fits(model: ModelRecommendation, gpu: GpuRecommendation, context: int,
               catalog: Catalog) -> bool | None:
    """Say whether one instance of ``gpu`` holds the model at some build; None if unsized."""
    arch = find_architecture(model.model_id, catalog.architectures)
    if arch is None and model.params_b:
        arch, _ = architecture_from_params(model.params_b)
    if arch is None or not gpu.gpu_count:
        return None
    dtypes = ["native"]
    if gpu.gpu_model in catalog.gpu_fp8 and arch.native_dtype in ("bf16", "fp16"):
        dtypes.append("fp8")
    capability = catalog.gpu_capability.get(gpu.gpu_model, 0.0)
    if QUANTIZED_BUILDS.get(model.model_id.lower()) and capability >= AWQ_MIN_CAPABILITY:
        dtypes.append("int4")
    usable = gpu.vram_total_gb / gpu.gpu_count * GPU_MEMORY_UTILIZATION
    # Lenient on purpose: one sequence, and an fp8 KV cache tried on every GPU; a model
    # that does not fit even so cannot serve the plan's load on these GPUs.
    for dtype in dtypes:
        for kv in ("auto", "fp8"):
            workload = Workload(dtype=dtype, kv_cache_dtype=kv, context_length=context,
                                concurrent_sequences=1)
            for tp in TP_DEGREES:
                if tp > gpu.gpu_count or not tensor_parallel_supported(arch, tp):
                    continue
                if estimate_memory(arch, workload, tensor_parallel=tp).per_gpu_gb <= usable:
                    return True
    return False


def models_fit_or_labelled(
    plan: DeploymentPlan, named: list[str], response: str, catalog: Catalog
) -> Check:
    """Check each alternative model fits the plan's GPUs or is marked as needing others."""
    if not plan.gpu_recommendations:
        return Check("models_fit_or_labelled", False, "no instance recommended")
    gpu = plan.gpu_recommendations[0]
    context = (plan.sizing.context_length if plan.sizing else None) or INFERENCE_CONTEXT
    rows = {row.get("model", ""): row for row in markdown_table(response, "Models")}
    subject = {m.lower() for m in named}
    if plan.sizing and plan.sizing.model_id:
        subject.add(plan.sizing.model_id.lower())
    problems = []
    for model in plan.model_recommendations:
        if model.model_id.lower() in subject:
            continue
        fits = model_fits(model, gpu, context, catalog)
        row = " | ".join(rows.get(model.model_id, {}).values()).lower()
        if fits is not True and model.fits_plan_gpus is True:
            problems.append(f"{model.model_id} marked as fitting {gpu.gpu_model}; it does not")
        if fits is False and (model.fits_plan_gpus is not False or NEEDS_OTHER_GPUS not in row):
            problems.append(f"{model.model_id} ({model.params_b}B) does not fit "
                            f"{gpu.gpu_count:g}× {gpu.gpu_model} and is not marked so")
    return Check("models_fit_or_labelled", not problems, "; ".join(problems[:4]))


def table_checks(
    plan: DeploymentPlan,
    named: list[str],
    response: str,
    catalog: Catalog,
    *,
    rows_configured: bool | None,
    first_precision: str | None,
    builds_include: list[str],
    models_labelled: bool | None,
) -> list[Check]:
    """Run the table expectations a scenario gives."""
    checks = []
    if rows_configured is not None:
        check = gpu_rows_configured(plan, response)
        checks.append(Check(check.name, check.passed is rows_configured, check.detail))
    if first_precision is not None:
        got = plan.gpu_recommendations[0].precision if plan.gpu_recommendations else None
        checks.append(Check("first_gpu_precision", got == first_precision, f"first row {got}"))
    if builds_include:
        builds = {(g.build_repo or "").lower() for g in plan.gpu_recommendations}
        missing = [b for b in builds_include if b.lower() not in builds]
        checks.append(Check("gpu_builds_include", not missing, f"missing: {missing}"))
    if models_labelled is not None:
        check = models_fit_or_labelled(plan, named, response, catalog)
        checks.append(Check(check.name, check.passed is models_labelled, check.detail))
    return checks
