"""The requirements decision, shared by the LLM and offline paths: plan, or ask first.

Critical fields (task, domain, whether GPUs are needed) are inferred where the conversation
makes them plain; what is still missing is asked for, at most three questions a round. After
the clarification budget is spent, defaults are assumed and said so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agents.schemas import CRITICAL_FIELDS, WorkloadSpec

MAX_CLARIFICATION_ROUNDS = 2
MAX_QUESTIONS = 3

GPU_DOMAINS = frozenset({"llm", "image_generation", "multimodal", "vision", "speech"})

QUESTIONS = {
    "task_type": "What should the deployment do: serve a model (inference), fine-tune one, "
    "or train from scratch?",
    "domain": "What kind of model is it: a language model (LLM), image generation, computer "
    "vision, speech, or embeddings?",
    "gpu_needed": "Do you need GPUs, or should this run on CPUs only?",
    "model": "Which model (or model size) do you have in mind?",
    "scale": "How many concurrent users or requests per second should it handle?",
    "budget": "Is there a monthly budget, and which cloud providers are allowed?",
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


def infer_defaults(spec: WorkloadSpec) -> WorkloadSpec:
    """Fill fields the conversation implies, recording each inference as an assumption."""
    spec = spec.model_copy(deep=True)
    if spec.domain is None and spec.model_needs.size_billion_params:
        # "a 7B model" names a size in billions of parameters: in practice a language model.
        spec.domain = "llm"
        spec.assumptions.append("a model sized in billions of parameters read as an LLM")
    if spec.gpu_needed is None and (
        spec.domain in GPU_DOMAINS or spec.task_type in ("training", "fine_tuning")
    ):
        spec.gpu_needed = True
        spec.assumptions.append(
            f"GPUs assumed: {spec.domain or spec.task_type} workloads need them"
        )
    if spec.domain == "embeddings" and spec.task_type is None:
        spec.task_type = "embedding"
    if spec.scale.concurrent_sequences is None and spec.scale.concurrent_users is not None:
        spec.scale.concurrent_sequences = spec.scale.concurrent_users
    return spec


def _missing(spec: WorkloadSpec) -> list[str]:
    missing = [name for name in CRITICAL_FIELDS if getattr(spec, name) is None]
    if spec.domain in ("llm", "multimodal") and not (
        spec.model_needs.named_models or spec.model_needs.size_billion_params
    ):
        missing.append("model")
    if (
        spec.task_type == "inference"
        and spec.scale.concurrent_users is None
        and (spec.scale.requests_per_second is None)
    ):
        missing.append("scale")
    if spec.budget_monthly_usd is None:
        missing.append("budget")
    return missing


def _confidence(spec: WorkloadSpec, missing: list[str]) -> Literal["low", "medium", "high"]:
    if any(name in missing for name in CRITICAL_FIELDS):
        return "low"
    return "high" if len(missing) <= 1 else "medium"


def decide(spec: WorkloadSpec, clarification_rounds: int) -> Decision:
    """Plan when every critical field is known; else ask, until the budget of rounds is spent."""
    spec = infer_defaults(spec)
    missing = _missing(spec)
    spec.missing_fields = missing
    spec.confidence = _confidence(spec, missing)
    critical_missing = [name for name in CRITICAL_FIELDS if name in missing]
    if not critical_missing:
        return Decision("plan", spec)
    if clarification_rounds < MAX_CLARIFICATION_ROUNDS:
        asked = [QUESTIONS[name] for name in missing][:MAX_QUESTIONS]
        return Decision("clarify", spec, tuple(asked))
    for name in critical_missing:
        if name in DEFAULTS:
            value, why = DEFAULTS[name]
            setattr(spec, name, value)
            spec.assumptions.append(why + " after two rounds of questions")
    spec = infer_defaults(spec)
    if spec.gpu_needed is None:
        spec.gpu_needed = True
        spec.assumptions.append("assumed GPUs are needed")
    spec.missing_fields = _missing(spec)
    spec.confidence = "low"
    return Decision("plan", spec)
