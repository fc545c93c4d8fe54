"""NVIDIA AIConfigurator's aggregated-serving estimate, for the configurations it covers.

AIConfigurator (``aiconfigurator-core``, Apache-2.0) replays per-operation kernel timings
measured on real GPUs for vLLM, SGLang and TensorRT-LLM, and schedules them as an engine
does with in-flight batching (one prefill chunk per step beside the running decodes). This
module maps catalog names (``meta-llama/Llama-3.1-8B-Instruct``, ``H100``, ``vLLM``) onto
its model configs, systems and backends, runs the same ``run_agg`` its CLI's
``cli estimate`` runs, in-process and offline, and caches both the compiled model and the
estimates: the first estimate of a (model, GPU, TP, precision) costs about half a second,
a repeat about a microsecond.

Nothing here is required: without the package, or for a combination it does not cover,
``aic_estimate`` returns None and ``tools.performance`` falls back to its roofline.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# Catalog GPU → AIConfigurator system with measured (SILICON) data. The catalog's "H100"
# and "H200" rows are SXM parts, "A100-80GB" the SXM4 80 GB, "RTXPRO6000" the server card.
SYSTEMS: dict[str, str] = {
    "A100-80GB": "a100_sxm",
    "H100": "h100_sxm",
    "H200": "h200_sxm",
    "B200": "b200_sxm",
    "B300": "b300_sxm",
    "GB200": "gb200",
    "GB300": "gb300",
    "L40S": "l40s",
    "RTXPRO6000": "rtx_pro_6000_server",
}
ENGINES: dict[str, str] = {
    "vllm": "vllm",
    "sglang": "sglang",
    "trtllm": "trtllm",
    "tensorrt-llm": "trtllm",
    "trt-llm": "trtllm",
}
# Catalog model → AIConfigurator model config. Fine-tunes and renames that share an
# architecture use their base's config (the kernels run are the same shapes).
MODELS: dict[str, str] = {
    "meta-llama/llama-3.1-8b-instruct": "meta-llama/Meta-Llama-3.1-8B",
    "meta-llama/llama-3.1-8b": "meta-llama/Meta-Llama-3.1-8B",
    "nousresearch/hermes-3-llama-3.1-8b": "meta-llama/Meta-Llama-3.1-8B",
    "deepseek-ai/deepseek-r1-distill-llama-8b": "meta-llama/Meta-Llama-3.1-8B",
    "meta-llama/llama-3.1-70b-instruct": "meta-llama/Meta-Llama-3.1-70B",
    "meta-llama/llama-3.3-70b-instruct": "meta-llama/Meta-Llama-3.1-70B",
    "deepseek-ai/deepseek-r1-distill-llama-70b": "meta-llama/Meta-Llama-3.1-70B",
    "nvidia/llama-3.1-nemotron-70b-instruct-hf": "meta-llama/Meta-Llama-3.1-70B",
    "meta-llama/llama-3.1-405b-instruct": "meta-llama/Meta-Llama-3.1-405B",
    "qwen/qwen3-0.6b": "Qwen/Qwen3-0.6B",
    "qwen/qwen3-1.7b": "Qwen/Qwen3-1.7B",
    "qwen/qwen3-8b": "Qwen/Qwen3-8B",
    "qwen/qwen3-32b": "Qwen/Qwen3-32B",
    "qwen/qwen3-30b-a3b": "Qwen/Qwen3-30B-A3B",
    "qwen/qwen3-30b-a3b-instruct-2507": "Qwen/Qwen3-30B-A3B",
    "qwen/qwen3-235b-a22b": "Qwen/Qwen3-235B-A22B",
    "qwen/qwen3-coder-480b-a35b-instruct": "Qwen/Qwen3-Coder-480B-A35B-Instruct",
    "mistralai/mixtral-8x7b-instruct-v0.1": "mistralai/Mixtral-8x7B-v0.1",
    "mistralai/mixtral-8x22b-instruct-v0.1": "mistralai/Mixtral-8x22B-v0.1",
    "meta-llama/llama-4-scout-17b-16e-instruct": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "meta-llama/llama-4-maverick-17b-128e-instruct": (
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct"
    ),
    "openai/gpt-oss-20b": "openai/gpt-oss-20b",
    "openai/gpt-oss-120b": "openai/gpt-oss-120b",
    "deepseek-ai/deepseek-v3": "deepseek-ai/DeepSeek-V3",
    "deepseek-ai/deepseek-r1": "deepseek-ai/DeepSeek-R1",
    "moonshotai/kimi-k2-instruct": "moonshotai/Kimi-K2-Instruct",
}
# Weight formats → AIConfigurator GEMM quant modes; None keeps the checkpoint's own.
GEMM_MODES: dict[str, str | None] = {
    "native": None,
    "bf16": "bfloat16",
    "fp16": "bfloat16",
    "fp8": "fp8",
    "int8": "int8_wo",
    "int4": "int4_wo",
}
KV_MODES: dict[str, str | None] = {
    "native": None, "auto": None, "bf16": "bfloat16", "fp16": "bfloat16", "fp8": "fp8"
}


@dataclass(frozen=True)
class AicEstimate:
    """One aggregated-serving estimate for one replica, as AIConfigurator reports it."""

    ttft_ms: float
    tpot_ms: float
    tokens_per_s: float
    tokens_per_s_per_user: float
    memory_gib: float
    oom: bool
    source: str


@functools.cache
def package_version() -> str | None:
    """Return the installed ``aiconfigurator-core`` version, None when it is missing."""
    try:
        return importlib.metadata.version("aiconfigurator-core")
    except importlib.metadata.PackageNotFoundError:
        return None


def available() -> bool:
    """Return whether the estimator package is installed."""
    return package_version() is not None


def covered(model_id: str, gpu_model: str, engine: str) -> bool:
    """Return whether AIConfigurator has measured data for this model, GPU and engine."""
    return (
        model_id.strip().lower() in MODELS
        and gpu_model in SYSTEMS
        and engine.strip().lower() in ENGINES
        and available()
    )


@functools.cache
def _version(system: str, backend: str) -> str | None:
    from aiconfigurator_core.sdk.perf_database import get_latest_database_version

    logging.getLogger("aiconfigurator_core").setLevel(logging.ERROR)  # fallback-row chatter
    return get_latest_database_version(system=system, backend=backend)


# AIConfigurator keeps process-wide caches; one estimate at a time keeps them consistent
# when the API runs estimates in worker threads.
_LOCK = threading.RLock()
_LOADED: set[tuple[str, str, str, int, str | None, str | None]] = set()


@functools.lru_cache(maxsize=64)
def _session(
    model_path: str, system: str, backend: str, tp: int, gemm: str | None, kv: str | None
) -> tuple[Any, Any, Any, str]:
    from aiconfigurator_core.sdk.backends.factory import get_backend
    from aiconfigurator_core.sdk.config_builders import build_model_config
    from aiconfigurator_core.sdk.models import get_model
    from aiconfigurator_core.sdk.perf_database import get_database

    version = _version(system, backend)
    if version is None:
        raise LookupError(f"no measured {backend} data for {system}")
    database = get_database(system, backend, version)
    if database is None:
        raise LookupError(f"{backend} {version} data for {system} did not load")
    moe = gemm if gemm in ("fp8", "int4_wo") else None
    config = build_model_config(
        tp, 1, 1, tp, 1, gemm_quant_mode=gemm, kvcache_quant_mode=kv, moe_quant_mode=moe
    )
    model = get_model(model_path, config, backend)
    _LOADED.add((model_path, system, backend, tp, gemm, kv))
    return model, database, get_backend(backend), version


def _key(
    model_id: str, gpu_model: str, engine: str, tp: int, precision: str, kv: str
) -> tuple[str, str, str, int, str | None, str | None]:
    return (
        MODELS[model_id.strip().lower()], SYSTEMS[gpu_model], ENGINES[engine.strip().lower()],
        tp, GEMM_MODES[precision], KV_MODES[kv],
    )


def is_warm(
    model_id: str, gpu_model: str, engine: str, tensor_parallel: int,
    precision: str = "native", kv_cache_dtype: str = "native",
) -> bool:
    """Return whether this model, GPU, TP and precision are loaded: an estimate costs ~1 ms."""
    if not covered(model_id, gpu_model, engine):
        return False
    if precision not in GEMM_MODES or kv_cache_dtype not in KV_MODES:
        return False
    return _key(model_id, gpu_model, engine, tensor_parallel, precision, kv_cache_dtype) in _LOADED


def warm_up(
    model_id: str, gpu_model: str, engine: str, tensor_parallel: int,
    precision: str = "native", kv_cache_dtype: str = "native",
) -> bool:
    """Load a configuration's tables ahead of time (about a second); return whether it loaded.

    Meant for a background thread at start-up or after a plan names a configuration, so
    that a later chat turn finds it warm.
    """
    if not covered(model_id, gpu_model, engine):
        return False
    if precision not in GEMM_MODES or kv_cache_dtype not in KV_MODES:
        return False
    try:
        with _LOCK:
            _session(*_key(model_id, gpu_model, engine, tensor_parallel, precision,
                           kv_cache_dtype))
    except Exception as exc:  # noqa: BLE001 - a configuration it cannot load stays cold
        logger.info("aiconfigurator cannot load %s on %s: %s", model_id, gpu_model, exc)
        return False
    return True


def aic_estimate(
    model_id: str,
    gpu_model: str,
    engine: str,
    tensor_parallel: int,
    concurrency: int,
    input_tokens: int,
    output_tokens: int,
    precision: str = "native",
    kv_cache_dtype: str = "native",
    *,
    only_if_warm: bool = False,
) -> AicEstimate | None:
    """Estimate one replica serving ``concurrency`` requests; None where not covered.

    Mirrors ``aiconfigurator cli estimate`` in its default aggregated mode: the context
    budget per step is one request's input, the engine's own scheduling rules apply. With
    ``only_if_warm`` it answers None rather than spend a second loading a configuration's
    tables (see ``warm_up``).
    """
    if only_if_warm and not is_warm(
        model_id, gpu_model, engine, tensor_parallel, precision, kv_cache_dtype
    ):
        return None
    return _estimate(model_id, gpu_model, engine, tensor_parallel, concurrency, input_tokens,
                     output_tokens, precision, kv_cache_dtype)


@functools.lru_cache(maxsize=4096)
def _estimate(
    model_id: str,
    gpu_model: str,
    engine: str,
    tensor_parallel: int,
    concurrency: int,
    input_tokens: int,
    output_tokens: int,
    precision: str = "native",
    kv_cache_dtype: str = "native",
) -> AicEstimate | None:
    if not covered(model_id, gpu_model, engine):
        return None
    if precision not in GEMM_MODES or kv_cache_dtype not in KV_MODES:
        return None
    from aiconfigurator_core.sdk.config import RuntimeConfig

    model_path = MODELS[model_id.strip().lower()]
    system, backend = SYSTEMS[gpu_model], ENGINES[engine.strip().lower()]
    try:
        with _LOCK:
            model, database, runner, version = _session(
                model_path, system, backend, tensor_parallel, GEMM_MODES[precision],
                KV_MODES[kv_cache_dtype],
            )
            runtime = RuntimeConfig(isl=input_tokens, osl=output_tokens, batch_size=concurrency)
            summary = runner.run_agg(model, database, runtime, ctx_tokens=input_tokens)
            row = summary.get_result_dict()
            oom = bool(summary.check_oom())
    except Exception as exc:  # noqa: BLE001 - any gap in its data means "not covered"
        logger.info("aiconfigurator cannot estimate %s on %s: %s", model_id, gpu_model, exc)
        return None
    if row is None or not math.isfinite(float(row["tpot"])) or float(row["tpot"]) <= 0:
        return None
    return AicEstimate(
        ttft_ms=float(row["ttft"]),
        tpot_ms=float(row["tpot"]),
        tokens_per_s=float(row["tokens/s"]),
        tokens_per_s_per_user=float(row["tokens/s/user"]),
        memory_gib=float(row["memory"]),
        oom=oom,
        source=(
            f"aiconfigurator {package_version()} "
            f"({backend} {version} measured kernels on {system}, {model_path})"
        ),
    )
