"""Work that ends, priced as a job: GPU-hours, wall-clock hours and total cost.

Training and fine-tuning run until their tokens are processed; a batch inference run until
its documents are. Both are priced by the hour they take, not by a month of 24/7 serving.

- Training FLOPs ≈ 6 · N · D (forward 2ND + backward 4ND; N parameters, D tokens seen).
  LoRA and QLoRA freeze the base: no weight gradients for it, so ≈ 4 · N · D (forward 2ND +
  activation gradients 2ND); QLoRA also dequantizes the NF4 base on every pass, which the
  lower default MFU stands for.
- GPU-hours = FLOPs / (dense bf16 rate × MFU) / 3600; wall clock = GPU-hours / GPUs plus
  ``RUN_FIXED_HOURS``, billed on every run whatever its size (start-up, downloads, checkpoints).
- A run's cost on an instance = its hourly price × that wall clock: so a fast node of eight
  GPUs wins a long run and loses a short one, where its fixed half hour costs more than the
  training itself.
- Batch inference hours = output tokens / output tokens/s of the configuration (whose rate
  already pays for the prefill of the inputs).

Pure functions: the caller passes the rates and prices it read from the catalogs.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["pretraining", "full", "lora", "qlora"]

FLOPS_PER_PARAM_TOKEN: dict[str, float] = {"pretraining": 6, "full": 6, "lora": 4, "qlora": 4}
# Model FLOPs utilization a well-tuned run sustains: ~40 % for dense pre-training and full
# fine-tuning at scale (Megatron/FSDP on H100 and A100 report 35-50 %); LoRA's small
# adapters and QLoRA's dequantization leave the tensor cores idler.
DEFAULT_MFU: dict[str, float] = {"pretraining": 0.4, "full": 0.4, "lora": 0.3, "qlora": 0.2}
SECONDS_PER_HOUR = 3600
# Hours billed on each instance of a training run besides the training itself: the node
# starting and joining the cluster (5-10 min), pulling a CUDA training image of 10-20 GB
# (~5 min), downloading the base weights (16 GB for an 8B model, 140 GB for a 70B one) and
# writing checkpoints and the result (5-10 min); half an hour in all. Without it a 1-hour LoRA
# would be "cheapest" on eight GPUs that finish it in 8 minutes, as if a node started, loaded
# and stopped for free.
RUN_FIXED_HOURS = 0.5
# Which runners-up a training plan offers besides the cheapest run: one that costs at most
# half as much again, or one that finishes in at most half the time for at most three times
# the cost (worth it when the result is wanted sooner). Dearer options are the same job for
# several times the money, and are left out. More GPUs than the cheapest run's are worth it
# only for the time they save: they add sharding or gradient traffic the estimate does not
# price (over PCIe on most boxes), so a close price alone does not earn them a place.
CLOSE_RUN_COST_RATIO = 1.5
FAST_RUN_COST_RATIO = 3.0
FAST_RUN_TIME_RATIO = 0.5


class JobEstimate(BaseModel):
    """How long a finite job runs and what it costs."""

    model_config = ConfigDict(frozen=True)

    flops: float | None = Field(description="training FLOPs; None for inference jobs")
    work_tflop_hours: float | None = Field(
        default=None, description="training work at its MFU, in hours on a 1-TFLOPS GPU"
    )
    gpu_hours: float = Field(description="GPU-hours of work, the fixed hours not counted")
    wall_clock_hours: float = Field(description="hours on the clock, the fixed hours counted")
    fixed_hours: float = 0.0
    total_usd: float | None = Field(description="None when no price was given")
    gpu_count: int
    assumptions: list[str]
    formula: str


def training_flops(params_billion: float, tokens: float, method: Method = "pretraining") -> float:
    """Return the FLOPs to train ``params_billion`` parameters on ``tokens`` tokens."""
    if params_billion <= 0 or tokens <= 0:
        raise ValueError("params_billion and tokens must be positive")
    return FLOPS_PER_PARAM_TOKEN[method] * params_billion * 1e9 * tokens


def mfu_for(method: Method, mfu: float | None = None) -> float:
    """Return the MFU a run is priced at: the one given, else the method's default.

    Raises:
        ValueError: On an MFU outside (0, 1].

    """
    utilization = DEFAULT_MFU[method] if mfu is None else mfu
    if not 0 < utilization <= 1:
        raise ValueError(f"mfu must be in (0, 1], got {utilization}")
    return utilization


def training_work(
    params_billion: float, tokens: float, method: Method = "pretraining", mfu: float | None = None
) -> float:
    """Return a run's work in dense TFLOP-hours at its MFU: its hours on a 1-TFLOPS GPU.

    A GPU of R dense TFLOPS takes work / R hours, and N of them work / (N·R).
    """
    flops = training_flops(params_billion, tokens, method)
    return flops / (1e12 * mfu_for(method, mfu) * SECONDS_PER_HOUR)


def run_hours(work_tflop_hours: float, gpu_count: float, dense_tflops: float) -> float:
    """Return a run's hours on the clock on ``gpu_count`` GPUs: the work, then the fixed hours."""
    if gpu_count <= 0 or dense_tflops <= 0:
        raise ValueError("gpu_count and dense_tflops must be positive")
    return work_tflop_hours / (gpu_count * dense_tflops) + RUN_FIXED_HOURS


def run_cost(
    hourly_usd: float | None,
    gpu_count: float,
    dense_tflops: float | None,
    work_tflop_hours: float,
) -> float:
    """Return what one run costs on an instance: its hourly price × the run's hours.

    An instance without a rate or a price ranks last (infinity).
    """
    if not hourly_usd or not dense_tflops or gpu_count <= 0:
        return math.inf
    return hourly_usd * run_hours(work_tflop_hours, gpu_count, dense_tflops)


def worth_offering(
    cost: float,
    hours: float,
    cheapest_cost: float,
    cheapest_hours: float,
    gpus: float = 1,
    cheapest_gpus: float = 1,
) -> bool:
    """Say whether a runner-up is worth offering beside the cheapest run of the same job.

    Close in cost (``CLOSE_RUN_COST_RATIO``) on no more GPUs, or much sooner done
    (``FAST_RUN_TIME_RATIO`` of the time) for a bounded premium (``FAST_RUN_COST_RATIO``).
    """
    if cost <= cheapest_cost * CLOSE_RUN_COST_RATIO and gpus <= cheapest_gpus:
        return True
    return (cost <= cheapest_cost * FAST_RUN_COST_RATIO
            and hours <= cheapest_hours * FAST_RUN_TIME_RATIO)


def training_job(
    params_billion: float,
    tokens: float,
    dense_tflops: float,
    *,
    method: Method = "pretraining",
    gpu_count: int = 1,
    mfu: float | None = None,
    hourly_usd_per_gpu: float | None = None,
    fixed_hours: float = RUN_FIXED_HOURS,
) -> JobEstimate:
    """Price a training or fine-tuning run from its FLOPs at a stated MFU.

    Args:
        params_billion: Parameters trained through (the base model's for LoRA and QLoRA).
        tokens: Tokens processed, all epochs included.
        dense_tflops: One GPU's dense bf16 tensor rate (``gpus.fp16_bf16_dense_tflops``).
        method: pretraining and full (6·N·D), lora and qlora (4·N·D).
        gpu_count: GPUs running data-parallel; the work divides evenly.
        mfu: Model FLOPs utilization; the method's default when None.
        hourly_usd_per_gpu: Price of one GPU-hour; without it ``total_usd`` is None.
        fixed_hours: Billed on every GPU besides the work (``RUN_FIXED_HOURS``).

    Raises:
        ValueError: On a non-positive size, token count, rate or GPU count, or an MFU
            outside (0, 1].

    """
    if dense_tflops <= 0 or gpu_count < 1:
        raise ValueError("dense_tflops must be positive and gpu_count at least 1")
    utilization = mfu_for(method, mfu)
    flops = training_flops(params_billion, tokens, method)
    work = training_work(params_billion, tokens, method, utilization)
    gpu_hours = work / dense_tflops
    wall_clock = gpu_hours / gpu_count + fixed_hours
    factor = FLOPS_PER_PARAM_TOKEN[method]
    return JobEstimate(
        flops=flops,
        work_tflop_hours=work,
        gpu_hours=gpu_hours,
        wall_clock_hours=wall_clock,
        fixed_hours=fixed_hours,
        total_usd=None if hourly_usd_per_gpu is None
        else wall_clock * gpu_count * hourly_usd_per_gpu,
        gpu_count=gpu_count,
        assumptions=[
            f"{method}: {factor:g}·N·D FLOPs with N = {params_billion:g}B, D = {tokens:.3g} "
            "tokens",
            f"MFU {utilization:.0%} of {dense_tflops:g} dense TFLOPS per GPU",
            f"{gpu_count} GPU(s) data-parallel, plus {fixed_hours:g} h billed per run for "
            "start-up, image pull, model download and checkpoint writes; evaluation and "
            "restarts not counted",
        ],
        formula=(
            f"flops = {factor:g} × params × tokens; gpu_hours = flops / (tflops × 1e12 × mfu) "
            f"/ 3600; wall_clock = gpu_hours / gpus + {fixed_hours:g} h; total = wall_clock × "
            "$/hour of the instance"
        ),
    )


def run_cost_key(hourly_usd: float | None, gpu_count: float, dense_tflops: float | None) -> float:
    """Return $ per dense TFLOP-hour on an instance: a long run's cost, up to a factor.

    A run's GPU-hours are k·N·D / (rate × MFU) and it costs GPU-hours × hourly / GPUs, so for
    one job at one MFU every instance's cost is this key times the same constant, once the
    run is long enough for the fixed hours not to matter (``run_cost`` counts them): a GPU
    three times as fast at twice the hourly price finishes the job for less. An instance
    without a rate or a price ranks last (infinity).
    """
    if not hourly_usd or not dense_tflops or gpu_count <= 0:
        return math.inf
    return hourly_usd / (gpu_count * dense_tflops)


def required_tokens_per_s(output_tokens: float, hours: float) -> float:
    """Return the output tokens/s that finishes ``output_tokens`` within ``hours``."""
    if output_tokens <= 0 or hours <= 0:
        raise ValueError("output_tokens and hours must be positive")
    return output_tokens / (hours * SECONDS_PER_HOUR)


def batch_inference_job(
    output_tokens: float,
    tokens_per_s: float,
    *,
    gpu_count: int = 1,
    hourly_usd: float | None = None,
    fixed_hours: float = 0.0,
) -> JobEstimate:
    """Price a batch inference run: hours to generate ``output_tokens`` at the configuration's rate.

    Args:
        output_tokens: Tokens to generate over the run (documents × output tokens each).
        tokens_per_s: Output tokens/s of the whole deployment (``tools.performance``).
        gpu_count: GPUs in the deployment.
        hourly_usd: Price of the deployment per hour; without it ``total_usd`` is None.
        fixed_hours: Billed on every run besides the generation (``RUN_FIXED_HOURS``: node
            start-up, image pull, model download and load).

    Raises:
        ValueError: On a non-positive token count, rate or GPU count.

    """
    if output_tokens <= 0 or tokens_per_s <= 0 or gpu_count < 1:
        raise ValueError("output_tokens, tokens_per_s and gpu_count must be positive")
    hours = output_tokens / tokens_per_s / SECONDS_PER_HOUR + fixed_hours
    counted = (
        f"plus {fixed_hours:g} h of start-up, image pull and model load billed every run"
        if fixed_hours
        else "billed only while it runs (start-up and model load not counted)"
    )
    return JobEstimate(
        flops=None,
        gpu_hours=hours * gpu_count,
        wall_clock_hours=hours,
        total_usd=None if hourly_usd is None else hours * hourly_usd,
        gpu_count=gpu_count,
        assumptions=[
            f"{output_tokens:.3g} output tokens at {tokens_per_s:,.0f} tokens/s; the rate "
            "includes prefilling the inputs",
            counted,
        ],
        formula="hours = output_tokens / tokens_per_s / 3600"
        + (f" + {fixed_hours:g}" if fixed_hours else "")
        + "; total = hours × $/hour",
    )
