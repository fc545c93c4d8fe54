"""Instance offers and what runs on them: engine support, GPU variants, precisions to try.

Facts the configuration search (``tools.search``) reads about an offer's accelerator: which
serving engines run on it, which card an ambiguous catalog name stands for, and which
weight formats are worth trying on it (fp8 where tensor cores or Marlin take it, AWQ int4
where a quantized build is published).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from tools.architecture import Architecture
from tools.throughput import GpuSpec

MARKETPLACES = frozenset({"vast", "runpod"})  # community hosts: no datacenter SLA
# GPUs whose hosts are Arm (Grace, Graviton): serving images built for x86_64 do not run there.
ARM_HOSTED_GPUS = frozenset({"GH200", "GB200", "GB300", "T4g"})
# AWQ int4 builds published for catalog models (the quantizer's own repos on the Hub).
QUANTIZED_BUILDS: dict[str, dict[str, str]] = {
    "meta-llama/llama-3.1-8b-instruct": {
        "int4": "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"
    },
    "meta-llama/llama-3.1-70b-instruct": {
        "int4": "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"
    },
    "meta-llama/llama-3.1-405b-instruct": {
        "int4": "hugging-quants/Meta-Llama-3.1-405B-Instruct-AWQ-INT4"
    },
    "qwen/qwen2.5-7b-instruct": {"int4": "Qwen/Qwen2.5-7B-Instruct-AWQ"},
    "qwen/qwen2.5-14b-instruct": {"int4": "Qwen/Qwen2.5-14B-Instruct-AWQ"},
    "qwen/qwen2.5-32b-instruct": {"int4": "Qwen/Qwen2.5-32B-Instruct-AWQ"},
    "qwen/qwen2.5-72b-instruct": {"int4": "Qwen/Qwen2.5-72B-Instruct-AWQ"},
    "qwen/qwen3-32b": {"int4": "Qwen/Qwen3-32B-AWQ"},
}
# The catalog's "H100" row holds SXM figures; these offers are other cards under that name
# (gpus.csv notes): H100 PCIe 80 GB and H100 NVL 94 GB.
H100_PCIE = {"memory_bandwidth_gbps": 2000.0, "fp16_bf16_dense_tflops": 756.0,
             "fp8_dense_tflops": 1513.0, "interconnect": "PCIe Gen5 x16"}
H100_NVL = {"memory_bandwidth_gbps": 3900.0, "fp16_bf16_dense_tflops": 835.0,
            "fp8_dense_tflops": 1670.0, "interconnect": "PCIe Gen5 x16; NVLink bridge pairs"}


class Offer(BaseModel):
    """One instance type in one region, as the ``cloud.instances`` catalog has it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    provider: str
    instance_type: str
    region: str
    gpu_model: str | None = None
    gpu_count: float = 0
    gpu_memory_gb_per_gpu: float | None = None
    price_hourly_usd: float | None = None
    spot_price_hourly_usd: float | None = None
    median_hourly_usd: float | None = None
    """The type's median on-demand price over its regions (outliers are flagged)."""


@dataclass(frozen=True)
class Shape:
    """Offers of one instance shape (GPU, GPUs per instance, memory each): one estimate."""

    gpu: GpuSpec
    gpus: int
    memory_gb: float
    offers: tuple[Offer, ...]


def engine_runs_on(gpu: GpuSpec, engine: str) -> bool:
    """Return whether the serving engine runs on the accelerator.

    vLLM and SGLang need an NVIDIA GPU of compute capability 7.0 or newer, or an AMD
    Instinct of CDNA 2 or newer (gfx90a, gfx942, gfx950); TensorRT-LLM NVIDIA only.
    Inferentia, Trainium, Gaudi, TPUs and older cards need other serving stacks.
    """
    vendor = (gpu.vendor or "").lower()
    capability = (gpu.compute_capability or "").lower()
    if vendor == "nvidia":
        try:
            return float(capability) >= 7.0
        except ValueError:
            return False
    rocm = capability in ("gfx90a", "gfx942", "gfx950")
    return vendor == "amd" and rocm and "trt" not in engine.lower()


def _capability(gpu: GpuSpec) -> float:
    try:
        return float(gpu.compute_capability or 0)
    except ValueError:
        return 0.0


# bf16 arithmetic came with Ampere; older NVIDIA GPUs (T4, V100) compute 16-bit floats as fp16.
BF16_MIN_CAPABILITY = 8.0


def served_dtypes(gpu: GpuSpec, precision: str, kv_cache_dtype: str) -> tuple[str, str]:
    """Name the weights and KV cache dtypes an engine really runs on ``gpu``.

    A 16-bit model runs as fp16 where the GPU has no bf16 (vLLM casts it), and AWQ int4
    kernels compute in fp16, so an int4 build's KV cache is fp16 on any GPU. The bytes,
    and so every memory figure, are the same either way.
    """
    nvidia = (gpu.vendor or "").lower() == "nvidia"
    half = "fp16" if nvidia and _capability(gpu) < BF16_MIN_CAPABILITY else "bf16"
    weights = half if precision == "bf16" else precision
    kv = kv_cache_dtype
    if kv == "bf16":
        kv = "fp16" if weights == "int4" else half
    return weights, kv


def gpu_variant(gpu: GpuSpec, offer: Offer) -> GpuSpec:
    """Return the spec of the card an offer really carries (H100 PCIe and NVL share a name)."""
    if gpu.gpu_model != "H100":
        return gpu
    if (offer.gpu_memory_gb_per_gpu or 0) >= 90:
        return gpu.model_copy(update=H100_NVL)
    if "pcie" in offer.instance_type.lower():
        return gpu.model_copy(update=H100_PCIE)
    return gpu


def precision_options(
    arch: Architecture, gpu: GpuSpec, builds: Mapping[str, Mapping[str, str]]
) -> list[tuple[str, str, bool]]:
    """Return (precision, build repo, quantized) to try: native, fp8, int4 where they apply."""
    repo = arch.model_id or "model"
    native = arch.native_dtype.lower()
    options = [("native", repo, native not in ("bf16", "bfloat16", "fp16", "float16"))]
    ampere = "ampere" in (gpu.architecture or "").lower()
    if native in ("bf16", "bfloat16", "fp16", "float16") and (gpu.fp8_dense_tflops or ampere):
        # vLLM quantizes a 16-bit checkpoint to fp8 at load (--quantization fp8).
        options.append(("fp8", repo, True))
    int4 = builds.get(repo.lower(), {}).get("int4")
    nvidia = (gpu.vendor or "").lower() == "nvidia"
    if int4 and nvidia and _capability(gpu) >= 7.5:  # AWQ/GPTQ kernels need Turing or newer
        options.append(("int4", int4, True))
    return options
