"""The two documents the agents exchange: what the user needs, and the plan that answers it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from agents.artifacts.target import DeploymentTarget
from tools.search import Configuration

TaskType = Literal["inference", "fine_tuning", "training", "batch", "embedding", "rag", "other"]
Domain = Literal[
    "llm",
    "nlp",
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
    """How much work the deployment must carry, in the units the user gave."""

    concurrent_users: int | None = Field(
        default=None, ge=0, description="People or chat sessions active at once (users, staff)."
    )
    concurrent_sequences: int | None = Field(
        default=None, ge=0, description="Sequences decoded at once (defaults to users)."
    )
    concurrent_streams: int | None = Field(
        default=None,
        ge=0,
        description="Live audio or video streams at once (meetings, calls, camera feeds).",
    )
    requests_per_second: float | None = Field(default=None, ge=0, description="Peak request rate.")
    images_per_second: float | None = Field(
        default=None, ge=0, description="Images generated or analysed per second."
    )
    documents: int | None = Field(
        default=None, ge=0, description="Documents to process or index in all (a corpus size)."
    )
    documents_per_day: int | None = Field(
        default=None, ge=0, description="Documents to process per day."
    )
    tokens_per_day: float | None = Field(
        default=None, ge=0, description="Tokens to process per day (input and output)."
    )
    audio_hours_per_month: float | None = Field(
        default=None, ge=0, description="Hours of audio to transcribe per month."
    )
    batch_window_hours: float | None = Field(
        default=None,
        gt=0,
        le=24,
        description="Hours a batch must finish in once started (overnight or by morning: 8); "
        "unset when the work may spread over the whole day.",
    )
    input_tokens_per_request: int | None = Field(
        default=None, ge=0, description="Typical prompt (input) tokens per request."
    )
    tokens_per_request: int | None = Field(
        default=None, ge=0, description="Typical output tokens per request."
    )
    context_length: int | None = Field(
        default=None, ge=0, description="Tokens held per sequence (prompt + output)."
    )


class LatencyTargets(_Strict):
    """How fast answers must come; None where the user set no target."""

    ttft_ms: float | None = Field(
        default=None, ge=0, description="Time to first token (or first result), milliseconds."
    )
    tpot_ms: float | None = Field(
        default=None, ge=0, description="Time per output token, milliseconds."
    )
    realtime: bool | None = Field(
        default=None, description="True when the user asked for real-time or live results."
    )


class HardwareNeeds(_Strict):
    """What the user said about the accelerators to rent."""

    gpu_models: list[str] = Field(
        default_factory=list, description="GPU models asked for, catalog names (H100, L40S)."
    )
    instance_types: list[str] = Field(
        default_factory=list, description="Cloud instance types asked for (p5.48xlarge)."
    )
    max_gpus: int | None = Field(
        default=None, ge=0, description="Most GPUs the deployment may use in all."
    )
    max_gpus_strict: bool | None = Field(
        default=None,
        description="False when the limit is a preference ('a single GPU if it fits').",
    )
    spot_allowed: bool | None = Field(
        default=None, description="True when spot or preemptible capacity is acceptable."
    )


class OwnHardware(_Strict):
    """Machines the user already runs (on-premises or their own cluster)."""

    nodes: int | None = Field(default=None, ge=0, description="Servers or Kubernetes nodes.")
    gpus_per_node: int | None = Field(default=None, ge=0, description="GPUs in each node.")
    gpu_model: str | None = Field(
        default=None, description="GPU model in the nodes, catalog name (L40S, RTX 4090)."
    )
    cloud_allowed: bool | None = Field(
        default=None, description="False when the user ruled out renting cloud capacity."
    )


class TrainingData(_Strict):
    """How much data a fine-tuning or training job reads."""

    dataset_tokens: float | None = Field(default=None, ge=0, description="Tokens in the data.")
    dataset_examples: int | None = Field(
        default=None, ge=0, description="Examples (rows, conversations, images) in the data."
    )
    dataset_gb: float | None = Field(
        default=None, ge=0, description="Size of the raw training text in GB, when given so."
    )
    epochs: float | None = Field(default=None, ge=0, description="Passes over the data.")


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
    unknown_providers: list[str] = Field(
        default_factory=list,
        description="Providers the user named that are not in the catalog (paperspace, ...).",
    )
    regions: list[str] = Field(default_factory=list, description="Regions allowed.")
    data_residency: str | None = Field(
        default=None,
        description="Where the data must stay, in the user's words (Frankfurt, the EU).",
    )
    latency: LatencyTargets = Field(
        default_factory=LatencyTargets, description="Latency targets the user set."
    )
    hardware: HardwareNeeds = Field(
        default_factory=HardwareNeeds, description="GPU models, instance types, limits, spot."
    )
    own_hardware: OwnHardware = Field(
        default_factory=OwnHardware, description="The user's own machines, when they run their own."
    )
    training: TrainingData = Field(
        default_factory=TrainingData, description="Dataset size and epochs for training."
    )
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
    not_understood: list[str] = Field(
        default_factory=list,
        description="What the user said that could not be read into a field, in their words.",
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
    kv_cache_worst_case_gb: float | None = Field(
        default=None, ge=0, description="KV cache with every sequence at the full context."
    )
    unit: str = Field(default="GiB", description="Unit of every *_gb figure (2**30 bytes).")
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
    instances: int = Field(default=1, ge=1, description="Instances of this type the plan runs.")
    # What an option deploys comes from the configuration search, never from a model's
    # writing: left out of the schema a model fills (agents.architect.reconcile_with_tools
    # sets it from the search's same instance).
    precision: SkipJsonSchema[str | None] = Field(
        default=None,
        description="Weights precision this option serves (bf16, fp8, int4); null where the "
        "plan chose no configuration per option (the sizing's precision applies).",
    )
    build_repo: SkipJsonSchema[str | None] = Field(
        default=None,
        description="Weights repository served when it is not the sized model itself, e.g. "
        "an AWQ int4 build; null for the base model (fp8 is quantized from it at load).",
    )
    kv_cache_dtype: SkipJsonSchema[str | None] = Field(
        default=None, description="KV cache dtype this option runs (fp8, or the weights' bf16)."
    )
    tensor_parallel: SkipJsonSchema[int | None] = Field(
        default=None, ge=1, description="GPUs each replica of this option is split over."
    )
    replicas: SkipJsonSchema[int | None] = Field(
        default=None, ge=1, description="Engine replicas of this option, over all its instances."
    )
    run_hours: float | None = Field(
        default=None, ge=0, description="A job's hours on the clock here, start-up included."
    )
    run_usd: float | None = Field(
        default=None, ge=0, description="What one run of the job costs here (hourly × run_hours)."
    )
    why: str = Field(description="Why this instance, in one or two sentences.")


class ModelRecommendation(_Strict):
    """One open model that suits the workload."""

    model_id: str
    license: str | None = None
    params_b: float | None = None
    pipeline_tag: str | None = None
    score: float = Field(description="Ranking score from the model search.")
    # Set by the validator (agents.model_fit) from the checked plan, whatever a model writes.
    fits_plan_gpus: SkipJsonSchema[bool | None] = Field(
        default=None,
        description="Whether the plan's first instance holds this model at some build for "
        "the same load per replica; null when not checked (no GPU plan, size unknown).",
    )
    fit_note: SkipJsonSchema[str | None] = Field(
        default=None,
        description="How it runs on the plan's GPUs (build, tensor parallel), or what it "
        "would need instead.",
    )
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


class JobCost(_Strict):
    """What one run of a finite job takes: GPU-hours, hours on the clock, dollars."""

    kind: Literal["training", "batch"] = Field(
        default="batch", description="training: one run, priced once; batch: runs a month."
    )
    gpu_hours: float = Field(ge=0)
    wall_clock_hours: float = Field(ge=0, description="Hours billed, the fixed hours included.")
    total_usd: float = Field(ge=0)
    runs_per_month: float | None = Field(default=None, ge=0, description="For recurring runs.")
    fixed_hours: float = Field(
        default=0.0, ge=0, description="Billed per run besides the work: start-up, downloads."
    )
    dense_tflop_hours: float | None = Field(
        default=None,
        ge=0,
        description="A training run's work, FLOPs / MFU / 3.6e15: its hours on one GPU of 1 "
        "dense TFLOPS, so any GPU's hours are this over its rate.",
    )
    formula: str = Field(description="How the hours were computed.")


class CostEstimate(_Strict):
    """Monthly cost, or a one-off job's cost, broken down."""

    period: Literal["month", "run"] = Field(
        default="month",
        description="month: a month of running (*_monthly_usd as named); run: every figure "
        "is for one run of a job, paid once.",
    )

    compute_monthly_usd: float = Field(ge=0)
    storage_monthly_usd: float = Field(ge=0)
    network_monthly_usd: float = Field(ge=0)
    total_monthly_usd: float = Field(ge=0)
    within_budget: bool | None = Field(default=None, description="None when no budget was given.")
    job: JobCost | None = Field(
        default=None, description="Work that ends (training, batch runs), priced as a job."
    )
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
    configuration: SkipJsonSchema[Configuration | None] = Field(
        default=None,
        description="The configuration the search chose: build, precision, KV dtype, TP, "
        "replicas, instances, with its latency and throughput estimate.",
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
