"""The two documents the agents exchange: what the user needs, and the plan that answers it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from agents.artifacts.target import DeploymentTarget

TaskType = Literal["inference", "fine_tuning", "training", "batch", "embedding", "rag", "other"]
Domain = Literal[
    "llm",
    "vision",
    "image_generation",
    "speech",
    "embeddings",
    "multimodal",
    "tabular",
    "other",
]
Precision = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"]
FineTuningMethod = Literal["full", "lora", "qlora"]
Confidence = Literal["low", "medium", "high"]
ServingEngine = Literal["vLLM", "TGI", "Ollama", "TensorRT-LLM", "TEI", "Triton", "training stack"]

# The fields without which no plan can be made; the requirements agent asks for these first.
CRITICAL_FIELDS = ("task_type", "domain", "gpu_needed")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelNeeds(_Strict):
    """What the user said about the model itself."""

    named_models: list[str] = Field(
        default_factory=list, description="Catalog model ids the user named, e.g. Llama-3.1-70B."
    )
    size_billion_params: float | None = Field(
        default=None, ge=0, description="Model size asked for when no model is named."
    )
    min_context_tokens: int | None = Field(
        default=None, ge=0, description="Smallest context window the model must support."
    )
    pipeline_tag: str | None = Field(
        default=None, description="Hugging Face task tag, e.g. text-generation, text-to-image."
    )
    license_allow_list: list[str] = Field(
        default_factory=list, description="Licences the user accepts; empty means any."
    )
    fine_tuning_method: FineTuningMethod | None = Field(
        default=None, description="full, lora or qlora when the task is fine-tuning."
    )


class Scale(_Strict):
    """How much work the deployment must carry."""

    concurrent_users: int | None = Field(default=None, ge=0, description="Users at once.")
    concurrent_sequences: int | None = Field(
        default=None, ge=0, description="Sequences decoded at once (defaults to users)."
    )
    requests_per_second: float | None = Field(default=None, ge=0, description="Peak request rate.")
    tokens_per_request: int | None = Field(
        default=None, ge=0, description="Typical output tokens per request."
    )
    context_length: int | None = Field(
        default=None, ge=0, description="Tokens held per sequence (prompt + output)."
    )


class WorkloadSpec(_Strict):
    """A structured reading of the conversation: everything the architect needs to plan."""

    task_type: TaskType | None = Field(default=None, description="What the GPUs will do.")
    domain: Domain | None = Field(default=None, description="Kind of model.")
    gpu_needed: bool | None = Field(default=None, description="Whether accelerators are needed.")
    model_needs: ModelNeeds = Field(default_factory=ModelNeeds, description="Model constraints.")
    scale: Scale = Field(default_factory=Scale, description="Load the deployment must carry.")
    precision: Precision | None = Field(
        default=None, description="dtype or quantization of the weights."
    )
    min_vram_gb: float | None = Field(
        default=None, ge=0, description="GPU memory the user asked for, GB."
    )
    budget_monthly_usd: float | None = Field(
        default=None, ge=0, description="Ceiling on the monthly total, in US dollars."
    )
    providers: list[str] = Field(
        default_factory=list, description="Cloud providers allowed (catalog names: aws, gcp, ...)."
    )
    regions: list[str] = Field(default_factory=list, description="Regions allowed.")
    kubernetes_needs: list[str] = Field(
        default_factory=list, description="Platform pieces wanted: mlflow, monitoring, vector db."
    )
    constraints: str | None = Field(default=None, description="Other constraints, in words.")
    confidence: Confidence = Field(default="low", description="How sure the reading is.")
    assumptions: list[str] = Field(
        default_factory=list, description="What was assumed where the user was silent."
    )
    missing_fields: list[str] = Field(
        default_factory=list, description="Critical or useful fields still unknown."
    )


class SizingSummary(_Strict):
    """The memory math behind the GPU choice."""

    model_id: str | None = Field(default=None, description="Model sized, if any.")
    precision: str = Field(description="dtype or quantization used for the weights.")
    weights_gb: float = Field(ge=0, description="Weights in GB (1e9 bytes).")
    kv_cache_gb: float = Field(ge=0, description="KV cache at the requested scale, GB.")
    overhead_gb: float = Field(ge=0, description="Activations, engine and training state, GB.")
    total_vram_gb: float = Field(ge=0, description="Everything that must sit in GPU memory.")
    tensor_parallel: int = Field(ge=1, description="Smallest TP degree in {1,2,4,8} that fits.")
    per_gpu_gb: float = Field(ge=0, description="Memory needed on each GPU at that TP degree.")
    context_length: int | None = Field(
        default=None, ge=1, description="Tokens per sequence sized for (the engine's max length)."
    )
    kv_cache_dtype: str = Field(default="auto", description="KV cache dtype sized for.")
    assumptions: list[str] = Field(default_factory=list, description="How it was computed.")


class GpuRecommendation(_Strict):
    """One instance that fits, with its price and expected speed."""

    provider: str
    instance_type: str
    region: str
    gpu_model: str
    gpu_count: float
    vram_total_gb: float
    price_hourly_usd: float = Field(ge=0)
    price_monthly_usd: float = Field(ge=0, description="price_hourly_usd × 730.")
    est_tokens_per_s: float | None = Field(default=None, description="Estimated decode rate.")
    usd_per_1m_tokens: float | None = Field(default=None, description="Cost per 1M output tokens.")
    why: str = Field(description="Why this instance, in one or two sentences.")


class ModelRecommendation(_Strict):
    """One open model that suits the workload."""

    model_id: str
    license: str | None = None
    params_b: float | None = None
    pipeline_tag: str | None = None
    score: float = Field(description="Ranking score from the model search.")
    why: str


class ChartRecommendation(_Strict):
    """One Helm chart of the Kubernetes stack."""

    chart: str
    version: str | None = None
    repo: str | None = None
    purpose: str


class Artifact(_Strict):
    """A generated deployment file."""

    kind: Literal["helm_values", "kubernetes_manifest", "compose", "skypilot"]
    filename: str
    content: str = Field(description="The file's text (YAML).")


class CostEstimate(_Strict):
    """Monthly cost, broken down."""

    compute_monthly_usd: float = Field(ge=0)
    storage_monthly_usd: float = Field(ge=0)
    network_monthly_usd: float = Field(ge=0)
    total_monthly_usd: float = Field(ge=0)
    within_budget: bool | None = Field(default=None, description="None when no budget was given.")
    assumptions: list[str] = Field(default_factory=list)


class DeploymentPlan(_Strict):
    """The answer: what to run, where, how, for how much, and what was traded away."""

    understanding: str = Field(description="The workload restated in one paragraph.")
    assumptions: list[str] = Field(default_factory=list)
    sizing: SizingSummary | None = Field(default=None, description="Absent for CPU-only plans.")
    gpu_recommendations: list[GpuRecommendation] = Field(
        default_factory=list, max_length=3, description="Top 3, cheapest fitting first."
    )
    rejected_summary: dict[str, int] = Field(
        default_factory=dict, description="Candidates rejected, counted by reason."
    )
    model_recommendations: list[ModelRecommendation] = Field(default_factory=list, max_length=5)
    serving_engine: ServingEngine | None = None
    serving_engine_why: str | None = None
    kubernetes_stack: list[ChartRecommendation] = Field(default_factory=list)
    deployment_steps: list[str] = Field(default_factory=list, description="In order.")
    # Left out of the JSON schema a model is asked to fill: the validator sets it from the
    # checked plan, whatever a model would write.
    deployment: SkipJsonSchema[DeploymentTarget | None] = Field(
        default=None,
        description="The configuration every artifact is generated from (set by the validator).",
    )
    artifacts: list[Artifact] = Field(default_factory=list)
    cost_estimate: CostEstimate | None = None
    tradeoffs: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list, description="What the validator repaired or could not satisfy."
    )
    sources: dict[str, str] = Field(
        default_factory=dict, description="Catalog name → version (file sha256) used."
    )
