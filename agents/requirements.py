"""Requirements agent: the conversation → a WorkloadSpec, and plan-or-ask.

With a chat model the reading is structured output (retried when malformed); offline it is
the deterministic extractor. Either way the same decision rule (agents.requirements_rules)
decides, and named models are grounded in the catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field, field_validator

from agents.llm import STRUCTURED_OUTPUT_ATTEMPTS, invoke_structured
from agents.offline_extractor import merge_readings, read_message, to_spec
from agents.prompts import REQUIREMENTS_SYSTEM
from agents.requirements_rules import (
    MAX_CLARIFICATION_ROUNDS,
    MAX_QUESTIONS,
    Decision,
    decide,
)
from agents.schemas import WorkloadSpec
from agents.vocabulary import Vocabulary

logger = logging.getLogger(__name__)


class RequirementsAnswer(BaseModel):
    """What the model must return: its reading, its decision and its questions."""

    spec: WorkloadSpec
    decision: Literal["plan", "clarify"]
    questions: list[str] = Field(default_factory=list, max_length=MAX_QUESTIONS)

    @field_validator("questions", mode="before")
    @classmethod
    def _at_most_three(cls, value: object) -> object:
        # A fourth question is not worth a retry: keep the first three.
        return value[:MAX_QUESTIONS] if isinstance(value, list) else value


def user_texts(messages: Sequence[AnyMessage]) -> list[str]:
    """Return the text of every user message, oldest first."""
    return [m.text for m in messages if isinstance(m, HumanMessage)]


def read_offline(messages: Sequence[AnyMessage], vocabulary: Vocabulary) -> WorkloadSpec:
    """Read the spec deterministically; later statements override earlier ones."""
    readings = (
        read_message(t, vocabulary.models, vocabulary.regions) for t in user_texts(messages)
    )
    return ground_domain(to_spec(merge_readings(readings)), vocabulary)


# What kind of workload a named model implies, by its Hub task.
DOMAIN_BY_PIPELINE_TAG: dict[str, str] = {
    "text-generation": "llm",
    "text2text-generation": "llm",
    "image-text-to-text": "multimodal",
    "image-to-text": "multimodal",
    "text-to-image": "image_generation",
    "image-to-image": "image_generation",
    "text-to-video": "image_generation",
    "automatic-speech-recognition": "speech",
    "text-to-speech": "speech",
    "feature-extraction": "embeddings",
    "sentence-similarity": "embeddings",
    "image-classification": "vision",
    "object-detection": "vision",
    "image-segmentation": "vision",
    "mask-generation": "vision",
    "depth-estimation": "vision",
    "zero-shot-image-classification": "vision",
    "zero-shot-object-detection": "vision",
    "time-series-forecasting": "tabular",
}


def ground_domain(spec: WorkloadSpec, vocabulary: Vocabulary) -> WorkloadSpec:
    """Let a named catalog model decide the domain: the model says more than loose words."""
    for model_id in spec.model_needs.named_models:
        domain = DOMAIN_BY_PIPELINE_TAG.get(vocabulary.pipeline_tags.get(model_id) or "")
        if domain:
            spec.domain = domain  # type: ignore[assignment]
            break
    return spec


def ground_models(spec: WorkloadSpec, vocabulary: Vocabulary) -> WorkloadSpec:
    """Replace model names by catalog ids; drop names no catalog model matches, saying so."""
    grounded: list[str] = []
    for name in spec.model_needs.named_models:
        found = vocabulary.models.find(name) or vocabulary.models.find(name.split("/")[-1])
        if found:
            grounded.append(found[0])
        else:
            spec.assumptions.append(f"{name} is not in the model catalog; not used")
    spec.model_needs.named_models = list(dict.fromkeys(grounded))
    return spec


async def read_with_model(
    chat_model: BaseChatModel, messages: Sequence[AnyMessage], rounds: int
) -> RequirementsAnswer:
    """Ask the model for a structured reading, retrying malformed output.

    Raises:
        MalformedOutputError: the answer stayed malformed after every retry.

    """
    system = SystemMessage(
        REQUIREMENTS_SYSTEM.format(rounds=rounds, max_rounds=MAX_CLARIFICATION_ROUNDS)
    )
    return await invoke_structured(
        chat_model, RequirementsAnswer, [system, *messages], attempts=STRUCTURED_OUTPUT_ATTEMPTS
    )


async def run_requirements(
    messages: Sequence[AnyMessage],
    *,
    rounds: int,
    vocabulary: Vocabulary,
    chat_model: BaseChatModel | None,
) -> Decision:
    """Read the conversation and decide whether to plan or ask."""
    if chat_model is None:
        spec = read_offline(messages, vocabulary)
        return decide(spec, rounds)
    answer = await read_with_model(chat_model, messages, rounds)
    decision = decide(ground_domain(ground_models(answer.spec, vocabulary), vocabulary), rounds)
    if decision.action == "clarify" and answer.questions:
        return Decision("clarify", decision.spec, tuple(answer.questions[:MAX_QUESTIONS]))
    return decision
