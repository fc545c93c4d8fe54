"""The workload the tools size for, from whatever load the user gave.

Task, precision, context and sequences in flight come from people, streams, requests or items
per second, tokens or documents per day; each conversion is said in the plan's assumptions.

Load becomes sequences in flight by Little's law (rate × time each one is held). A request to
a language model is held for its first token plus its output at the chat latency defaults
(2 s to the first token, 50 ms per output token, the SLA defaults of the configuration
search); a rate of tokens is carried by sequences decoding at 20 tokens/s each.
"""

from __future__ import annotations

import math
from typing import Any

from agents.schemas import WorkloadSpec

FINE_TUNING_DEFAULT = "lora"
DEFAULT_TTFT_S = 2.0
DEFAULT_TPOT_S = 0.05
DEFAULT_OUTPUT_TOKENS = 256
DEFAULT_DOCUMENT_TOKENS = 500
DEFAULT_PROMPT_TOKENS = 1024
# A non-LLM request (classifier, embedding) is held about this long on a GPU.
SHORT_REQUEST_S = 0.1
# One image from a diffusion model takes about this long on a datacenter GPU.
IMAGE_SECONDS = 2.0
SECONDS_PER_DAY = 86_400


def sizing_task(spec: WorkloadSpec) -> str:
    """Map the spec's task to the sizing task (inference, full, lora, qlora, training)."""
    if spec.task_type == "fine_tuning":
        return spec.model_needs.fine_tuning_method or FINE_TUNING_DEFAULT
    if spec.task_type == "training":
        return "training"
    return "inference"


def _seconds_per_request(spec: WorkloadSpec) -> float:
    if spec.domain not in ("llm", "multimodal", None):
        return SHORT_REQUEST_S
    ttft = (spec.latency.ttft_ms or DEFAULT_TTFT_S * 1000) / 1000
    tpot = (spec.latency.tpot_ms or DEFAULT_TPOT_S * 1000) / 1000
    return ttft + (spec.scale.tokens_per_request or DEFAULT_OUTPUT_TOKENS) * tpot


def _tokens_per_day(spec: WorkloadSpec) -> float | None:
    if spec.scale.tokens_per_day:
        return spec.scale.tokens_per_day
    if spec.scale.documents_per_day:
        per_doc = (spec.scale.input_tokens_per_request or 0) + (
            spec.scale.tokens_per_request or DEFAULT_DOCUMENT_TOKENS
        )
        return spec.scale.documents_per_day * per_doc
    return None


def batch_output_tokens(spec: WorkloadSpec) -> float | None:
    """Return the output tokens one run of batch work makes, if its size is known."""
    scale = spec.scale
    documents = scale.documents_per_day or scale.documents
    output = scale.tokens_per_request or DEFAULT_OUTPUT_TOKENS
    tokens = scale.tokens_per_day or (documents * output if documents else None)
    return tokens if spec.task_type == "batch" and tokens else None


def batch_seconds(spec: WorkloadSpec) -> tuple[float, str]:
    """Return the seconds a day's batch may take, and how to say it: its window, else the day."""
    hours = spec.scale.batch_window_hours
    if spec.task_type == "batch" and hours:
        return hours * 3600, f"within its {hours:g}-hour window"
    return SECONDS_PER_DAY, "around the clock"


def sequences_in_flight(spec: WorkloadSpec) -> tuple[int, str | None]:
    """Return the sequences the deployment holds at once and, if derived, how."""
    scale = spec.scale
    if scale.concurrent_sequences or scale.concurrent_users:
        return scale.concurrent_sequences or scale.concurrent_users or 1, None
    if scale.concurrent_streams:
        return scale.concurrent_streams, None
    if scale.requests_per_second:
        held = _seconds_per_request(spec)
        count = max(1, math.ceil(scale.requests_per_second * held))
        return count, (
            f"{scale.requests_per_second:g} requests/s × {held:.1f} s each = {count} "
            "sequences in flight (Little's law)"
        )
    if scale.images_per_second:
        count = max(1, math.ceil(scale.images_per_second * IMAGE_SECONDS))
        return count, (
            f"{scale.images_per_second:g} images/s × {IMAGE_SECONDS:g} s each = {count} "
            "images in flight"
        )
    if (tokens := _tokens_per_day(spec)) and spec.domain in ("llm", "multimodal", None):
        seconds, when = batch_seconds(spec)
        rate = tokens / seconds
        per_sequence = 1 / DEFAULT_TPOT_S
        count = max(1, math.ceil(rate / per_sequence))
        return count, (
            f"{tokens:,.0f} tokens/day = {rate:,.0f} tokens/s {when}, at "
            f"{per_sequence:g} tokens/s per sequence = {count} sequences in flight"
        )
    return 1, None


def context_tokens(spec: WorkloadSpec, training: bool) -> int:
    """Return the tokens each sequence holds: stated, or prompt + output, or the default."""
    if spec.scale.context_length:
        return spec.scale.context_length
    if spec.scale.input_tokens_per_request:
        return spec.scale.input_tokens_per_request + (
            spec.scale.tokens_per_request or DEFAULT_OUTPUT_TOKENS
        )
    return 2048 if training else 4096


def workload_args(spec: WorkloadSpec) -> dict[str, Any]:
    """Return the workload fields shared by the sizing and compute tools."""
    training = spec.task_type in ("training", "fine_tuning")
    return {
        "task": sizing_task(spec),
        "dtype": spec.precision or ("bf16" if training else "native"),
        "context_length": context_tokens(spec, training),
        "concurrency": 1 if training else sequences_in_flight(spec)[0],
    }


def workload_assumptions(spec: WorkloadSpec) -> list[str]:
    """Say which workload numbers were assumed or derived from what the user gave."""
    training = spec.task_type in ("training", "fine_tuning")
    args = workload_args(spec)
    said = []
    if not spec.scale.context_length:
        if spec.scale.input_tokens_per_request:
            said.append(f"{args['context_length']:,}-token sequences (prompt + output)")
        else:
            said.append(f"assumed {args['context_length']:,}-token sequences")
    if not training:
        count, how = sequences_in_flight(spec)
        if how:
            said.append(how)
        elif count == 1 and not (
            spec.scale.concurrent_sequences
            or spec.scale.concurrent_users
            or spec.scale.concurrent_streams
        ):
            said.append("assumed 1 concurrent sequence (no load was given)")
    if not spec.precision:
        said.append(f"weights in {args['dtype']} precision")
    if spec.task_type == "fine_tuning" and not spec.model_needs.fine_tuning_method:
        said.append(f"assumed {FINE_TUNING_DEFAULT.upper()} fine-tuning")
    return said


def configuration_load(spec: WorkloadSpec) -> dict[str, Any]:
    """Return the load the configuration search must carry, from what the user said.

    Chat gets the latency targets (stated, else 2 s to the first token and 50 ms per output
    token); batch work gets a throughput floor instead: its tokens a day, spread over the day
    or over the window it must finish in.
    """
    scale = spec.scale
    batch = spec.task_type == "batch"
    output = scale.tokens_per_request or DEFAULT_OUTPUT_TOKENS
    default_input = DEFAULT_DOCUMENT_TOKENS if batch else DEFAULT_PROMPT_TOKENS
    if scale.context_length and not scale.input_tokens_per_request:
        # A stated long context says the prompts are long: a quarter of it is the typical.
        default_input = max(default_input, scale.context_length // 4 - output)
    prompt = scale.input_tokens_per_request or default_input
    load: dict[str, Any] = {
        "kind": "batch" if batch else "chat",
        "concurrency": sequences_in_flight(spec)[0],
        "input_tokens": prompt,
        "output_tokens": max(output, 2),
        "max_model_len": max(context_tokens(spec, False), prompt + output),
    }
    if batch:
        load.update(ttft_ms=None, tpot_ms=None, concurrency=max(load["concurrency"], 256))
        if tokens := batch_output_tokens(spec):
            load["min_tokens_per_s"] = round(tokens / batch_seconds(spec)[0], 1)
            load["tokens_per_run"] = tokens
    else:
        load["ttft_ms"] = spec.latency.ttft_ms or DEFAULT_TTFT_S * 1000
        load["tpot_ms"] = spec.latency.tpot_ms or DEFAULT_TPOT_S * 1000
    return load
