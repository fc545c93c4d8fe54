"""The deployment configuration every generated file is built from.

``DeploymentTarget`` holds plain facts (model repository, precision flags, parallelism,
resources, image, CPU architecture), set once from a plan's structured fields: its sizing,
its first instance and the workload it answers. The Kubernetes, Helm, compose and SkyPilot
writers only read it, so the files cannot disagree with each other or with the plan.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.artifacts.hardware import Arch

Quantization = Literal["fp8", "awq", "gptq", "bitsandbytes"]
# serve: a long-running server; train: training or fine-tuning; batch: a finite job over data
# (an audio backlog to transcribe, documents to run through an LLM), run to completion.
Workload = Literal["serve", "train", "batch"]
# What runs a training workload: a plain Job, or the operator the plan's stack installs.
Launcher = Literal["Job", "PyTorchJob", "RayJob"]
# The engines a target can run: the plan's serving engines plus the training launcher.
TargetEngine = Literal["vLLM", "TGI", "Ollama", "TensorRT-LLM", "TEI", "Triton", "training stack"]
# Share of each GPU's memory the engine may take (vLLM's default; the sizing assumes it).
GPU_MEMORY_UTILIZATION = 0.9


class DeploymentTarget(BaseModel):
    """One deployment configuration: what runs, on what, with which engine flags."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    name: str = Field(description="Kubernetes name of the workload (RFC 1123 label).")
    workload: Workload = Field(
        description="serve: a Deployment and Service; train and batch: a Job (or an operator's)."
    )
    launcher: Launcher = Field(
        default="Job", description="The kind that runs a train workload (batch: an Indexed Job)."
    )
    engine: TargetEngine
    job: str | None = Field(
        default=None, description="What a train workload runs, in words ('LoRA fine-tune')."
    )
    image: str = Field(description="Container image, for the target's CPU architecture.")
    arch: Arch = Field(description="CPU architecture of the instance.")
    model_id: str | None = Field(default=None, description="Catalog id of the model planned.")
    model_repo: str | None = Field(
        default=None, description="Repository the engine loads (a quantized build if one)."
    )
    precision: str | None = Field(default=None, description="Weight precision sized for.")
    quantization: Quantization | None = Field(
        default=None, description="vLLM --quantization, None for unquantized weights."
    )
    dtype: str | None = Field(default=None, description="vLLM --dtype for unquantized weights.")
    kv_cache_dtype: Literal["auto", "fp8"] = "auto"
    tensor_parallel: int = Field(default=1, ge=1, description="GPUs one model replica spans.")
    replicas: int = Field(default=1, ge=1)
    instances: int = Field(default=1, ge=1, description="Nodes of instance_type the replicas need.")
    gpu_model: str | None = Field(default=None, description="Catalog GPU name; None on CPU.")
    gpu_count: int = Field(default=0, ge=0, description="GPUs requested per replica.")
    gpu_memory_gb: float | None = Field(default=None, description="Memory of one GPU, GB.")
    cpu: float | None = Field(default=None, description="vCPUs requested per replica.")
    memory_gb: float | None = Field(default=None, description="Host memory per replica, GB.")
    max_model_len: int | None = Field(default=None, description="Context the engine accepts.")
    gpu_memory_utilization: float | None = None
    cpu_only: bool = False
    provider: str | None = None
    region: str | None = None
    instance_type: str | None = None
    use_spot: bool = False
    disk_gb: int = Field(default=100, ge=1)
    batch_input: Literal["audio", "requests"] | None = Field(
        default=None,
        description="What a batch reads: audio to transcribe (also when None), or OpenAI batch "
        "files of LLM requests.",
    )
    schedule: str | None = Field(
        default=None,
        description="Cron schedule of a batch that recurs (a CronJob starts its Job); None: once.",
    )
    notes: tuple[str, ...] = Field(
        default=(), description="What the files cannot carry (shown as plan warnings)."
    )


def k8s_name(model_id: str | None, engine: str) -> str:
    """Return an RFC 1123 name for the workload: the model's short name, or the engine's."""
    base = (model_id or engine).split("/")[-1].lower()
    return re.sub(r"[^a-z0-9-]+", "-", base).strip("-")[:50].strip("-") or "model"
