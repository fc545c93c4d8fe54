"""Requirements agent: the conversation → a WorkloadSpec, and plan-or-ask.

With a chat model the reading is structured output (retried when malformed); offline it is
the deterministic extractor. Either way the same decision rule (agents.requirements_rules)
decides, and named models are grounded in the catalog.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
        read_message(t, vocabulary) for t in user_texts(messages)
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
    "text-classification": "nlp",
    "token-classification": "nlp",
    "zero-shot-classification": "nlp",
    "fill-mask": "nlp",
    "question-answering": "nlp",
    "translation": "nlp",
    "summarization": "nlp",
}


def ground_domain(spec: WorkloadSpec, vocabulary: Vocabulary) -> WorkloadSpec:
    """Let a named catalog model decide the domain: the model says more than loose words."""
    for model_id in spec.model_needs.named_models:
        tag = vocabulary.pipeline_tags.get(model_id) or ""
        domain = DOMAIN_BY_PIPELINE_TAG.get(tag)
        if domain:
            spec.domain = domain  # type: ignore[assignment]
            if domain == "nlp" and spec.model_needs.pipeline_tag is None:
                # NLP spans classifiers and seq2seq models: the engine depends on which.
                spec.model_needs.pipeline_tag = tag
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


def named_model_params(spec: WorkloadSpec, vocabulary: Vocabulary) -> float | None:
    """Return the first named model's size in billions, when the catalog knows it."""
    for model_id in spec.model_needs.named_models:
        if (params := vocabulary.params.get(model_id)) is not None:
            return params
    return None


def _fresh(questions: Sequence[str], asked: Sequence[str]) -> tuple[str, ...]:
    """Drop questions already asked in this chat (compared without case and punctuation)."""

    def key(text: str) -> str:
        return " ".join(re.findall(r"[a-z0-9]+", text.lower()))

    seen = {key(q) for q in asked}
    return tuple(q for q in questions if key(q) not in seen)[:MAX_QUESTIONS]


# Fields the meaning of a message may fill where the word rules found nothing.
INTENT_FIELDS = ("task_type", "domain", "gpu_needed")
IntentReader = Callable[[str, Sequence[str]], Awaitable[Mapping[str, str]]]


async def fill_intents(
    spec: WorkloadSpec, messages: Sequence[AnyMessage], intents: IntentReader
) -> WorkloadSpec:
    """Fill task, domain and GPU stance the rules left empty from the request's meaning."""
    missing = [name for name in INTENT_FIELDS if getattr(spec, name) is None]
    if not missing:
        return spec
    found = await intents(" ".join(user_texts(messages)), missing)
    for name, label in found.items():
        value: object = label == "true" if name == "gpu_needed" else label
        setattr(spec, name, value)
        spec.assumptions.append(f"read {name.replace('_', ' ')} as {label} from the wording")
    return spec


async def run_requirements(
    messages: Sequence[AnyMessage],
    *,
    rounds: int,
    vocabulary: Vocabulary,
    chat_model: BaseChatModel | None,
    asked: Sequence[str] = (),
    intents: IntentReader | None = None,
) -> Decision:
    """Read the conversation and decide whether to plan or ask.

    ``asked`` holds every question asked in this chat so far: none is asked again word for
    word, whoever wrote it. ``intents`` (offline only) reads by meaning what the word rules
    left empty.
    """
    if chat_model is None:
        spec = read_offline(messages, vocabulary)
        if intents is not None:
            spec = await fill_intents(spec, messages, intents)
        return decide(spec, rounds, asked, named_model_params(spec, vocabulary))
    answer = await read_with_model(chat_model, messages, rounds)
    spec = ground_domain(ground_models(answer.spec, vocabulary), vocabulary)
    decision = decide(spec, rounds, asked, named_model_params(spec, vocabulary))
    if decision.action == "clarify" and (own := _fresh(answer.questions, asked)):
        return Decision("clarify", decision.spec, own)
    return decision
