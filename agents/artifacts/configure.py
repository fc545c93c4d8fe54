"""Set a DeploymentTarget from a plan's structured fields: sizing, first instance, workload.

Never from the plan's text. What the files cannot honour (an image with no Arm build, a
quantization the GPU has no kernels for) goes into the target's notes, which the plan shows
as warnings; a plan with no instance that fits gets no target at all, and so no files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from agents.artifacts.engines import image_arches, image_for, ray_image
from agents.artifacts.hardware import compute_capability, cpu_arch, is_cuda
from agents.artifacts.target import (
    GPU_MEMORY_UTILIZATION,
    DeploymentTarget,
    Quantization,
    TargetEngine,
    k8s_name,
)
from agents.artifacts.workloads import batch_schedule, launcher_for, workload_for
from agents.constraints import OWN_PROVIDER
from agents.job_costs import method_words
from agents.schemas import DeploymentPlan, GpuRecommendation, WorkloadSpec
from tools.offers import QUANTIZED_BUILDS
from tools.search import Configuration

# Disk to provision: three copies of the weights (download, cache, spare), at least this.
MIN_STORAGE_GB = 100
# Share of the instance's vCPUs and memory a pod may request: the rest is the node's own.
NODE_RESERVE = 0.85
DTYPE_FLAGS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
# GGUF builds for Ollama (CPU and single-box serving), 4-bit K-quant.
GGUF_BUILDS = {
    "meta-llama/Llama-3.1-8B-Instruct": "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF",
    "meta-llama/Llama-3.2-3B-Instruct": "bartowski/Llama-3.2-3B-Instruct-GGUF",
    "meta-llama/Llama-3.2-1B-Instruct": "bartowski/Llama-3.2-1B-Instruct-GGUF",
    "Qwen/Qwen2.5-7B-Instruct": "Qwen/Qwen2.5-7B-Instruct-GGUF",
    "Qwen/Qwen2.5-3B-Instruct": "Qwen/Qwen2.5-3B-Instruct-GGUF",
    "Qwen/Qwen2.5-1.5B-Instruct": "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
    "mistralai/Mistral-7B-Instruct-v0.3": "bartowski/Mistral-7B-Instruct-v0.3-GGUF",
}
GGUF_QUANT = "Q4_K_M"
# An LLM served with no sizing: bf16 weights plus a fifth for KV cache and the engine.
BF16_BYTES = 2.0
UNSIZED_OVERHEAD = 1.2
LLM_ENGINES = frozenset({"vLLM", "TGI", "TensorRT-LLM", "Ollama"})
# Engines that load a model by name: no model, no files.
MODEL_ENGINES = frozenset({"vLLM", "TGI", "TensorRT-LLM", "Ollama", "TEI"})
# Engines that need a GPU: a CPU-only plan serves LLMs with Ollama instead.
GPU_ONLY_ENGINES = frozenset({"vLLM", "TGI", "TensorRT-LLM"})


@dataclass(frozen=True)
class InstanceFacts:
    """Catalog facts of the first instance that the plan's recommendation does not carry."""

    vcpus: float | None = None
    memory_gb: float | None = None


def storage_gb(weights_gb: float | None) -> int:
    """Return disk to provision for the weights: three copies, at least MIN_STORAGE_GB."""
    return max(MIN_STORAGE_GB, round(3 * (weights_gb or 0.0)))


def default_context(spec: WorkloadSpec) -> int:
    """Return the context the sizing assumes when the conversation gave none."""
    training = spec.task_type in ("training", "fine_tuning")
    return spec.scale.context_length or (2048 if training else 4096)


def quantization_for(
    precision: str | None, model_id: str | None
) -> tuple[Quantization | None, str | None]:
    """Return (vLLM --quantization, the repository to load) for a sized weight precision."""
    if precision in ("fp8", "int8"):
        # vLLM quantizes bf16 weights to FP8 as it loads them: one byte a weight, as sized.
        return "fp8", model_id
    if precision == "int4":
        build = QUANTIZED_BUILDS.get((model_id or "").lower(), {}).get("int4")
        return ("awq", build) if build else ("bitsandbytes", model_id)
    return None, model_id


def tensor_parallel_for(need_gb: float | None, min_tp: int, gpu: GpuRecommendation) -> int | None:
    """Return the smallest TP degree from ``min_tp`` whose GPUs hold ``need_gb`` on the instance.

    None when no power of two up to the instance's GPU count holds it; 1 with no need known.
    """
    count = max(1, math.floor(gpu.gpu_count))
    if need_gb is None:
        return 1
    per_gpu = gpu.vram_total_gb / max(gpu.gpu_count, 1)
    for tp in (1, 2, 4, 8):
        if tp < min_tp or tp > count:
            continue
        if tp * per_gpu * GPU_MEMORY_UTILIZATION + 1e-6 >= need_gb:
            return tp
    return None


def _engine(plan: DeploymentPlan, cpu_only: bool, notes: list[str]) -> TargetEngine | None:
    engine = plan.serving_engine
    if engine is None:
        return None
    if cpu_only and engine in GPU_ONLY_ENGINES:
        notes.append(f"{engine} needs a GPU and the instance has none: the files run Ollama")
        return "Ollama"
    return engine


def unsized_need_gb(params_b: float) -> float:
    """Return GPU memory an unsized LLM needs at least: bf16 weights and a fifth more."""
    return params_b * BF16_BYTES * UNSIZED_OVERHEAD


def _model_id(
    plan: DeploymentPlan, engine: str, gpu: GpuRecommendation, cpu_only: bool, notes: list[str]
) -> str | None:
    """Return the model the files serve: the sized one, else the first that fits the GPUs."""
    if plan.sizing and plan.sizing.model_id:
        return plan.sizing.model_id
    models = plan.model_recommendations
    if not models:
        return None
    if cpu_only or engine not in LLM_ENGINES or plan.sizing is not None:
        return models[0].model_id
    usable = gpu.vram_total_gb * GPU_MEMORY_UTILIZATION
    for model in models:
        if model.params_b is None or unsized_need_gb(model.params_b) <= usable:
            if model is not models[0]:
                first = models[0]
                notes.append(
                    f"{first.model_id} ({first.params_b:g}B) needs about "
                    f"{unsized_need_gb(first.params_b or 0):,.0f} GB in bf16 and the "
                    f"{gpu.gpu_model} holds {usable:,.1f} GB: the files serve {model.model_id}"
                )
            return model.model_id
    return None


def _resources(
    gpu: GpuRecommendation, gpus_used: int, facts: InstanceFacts
) -> tuple[float | None, float | None]:
    """Return the vCPUs and GB of memory to request: the instance's share the pod's GPUs take."""
    share = gpus_used / gpu.gpu_count if gpu.gpu_count >= 1 and gpus_used else 1.0
    cpu = math.floor(facts.vcpus * share * NODE_RESERVE * 10) / 10 if facts.vcpus else None
    memory = math.floor(facts.memory_gb * share * NODE_RESERVE) if facts.memory_gb else None
    return (max(cpu, 0.5) if cpu is not None else None), (max(memory, 1) if memory else None)


def searched_configuration(plan: DeploymentPlan) -> Configuration | None:
    """Return the searched configuration when the plan's first instance is the one it chose."""
    config = plan.configuration
    if config is None or not plan.gpu_recommendations:
        return None
    first = plan.gpu_recommendations[0]
    same = (first.provider, first.instance_type) == (config.provider, config.instance_type)
    return config if same else None


def _own_replicas(spec: WorkloadSpec, provider: str, tp: int) -> int:
    """Return one replica per TP group on the user's own nodes; 1 on rented instances."""
    own = spec.own_hardware
    if provider != OWN_PROVIDER or not own.gpu_model:
        return 1
    return max(1, (own.nodes or 1) * ((own.gpus_per_node or 1) // max(tp, 1)))


def configure(
    plan: DeploymentPlan,
    spec: WorkloadSpec,
    facts: InstanceFacts | None = None,
    *,
    spot: bool = False,
    model_max_context: int | None = None,
) -> tuple[DeploymentTarget | None, list[str]]:
    """Return the plan's deployment target and the notes about it, or (None, why) if none.

    Args:
        plan: the plan; its sizing, first instance, engine and first model are read.
        spec: the workload (task, domain, GPU wanted, context).
        facts: vCPUs and memory of the first instance, from the catalog.
        spot: whether the plan's prices are spot prices.
        model_max_context: the model's own context limit, from the catalog.

    """
    facts = facts or InstanceFacts()
    notes: list[str] = []
    if not plan.gpu_recommendations:
        return None, ["no instance fits this workload: the deployment files are withheld"]
    gpu = plan.gpu_recommendations[0]
    cpu_only = spec.gpu_needed is False or gpu.gpu_count == 0
    engine = _engine(plan, cpu_only, notes)
    if engine is None:
        return None, ["the plan names no serving engine: the deployment files are withheld"]
    sizing = plan.sizing
    model_id = _model_id(plan, engine, gpu, cpu_only, notes)
    if model_id is None and engine in LLM_ENGINES and plan.model_recommendations:
        return None, [
            f"no recommended model fits {gpu.instance_type}'s {gpu.vram_total_gb:g} GB of GPU "
            "memory unsized: the deployment files are withheld"
        ]
    if model_id is None and engine in MODEL_ENGINES:
        return None, [f"no model to serve with {engine}: the deployment files are withheld"]
    training = engine == "training stack"
    config = searched_configuration(plan)
    tp, gpus_used = 1, 0
    if not cpu_only:
        need, min_tp = (sizing.total_vram_gb, sizing.tensor_parallel) if sizing else (None, 1)
        if sizing is None and engine in LLM_ENGINES:
            params = next(
                (m.params_b for m in plan.model_recommendations if m.model_id == model_id), None
            )
            need = unsized_need_gb(params) if params else None
        fitted = tensor_parallel_for(need, min_tp, gpu)
        if fitted is None:
            return None, [
                f"{gpu.instance_type} ({gpu.gpu_count:g}× {gpu.gpu_model}) cannot hold the "
                f"{sizing.total_vram_gb:g} GB the sizing needs: the deployment files are withheld"
                if sizing
                else f"{gpu.instance_type} has no usable GPU: the deployment files are withheld"
            ]
        tp = fitted
        if config is not None:
            tp = config.tensor_parallel  # searched: it fits and meets the load
        whole = max(1, math.floor(gpu.gpu_count))
        gpus_used = whole if training else tp
    precision = sizing.precision if sizing else None
    quantization, repo = (None, model_id)
    dtype = None
    if engine in ("vLLM", "TGI") and not training:
        quantization, repo = quantization_for(precision, model_id)
        dtype = DTYPE_FLAGS.get(precision or "")
    if engine == "Ollama" and model_id:
        build = GGUF_BUILDS.get(model_id)
        if build is None:
            build = f"{model_id}-GGUF"
            notes.append(f"Ollama loads a GGUF build: check that {build} exists on the Hub")
        repo = f"hf.co/{build}:{GGUF_QUANT}"
    max_len = None
    if engine in LLM_ENGINES and spec.domain != "speech" and model_id:
        max_len = (sizing.context_length if sizing else None) or default_context(spec)
        if model_max_context and max_len > model_max_context:
            notes.append(
                f"the planned {max_len:,}-token context exceeds {model_id}'s "
                f"{model_max_context:,}: the engine is capped at {model_max_context:,}"
            )
            max_len = model_max_context
    arch = cpu_arch(gpu.provider, gpu.instance_type, None if cpu_only else gpu.gpu_model)
    image = image_for(engine, None if cpu_only else gpu.gpu_model, cpu_only, arch)
    launcher = launcher_for(plan) if training else "Job"
    if launcher == "RayJob":
        image = ray_image(cpu_only)
    if arch not in image_arches(image):
        notes.append(
            f"{gpu.instance_type} is an Arm (arm64) instance and {image} is built for x86_64 "
            "only: build or pick an arm64 image before deploying"
        )
    if not cpu_only and not is_cuda(gpu.gpu_model):
        notes.append(
            f"the {gpu.gpu_model} is not an NVIDIA GPU: the files use CUDA images and the "
            "nvidia.com/gpu resource; swap in the vendor's serving image and device plugin"
        )
    cap = None if cpu_only else compute_capability(gpu.gpu_model)
    if quantization == "fp8" and cap is not None and cap < 8.0:
        notes.append(
            f"vLLM has no FP8 kernels for the {gpu.gpu_model}: choose an Ampere or newer GPU"
        )
    if quantization in ("awq", "bitsandbytes") and cap is not None and cap < 7.5:
        notes.append(f"4-bit kernels need a Turing or newer GPU, not the {gpu.gpu_model}")
    cpu, memory = _resources(gpu, gpus_used, facts)
    workload = workload_for(spec, engine)
    target = DeploymentTarget(
        name=k8s_name(model_id, engine),
        workload=workload,
        schedule=batch_schedule(spec) if workload == "batch" else None,
        batch_input=(
            ("audio" if spec.domain == "speech" else "requests") if workload == "batch" else None
        ),
        launcher=launcher,
        engine=engine,
        job=method_words(spec) if training else None,
        image=image,
        arch=arch,
        model_id=model_id,
        model_repo=repo,
        precision=precision,
        quantization=quantization,
        dtype=dtype,
        kv_cache_dtype="fp8" if sizing and sizing.kv_cache_dtype == "fp8" else "auto",
        tensor_parallel=tp,
        replicas=config.replicas if config else _own_replicas(spec, gpu.provider, tp),
        instances=config.instances if config else gpu.instances,
        gpu_model=None if cpu_only else gpu.gpu_model,
        gpu_count=gpus_used,
        gpu_memory_gb=None if cpu_only else round(gpu.vram_total_gb / max(gpu.gpu_count, 1), 1),
        cpu=cpu,
        memory_gb=memory,
        max_model_len=max_len,
        gpu_memory_utilization=GPU_MEMORY_UTILIZATION if engine == "vLLM" else None,
        cpu_only=cpu_only,
        provider=gpu.provider,
        region=gpu.region,
        instance_type=gpu.instance_type,
        use_spot=spot,
        disk_gb=storage_gb(sizing.weights_gb if sizing else None),
        notes=tuple(notes),
    )
    return target, list(notes)
