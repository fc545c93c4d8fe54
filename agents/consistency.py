"""Plan consistency: the files, the steps and the costs say what the configuration says.

``check_plan`` reads a plan's generated files back (YAML parsed, never matched as text where
structure exists) and compares them with its deployment target, its sizing and its first
instance. It returns the problems in words; the validator repairs what it can and shows
the rest as warnings, so no inconsistent plan is served silently.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from agents.artifacts.configure import (
    LLM_ENGINES,
    quantization_for,
    unsized_need_gb,
)
from agents.artifacts.engines import image_arches, image_for, ray_image
from agents.artifacts.kubernetes import pod_templates
from agents.artifacts.skypilot import SKYPILOT_CLOUDS
from agents.artifacts.target import GPU_MEMORY_UTILIZATION, DeploymentTarget
from agents.schemas import Artifact, DeploymentPlan, WorkloadSpec

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
GPU_RESOURCE = "nvidia.com/gpu"
WITHHELD = "withheld"
# Words a step about GPUs uses; a CPU-only plan's steps use none of them.
GPU_WORDS = ("gpu", "nvidia", "cuda")


def _docs(artifact: Artifact) -> list[Any]:
    return [d for d in yaml.load_all(artifact.content, Loader=_LOADER) if d is not None]


def _flags(args: list[str]) -> dict[str, str]:
    """Read ``--flag value`` pairs from an argument list."""
    flags: dict[str, str] = {}
    for i, word in enumerate(args):
        if word.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            flags[word] = args[i + 1]
    return flags


def _engine_problems(target: DeploymentTarget, args: list[str], where: str) -> list[str]:
    """Compare vLLM's flags in one file with the target (a server's, or an LLM batch's)."""
    if target.engine != "vLLM" or target.workload == "train":
        return []
    if target.workload == "batch" and target.batch_input != "requests":
        return []  # a transcription batch scripts its own server
    flags = _flags(args)
    problems = []
    expected = {
        "--tensor-parallel-size": str(target.tensor_parallel),
        "--kv-cache-dtype": target.kv_cache_dtype,
        "--model": target.model_repo,
    }
    if target.max_model_len:
        expected["--max-model-len"] = str(target.max_model_len)
    if target.quantization:
        expected["--quantization"] = target.quantization
    if target.gpu_memory_utilization:
        expected["--gpu-memory-utilization"] = f"{target.gpu_memory_utilization:g}"
    for flag, value in expected.items():
        if flags.get(flag) != value:
            problems.append(f"{where}: {flag} is {flags.get(flag)!r}, the plan says {value!r}")
    if flags.get("--tensor-parallel-size") == "0":
        problems.append(f"{where}: tensor parallel 0")
    if not target.quantization and "--quantization" in flags:
        problems.append(f"{where}: --quantization {flags['--quantization']} on unquantized weights")
    return problems


def _manifest_problems(target: DeploymentTarget, artifact: Artifact) -> list[str]:
    docs = _docs(artifact)
    where = artifact.filename
    kinds = [d.get("kind") for d in docs]
    problems: list[str] = []
    kinds_by_workload = {"serve": "Deployment", "batch": "CronJob" if target.schedule else "Job"}
    expected_kind = kinds_by_workload.get(target.workload, target.launcher)
    if expected_kind not in kinds:
        problems.append(f"{where}: no {expected_kind} (has {', '.join(map(str, kinds))})")
    if target.workload != "serve" and "Deployment" in kinds:
        problems.append(f"{where}: a {target.workload} plan runs as a Deployment")
    if target.workload == "serve" and target.replicas > 1 and "PodDisruptionBudget" not in kinds:
        problems.append(f"{where}: {target.replicas} replicas and no PodDisruptionBudget")
    pods = []
    for doc in docs:
        if doc.get("kind") not in ("Deployment", "Job", "CronJob", "PyTorchJob", "RayJob"):
            continue
        if doc["kind"] == "Deployment" and doc["spec"].get("replicas") != target.replicas:
            problems.append(f"{where}: replicas {doc['spec'].get('replicas')} ≠ {target.replicas}")
        pods += [template["spec"] for template in pod_templates(doc)]
    for pod in pods:
        for c in pod["containers"]:
            if c.get("image") != target.image:
                problems.append(f"{where}: image {c.get('image')} ≠ {target.image}")
            res = c.get("resources", {})
            gpus = {res.get(k, {}).get(GPU_RESOURCE) for k in ("requests", "limits")} - {None}
            want = {target.gpu_count} if target.gpu_count and not target.cpu_only else set()
            if gpus != want:
                problems.append(f"{where}: requests {sorted(gpus)} GPUs, the plan sized {want}")
            problems += _engine_problems(target, list(c.get("args") or []), where)
            if target.workload == "serve" and c.get("ports") and "readinessProbe" not in c:
                problems.append(f"{where}: no readiness probe on the engine's health endpoint")
        shm = [
            v for v in pod.get("volumes", []) if v.get("emptyDir", {}).get("medium") == "Memory"
        ]
        if target.tensor_parallel > 1 and not shm:
            problems.append(f"{where}: tensor parallel {target.tensor_parallel} without /dev/shm")
        if not target.cpu_only and target.gpu_model and "affinity" not in pod:
            problems.append(f"{where}: nothing pins the pod to the {target.gpu_model}")
    return problems


def _compose_problems(target: DeploymentTarget, artifact: Artifact) -> list[str]:
    (doc,) = _docs(artifact)
    problems = []
    for name, service in doc.get("services", {}).items():
        devices = (
            service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
        )
        count = sum(d.get("count", 0) for d in devices or [])
        want = 0 if target.cpu_only else target.gpu_count
        if count != want:
            problems.append(f"{artifact.filename}: {name} reserves {count} GPUs, plan sized {want}")
        if service.get("image") != target.image:
            problems.append(f"{artifact.filename}: image {service.get('image')} ≠ {target.image}")
        problems += _engine_problems(target, list(service.get("command") or []), artifact.filename)
    return problems


def _skypilot_problems(target: DeploymentTarget, artifact: Artifact) -> list[str]:
    (doc,) = _docs(artifact)
    resources = doc.get("resources", {})
    problems = []
    want = (
        {target.gpu_model: target.gpu_count}
        if target.gpu_count and not target.cpu_only and target.gpu_model
        else None
    )
    if resources.get("accelerators") != want:
        got = resources.get("accelerators")
        problems.append(f"{artifact.filename}: accelerators {got} ≠ {want}")
    launchable = target.provider in SKYPILOT_CLOUDS
    for key, value in (("cloud", target.provider), ("region", target.region)):
        if launchable and value and resources.get(key) != value:
            problems.append(f"{artifact.filename}: {key} {resources.get(key)} ≠ {value}")
    run = str(doc.get("run", ""))
    problems += _engine_problems(target, run.split(), artifact.filename)
    return problems


def artifact_problems(target: DeploymentTarget, artifacts: list[Artifact]) -> list[str]:
    """Return where the files disagree with the target."""
    problems: list[str] = []
    for artifact in artifacts:
        try:
            if artifact.kind == "kubernetes_manifest":
                problems += _manifest_problems(target, artifact)
            elif artifact.kind == "compose":
                problems += _compose_problems(target, artifact)
            elif artifact.kind == "skypilot":
                problems += _skypilot_problems(target, artifact)
        except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"{artifact.filename}: unreadable ({type(exc).__name__})")
        if target.cpu_only and GPU_RESOURCE in artifact.content:
            problems.append(f"{artifact.filename}: a CPU-only plan requests {GPU_RESOURCE}")
    return problems


def target_problems(plan: DeploymentPlan, spec: WorkloadSpec) -> list[str]:
    """Return where the target disagrees with the plan's sizing and first instance."""
    target = plan.deployment
    if target is None:
        return []
    problems: list[str] = []
    first = plan.gpu_recommendations[0] if plan.gpu_recommendations else None
    if first is None:
        return ["deployment files for a plan with no instance"]
    if (first.provider, first.instance_type, first.region) != (
        target.provider,
        target.instance_type,
        target.region,
    ):
        problems.append(f"the files target {target.instance_type}, the plan {first.instance_type}")
    cpu_only = spec.gpu_needed is False or first.gpu_count == 0
    if cpu_only != target.cpu_only:
        problems.append("the files and the instance disagree on CPU-only")
    if not target.cpu_only:
        count = max(1, math.floor(first.gpu_count))
        if target.gpu_model != first.gpu_model:
            problems.append(f"the files pin {target.gpu_model}, the instance has {first.gpu_model}")
        if not 1 <= target.tensor_parallel <= count or target.gpu_count > count:
            problems.append(
                f"tensor parallel {target.tensor_parallel} × {target.gpu_count} GPUs on a "
                f"{first.gpu_count:g}-GPU instance"
            )
        per_gpu = first.vram_total_gb / max(first.gpu_count, 1)
        usable = target.tensor_parallel * per_gpu * GPU_MEMORY_UTILIZATION
        if plan.sizing and usable + 1e-6 < plan.sizing.total_vram_gb:
            problems.append(
                f"tensor parallel {target.tensor_parallel} × {per_gpu:g} GB does not hold "
                f"the {plan.sizing.total_vram_gb:g} GB sized"
            )
        if plan.sizing is None and target.engine in LLM_ENGINES and target.model_id:
            params = next(
                (m.params_b for m in plan.model_recommendations if m.model_id == target.model_id),
                None,
            )
            if params and unsized_need_gb(params) > usable + 1e-6:
                problems.append(
                    f"{target.model_id} ({params:g}B) is not sized and needs about "
                    f"{unsized_need_gb(params):,.0f} GB; the GPUs hold {usable:,.1f} GB"
                )
    if target.engine in ("vLLM", "TGI") and target.workload == "serve" and plan.sizing:
        quantization, _repo = quantization_for(plan.sizing.precision, target.model_id)
        if quantization != target.quantization:
            problems.append(
                f"weights sized in {plan.sizing.precision} but the engine loads them with "
                f"quantization {target.quantization}"
            )
        context = plan.sizing.context_length
        capped = any("capped" in note for note in target.notes)
        if context and target.max_model_len != context and not capped and spec.domain != "speech":
            problems.append(
                f"max model length {target.max_model_len} ≠ the {context} tokens sized for"
            )
    expected_image = image_for(target.engine, target.gpu_model, target.cpu_only, target.arch)
    if target.launcher == "RayJob":
        expected_image = ray_image(target.cpu_only)
    if target.image != expected_image:
        problems.append(f"image {target.image} is not the build for the hardware: {expected_image}")
    if target.arch not in image_arches(target.image) and not any(
        "arm64" in w for w in plan.warnings
    ):
        problems.append(f"{target.image} has no {target.arch} build and no warning says so")
    return problems


def step_problems(plan: DeploymentPlan) -> list[str]:
    """Return steps that do not fit the hardware (GPU checks on a CPU-only plan)."""
    target = plan.deployment
    if target is None or not target.cpu_only:
        return []
    # Instance names may contain the words ("gpu_1x_..."); they are not about GPUs.
    names = [n for n in (target.instance_type, target.name) if n]
    problems = []
    for step in plan.deployment_steps:
        text = step
        for name in names:
            text = text.replace(name, "")
        if any(word in text.lower() for word in GPU_WORDS):
            problems.append(f"a CPU-only plan's step talks about GPUs: {step[:80]}")
    return problems


def cost_problems(plan: DeploymentPlan) -> list[str]:
    """Return where the costs disagree with the instances."""
    cost = plan.cost_estimate
    if cost is None:
        return []
    target = plan.deployment
    # Searched plans run the configuration's instances; others one instance per replica.
    instances = 1
    if target is not None:
        instances = target.instances if plan.configuration else target.replicas
    first = plan.gpu_recommendations[0].price_monthly_usd if plan.gpu_recommendations else 0.0
    problems = []
    if cost.job is None and abs(cost.compute_monthly_usd - first * instances) > 0.01:
        problems.append(
            f"compute ${cost.compute_monthly_usd:,.2f}/month ≠ {instances} × the first "
            f"instance's ${first:,.2f}"
        )
    parts = cost.compute_monthly_usd + cost.storage_monthly_usd + cost.network_monthly_usd
    if abs(cost.total_monthly_usd - parts) > 0.02:
        problems.append("the monthly total is not the sum of its parts")
    return problems


def check_plan(plan: DeploymentPlan, spec: WorkloadSpec) -> list[str]:
    """Return every inconsistency of the plan: files, target, steps and costs."""
    problems: list[str] = []
    if plan.deployment is None:
        if plan.artifacts:
            problems.append("the plan ships files but no configuration they come from")
        if plan.gpu_recommendations and plan.serving_engine and not any(
            WITHHELD in w for w in plan.warnings
        ):
            problems.append("the plan has no deployment files and no warning says why")
    else:
        problems += target_problems(plan, spec)
        problems += artifact_problems(plan.deployment, plan.artifacts)
    problems += step_problems(plan)
    problems += cost_problems(plan)
    return problems
