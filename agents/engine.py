"""Which serving engine fits a workload, which charts make its stack, and why."""

from __future__ import annotations

from dataclasses import dataclass

from agents.schemas import ServingEngine, WorkloadSpec

# NLP tasks TEI serves (sequence classification and reranking); None is an NLP request with
# no task named, which the model search answers with text-classification models.
TEI_NLP_TAGS = frozenset({None, "text-classification", "sentence-similarity"})


@dataclass(frozen=True)
class EngineChoice:
    """The engine, the reason, and the chart searches that build its Kubernetes stack."""

    engine: ServingEngine
    why: str
    chart_queries: tuple[tuple[str, str], ...]
    """(search query, purpose) pairs, most important first."""


def choose_engine(spec: WorkloadSpec) -> EngineChoice:
    """Pick the engine by task, domain and scale."""
    if spec.task_type in ("training", "fine_tuning"):
        return EngineChoice(
            "training stack",
            "training and fine-tuning run as PyTorch jobs (Hugging Face TRL/PEFT for LoRA and "
            "QLoRA, DeepSpeed or FSDP across GPUs) scheduled on a Ray cluster",
            (("kuberay-operator", "runs distributed PyTorch jobs on Ray"),),
        )
    if spec.domain == "embeddings" or spec.task_type == "embedding":
        return EngineChoice(
            "TEI",
            "Hugging Face text-embeddings-inference batches embedding requests efficiently on "
            "CPU or GPU and serves an /embed HTTP API",
            (("kserve", "serves the TEI container behind an autoscaled endpoint"),),
        )
    if spec.domain == "nlp" and spec.model_needs.pipeline_tag in TEI_NLP_TAGS:
        return EngineChoice(
            "TEI",
            "Hugging Face text-embeddings-inference serves encoder classifiers (BERT, "
            "DistilBERT, RoBERTa, rerankers) on its /predict HTTP API, batching requests "
            "on CPU or GPU",
            (("kserve", "serves the TEI container behind an autoscaled endpoint"),),
        )
    if spec.domain == "speech":
        return EngineChoice(
            "vLLM",
            "vLLM serves Whisper models behind an OpenAI-compatible /v1/audio/transcriptions "
            "endpoint, batching concurrent audio streams on the GPU",
            (("kserve", "runs the transcription service behind an autoscaled endpoint"),),
        )
    if spec.domain in ("image_generation", "vision"):
        return EngineChoice(
            "Triton",
            "NVIDIA Triton serves diffusion and vision pipelines (Python/ONNX/TensorRT "
            "backends) with dynamic batching and per-model GPU placement",
            (("kserve", "runs the Triton inference service on Kubernetes"),),
        )
    if spec.domain == "tabular":
        return EngineChoice(
            "Triton",
            "Triton's FIL and Python backends serve tree models (XGBoost, LightGBM) and "
            "forecasting models on CPU or GPU with dynamic batching",
            (("kserve", "runs the Triton inference service on Kubernetes"),),
        )
    if spec.gpu_needed is False:
        return EngineChoice(
            "Ollama",
            "no GPU was asked for: Ollama runs quantized models on CPU with an OpenAI-compatible "
            "API",
            (("ollama", "runs Ollama on the cluster"),),
        )
    if spec.constraints and "single-box" in spec.constraints:
        return EngineChoice(
            "Ollama",
            "a few concurrent users on one box: Ollama is the quickest start and exposes an "
            "OpenAI-compatible API; move to vLLM as load grows",
            (("ollama", "runs Ollama on the cluster"),),
        )
    if spec.task_type == "batch" and spec.domain in (None, "llm"):
        # No router or endpoint to keep up: the batch runs as a Job (agents.artifacts.workloads).
        return EngineChoice(
            "vLLM",
            "offline batch: vLLM's run_batch takes OpenAI batch files and runs them with "
            "continuous batching and the paged KV cache at full throughput, then exits, so the "
            "GPUs are paid only while the batch runs",
            (),
        )
    return EngineChoice(
        "vLLM",
        "production LLM serving: vLLM's paged KV cache and continuous batching give high "
        "throughput at many concurrent sequences, with tensor parallelism across GPUs and an "
        "OpenAI-compatible API",
        (("vllm-stack", "serves the model with vLLM (router + engines)"),),
    )


PLATFORM_CHARTS = {
    "mlflow": ("mlflow", "tracks experiments, parameters and model versions"),
    "monitoring": ("kube-prometheus-stack", "collects service and node metrics, with Grafana"),
    "vector_db": ("milvus", "stores embeddings for retrieval"),
    "milvus": ("milvus", "stores embeddings for retrieval"),
    "qdrant": ("qdrant", "stores embeddings for retrieval"),
    "ray": ("kuberay-operator", "runs Ray clusters for distributed jobs"),
    "airflow": ("airflow", "schedules batch pipelines"),
    "jupyterhub": ("jupyterhub", "notebooks for the team"),
    "redis": ("redis", "caches responses and queues"),
    "postgresql": ("postgresql", "application database"),
}


def stack_queries(spec: WorkloadSpec, engine: EngineChoice) -> list[tuple[str, str]]:
    """Return the chart searches for the whole stack: GPU operator, engine, platform needs."""
    queries: list[tuple[str, str]] = []
    if spec.gpu_needed is not False:
        queries.append(("gpu-operator", "installs NVIDIA drivers and the device plugin"))
    queries.extend(engine.chart_queries)
    needs = list(spec.kubernetes_needs)
    if spec.task_type == "rag" and not {"vector_db", "milvus", "qdrant"} & set(needs):
        needs.append("vector_db")
    # A service is monitored; a batch Job has none (its progress is in its logs).
    serving = spec.task_type != "batch" or engine.engine != "vLLM"
    if engine.engine in ("vLLM", "Triton", "TEI") and serving and "monitoring" not in needs:
        needs.append("monitoring")
    for need in needs:
        if need in PLATFORM_CHARTS and PLATFORM_CHARTS[need] not in queries:
            queries.append(PLATFORM_CHARTS[need])
    return list(dict.fromkeys(queries))
