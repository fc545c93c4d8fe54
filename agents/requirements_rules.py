"""The requirements decision, shared by the LLM and offline paths: plan, or ask first.

Infer before asking: a named catalog model fixes the domain, a known domain means serving
unless training was asked for, the domain and the load decide whether GPUs are needed, and an
LLM with no model named is planned on an 8B model. What cannot be inferred and has no
reasonable default (what kind of model at all) is asked, at most three questions a round,
never the same question twice: a field asked before is asked again in other words, with the
default that will be used, and after the clarification budget the default is assumed and
said so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agents.schemas import CRITICAL_FIELDS, WorkloadSpec

MAX_CLARIFICATION_ROUNDS = 2
MAX_QUESTIONS = 3

GPU_DOMAINS = frozenset({"llm", "image_generation", "multimodal", "vision", "speech"})
# An LLM with no model or size named is planned on a model of this size, and said so.
DEFAULT_LLM_BILLION = 8.0
# Above this many documents (in all or per day) embedding work is planned on a GPU.
EMBEDDING_GPU_DOCUMENTS = 100_000
# A classifier or embedding model this large (billions of parameters) wants a GPU.
CPU_MODEL_LIMIT_BILLION = 1.0

# Each question in two wordings: the first time, and once more if the answer did not settle it.
QUESTIONS: dict[str, tuple[str, str]] = {
    "domain": (
        "What should it do: chat or answer questions (a language model), transcribe speech, "
        "generate images, search documents (embeddings), or classify text or images?",
        "I still need the kind of model to size anything: a chat assistant on an open LLM, "
        "speech-to-text, image generation, search embeddings or a classifier? If you are not "
        "sure, say so and I will plan a chat assistant on an 8B model.",
    ),
    "task_type": (
        "Should the deployment serve a model (inference), fine-tune one, or train one from "
        "scratch?",
        "Is this for answering requests (serving), for adapting a model to your data "
        "(fine-tuning), or for training from scratch? Without an answer I will plan serving.",
    ),
    "scale": (
        "How much load should it carry: how many people at once, or requests per second?",
        "Roughly how busy will it be (for example 20 people at once, or 5 requests a "
        "second)? Without a figure I will size for a handful of users.",
    ),
    "budget": (
        "Is there a monthly budget?",
        "Is there a spending ceiling per month I should stay under?",
    ),
    "providers": (
        "Which clouds may it run on (AWS, GCP, Azure, Lambda, ...), or on your own machines?",
        "Any cloud you must use or avoid, or do you run your own GPUs?",
    ),
}

DEFAULTS = {
    "task_type": ("inference", "assumed the workload is model serving (inference)"),
    "domain": ("llm", "assumed a language model (LLM) workload"),
}


@dataclass(frozen=True)
class Decision:
    """What the requirements step concluded."""

    action: Literal["plan", "clarify"]
    spec: WorkloadSpec
    questions: tuple[str, ...] = ()


def _assume(spec: WorkloadSpec, why: str) -> None:
    if why not in spec.assumptions:
        spec.assumptions.append(why)


def _gpu_needed(spec: WorkloadSpec, params: float | None) -> tuple[bool, str] | None:
    """Return whether GPUs are needed and why, from what the spec already says."""
    if spec.own_hardware.gpu_model or spec.hardware.gpu_models or spec.hardware.max_gpus:
        return True, "GPUs assumed: GPUs were named"
    if spec.task_type in ("training", "fine_tuning"):
        return True, f"GPUs assumed: {spec.task_type.replace('_', '-')} needs them"
    if spec.domain in GPU_DOMAINS:
        return True, f"GPUs assumed: {spec.domain} workloads need them"
    if spec.domain == "tabular":
        return False, "CPUs assumed: tabular and time-series models run well on CPUs"
    big = params is not None and params >= CPU_MODEL_LIMIT_BILLION
    if spec.domain == "nlp":
        if big:
            return True, f"GPUs assumed: a {params:g}B-parameter model is slow on CPUs"
        return False, "CPUs assumed: a small classifier serves well on CPU cores"
    if spec.domain == "embeddings":
        docs = max(spec.scale.documents or 0, spec.scale.documents_per_day or 0)
        if big or docs >= EMBEDDING_GPU_DOCUMENTS:
            return True, (
                f"GPUs assumed: embedding {docs:,} documents on CPUs would take days"
                if docs >= EMBEDDING_GPU_DOCUMENTS
                else f"GPUs assumed: a {params:g}B-parameter embedding model is slow on CPUs"
            )
        return False, "CPUs assumed: a small embedding model serves queries well on CPU cores"
    return None


def infer_defaults(spec: WorkloadSpec, model_params: float | None = None) -> WorkloadSpec:
    """Fill fields the conversation implies, recording each inference as an assumption.

    Args:
        spec: the reading of the conversation.
        model_params: the named model's size in billions, when the catalog knows it.

    """
    spec = spec.model_copy(deep=True)
    if spec.domain is None and spec.model_needs.size_billion_params:
        # "a 7B model" names a size in billions of parameters: in practice a language model.
        spec.domain = "llm"
        _assume(spec, "a model sized in billions of parameters read as an LLM")
    if spec.domain is None and spec.scale.audio_hours_per_month:
        spec.domain = "speech"
        _assume(spec, "hours of audio a month read as speech-to-text")
    if spec.domain == "embeddings" and spec.task_type is None:
        spec.task_type = "embedding"
    recorded_audio = (
        spec.domain == "speech"
        and spec.scale.audio_hours_per_month
        and not spec.latency.realtime
        and not spec.scale.concurrent_streams
    )
    if recorded_audio and spec.task_type in (None, "inference"):
        spec.task_type = "batch"
        _assume(spec, "recorded audio by the hour planned as a batch transcription job")
    if spec.task_type is None and (spec.domain or spec.model_needs.named_models):
        spec.task_type = "inference"
        _assume(spec, "assumed serving (inference): nothing asks for training")
    if spec.gpu_needed is None and (found := _gpu_needed(spec, model_params)):
        spec.gpu_needed, why = found
        _assume(spec, why)
    if (
        spec.domain == "llm"
        and not spec.model_needs.named_models
        and not spec.model_needs.size_billion_params
    ):
        spec.model_needs.size_billion_params = DEFAULT_LLM_BILLION
        _assume(
            spec,
            f"no model named: planned on an {DEFAULT_LLM_BILLION:g}B instruction-tuned model "
            "(name one to change it)",
        )
    if spec.scale.concurrent_sequences is None:
        # People or live streams at once each hold a sequence in the engine.
        spec.scale.concurrent_sequences = (
            spec.scale.concurrent_users or spec.scale.concurrent_streams or None
        )
    return spec


def _missing(spec: WorkloadSpec) -> list[str]:
    missing = [name for name in CRITICAL_FIELDS if getattr(spec, name) is None]
    if spec.domain in ("llm", "multimodal") and not (
        spec.model_needs.named_models or spec.model_needs.size_billion_params
    ):
        missing.append("model")
    load = spec.scale
    if spec.task_type == "inference" and not any(
        (
            load.concurrent_users,
            load.concurrent_sequences,
            load.concurrent_streams,
            load.requests_per_second,
            load.images_per_second,
            load.tokens_per_day,
            load.documents_per_day,
        )
    ):
        missing.append("scale")
    if spec.budget_monthly_usd is None:
        missing.append("budget")
    if not spec.providers and spec.own_hardware.cloud_allowed is not False:
        missing.append("providers")
    return missing


def _confidence(spec: WorkloadSpec, missing: list[str]) -> Literal["low", "medium", "high"]:
    if any(name in missing for name in CRITICAL_FIELDS):
        return "low"
    return "high" if len(missing) <= 1 else "medium"


def questions_for(fields: Sequence[str], asked: Sequence[str]) -> tuple[str, ...]:
    """Return a question per field: its first wording, or the second if the first was asked.

    A field asked in both wordings already is not asked again.
    """
    out = []
    for name in fields:
        first, again = QUESTIONS[name]
        if first not in asked:
            out.append(first)
        elif again not in asked:
            out.append(again)
    return tuple(out[:MAX_QUESTIONS])


def decide(
    spec: WorkloadSpec,
    clarification_rounds: int,
    asked: Sequence[str] = (),
    model_params: float | None = None,
) -> Decision:
    """Plan when the kind of workload is known; else ask, until the budget of rounds is spent.

    Args:
        spec: the reading of the conversation.
        clarification_rounds: how many times questions were asked in this chat.
        asked: every question asked in this chat so far, to never repeat one word for word.
        model_params: the named model's size in billions, when the catalog knows it.

    """
    spec = infer_defaults(spec, model_params)
    missing = _missing(spec)
    spec.missing_fields = missing
    spec.confidence = _confidence(spec, missing)
    critical = [name for name in ("domain", "task_type") if name in missing]
    if critical and clarification_rounds < MAX_CLARIFICATION_ROUNDS:
        extra = [name for name in ("scale", "providers", "budget") if name in missing]
        questions = questions_for([*critical, *extra], asked)
        if questions:
            return Decision("clarify", spec, questions)
    for name in critical:
        value, why = DEFAULTS[name]
        setattr(spec, name, value)
        _assume(spec, why + " after two rounds of questions")
    if critical:
        spec = infer_defaults(spec, model_params)
    if spec.gpu_needed is None:
        spec.gpu_needed = True
        _assume(spec, "assumed GPUs are needed")
    spec.missing_fields = _missing(spec)
    if critical:
        spec.confidence = "low"
    return Decision("plan", spec)
