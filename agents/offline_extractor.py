"""Deterministic reading of a conversation into a WorkloadSpec, with no LLM.

Each user message is read in order and every field it states replaces what earlier messages
said ("make that $8k" wins over "$6k"). Model names are matched against the catalog's ids, so
only models that exist can be named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.schemas import ModelNeeds, Scale, WorkloadSpec

_NUMBER = r"(\d+(?:[.,]\d+)*)"

PROVIDER_WORDS = {
    "aws": ("aws", "amazon web services", "amazon", "ec2"),
    "gcp": ("gcp", "google cloud", "gce"),
    "azure": ("azure", "microsoft cloud"),
    "lambda": ("lambda labs", "lambda cloud", "lambdalabs"),
    "oci": ("oci", "oracle cloud", "oracle"),
    "nebius": ("nebius",),
    "runpod": ("runpod",),
    "vast": ("vast.ai", "vastai", "vast ai"),
}

# Ordered: the first family whose words appear decides, so specific words come first.
TASK_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fine_tuning", ("fine-tun", "finetun", "fine tun", "qlora", "lora", "sft", "instruction-tun")),
    ("training", ("train from scratch", "pretrain", "pre-train", "training", r"train\b")),
    ("rag", (r"rag\b", "retrieval augmented", "retrieval-augmented", "chat with our docs")),
    ("embedding", ("embedding", r"embed\b", "semantic search", "vector search")),
    ("batch", ("batch job", "batch inference", "offline processing", "nightly batch")),
    (
        "inference",
        (
            "inference",
            r"serv(e|es|ed|ing)\b",
            "deploy",
            r"host(s|ed|ing)?\b",
            "chatbot",
            "api for",
            "transcrib",
            "caption",
        ),
    ),
)

DOMAIN_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "image_generation",
        (
            "stable diffusion",
            "sdxl",
            "text to image",
            "text-to-image",
            "image generation",
            "generate images",
            "flux",
            "diffusion",
        ),
    ),
    (
        "multimodal",
        ("vision language", "vision-language", "multimodal", "vlm", "llava"),
    ),
    ("speech", ("speech", "whisper", "asr", "transcri", "text to speech", "tts", "audio")),
    ("embeddings", ("embedding", "semantic search", "vector search", "sentence similarity")),
    (
        "vision",
        (
            "computer vision",
            "image classification",
            "object detection",
            "segmentation",
            "yolo",
            "detection model",
            "resnet",
            "vision model",
            r"images\b",
        ),
    ),
    ("tabular", ("tabular", "xgboost", "time series", "forecast")),
    (
        "llm",
        (
            "llm",
            "language model",
            "chat",
            "llama",
            "mistral",
            "mixtral",
            "qwen",
            "gpt",
            "gemma",
            "text generation",
            "assistant",
            "deepseek",
            "phi-",
        ),
    ),
)

KUBERNETES_WORDS = {
    "mlflow": ("mlflow", "experiment tracking"),
    "monitoring": ("monitoring", "prometheus", "grafana", "observability", "metrics"),
    # A vector database the user names wins over the default one.
    "qdrant": ("qdrant",),
    "milvus": ("milvus",),
    "vector_db": ("vector db", "vector database", "weaviate", "pgvector"),
    "ray": ("ray cluster", "kuberay", " ray "),
    "airflow": ("airflow",),
    "jupyterhub": ("jupyter",),
    "redis": ("redis",),
    "postgresql": ("postgres",),
}

PRECISION_PATTERNS = (
    ("int4", r"\b(int4|4-?bit|awq|gptq|q4)\b"),
    ("int8", r"\b(int8|8-?bit)\b"),
    ("fp8", r"\bfp8\b"),
    ("bf16", r"\bbf16\b|\bbfloat16\b"),
    ("fp16", r"\bfp16\b|\bfloat16\b|\bhalf precision\b"),
    ("fp32", r"\bfp32\b|\bfloat32\b|\bfull precision\b"),
)

_BUDGET = re.compile(
    rf"(?:\$\s*{_NUMBER}\s*(k|thousand|m)?|{_NUMBER}\s*(k|thousand)?\s*(?:usd|dollars|\$))"
    r"(\s*(?:/|per|a)\s*(?:hour|hr|h\b|month|mo\b|year|yr))?",
    re.IGNORECASE,
)
_BUDGET_CUE = re.compile(
    r"\b(budget|spend|afford|under|below|at most|up to|max(imum)?|no more than|cap|limit|"
    r"cost(s|ing)?)\b",
    re.IGNORECASE,
)
_USERS = re.compile(
    rf"{_NUMBER}\s*(?:concurrent\s+|simultaneous\s+|parallel\s+)?"
    r"(users|sessions|sequences|requests at once|streams)",
    re.IGNORECASE,
)
_CONTEXT = re.compile(
    rf"{_NUMBER}\s*(k)?\s*(?:tokens?\s+)?(?:of\s+)?context|context(?:\s+"
    rf"(?:length|window|of))?\s*(?:of\s*)?{_NUMBER}\s*(k)?",
    re.IGNORECASE,
)
_RPS = re.compile(
    rf"{_NUMBER}\s*(?:rps|req(?:uest)?s?\s*(?:/|per)\s*s(?:ec(?:ond)?)?)", re.IGNORECASE
)
_TOKENS_PER_REQUEST = re.compile(
    rf"{_NUMBER}\s*(k)?\s*(?:output\s+)?tokens\s*(?:per|/|each)\s*(?:request|response|answer)",
    re.IGNORECASE,
)
_VRAM = re.compile(
    rf"{_NUMBER}\s*(?:gb|gib)\b(?:\s*(?:of\s*)?(?:vram|gpu memory|gpu))?", re.IGNORECASE
)
_PARAMS = re.compile(r"\b(\d+(?:\.\d+)?)\s*b(?:illion)?\b(?:\s*param(?:eter)?s?)?", re.IGNORECASE)
_REGION = re.compile(r"\b[a-z]{2,}(?:-[a-z]+)+-?\d+\b|\b(?:east|west|north|south)[a-z]*\d?\b")

_VARIANT_WORDS = {"instruct", "chat", "it", "hf", "base", "diffusers"}


def _to_number(raw: str) -> float:
    return float(raw.replace(",", ""))


def _normalise(text: str) -> str:
    # Sentence punctuation after a name ("...70B." or "(Llama 3.1 8B)") must not hide it; dots
    # inside names ("3.1") stay.
    text = re.sub(r"[.,;:!?'\")\]]+(?=\s|$)|(?<=\s)[(\[\"']+|^[(\[\"']+", " ", text.lower())
    return " " + re.sub(r"[\s_/\-]+", " ", text).strip() + " "


@dataclass(frozen=True)
class ModelIndex:
    """Aliases of catalog model ids, longest first, for finding models named in chat."""

    aliases: tuple[tuple[str, str], ...]

    @classmethod
    def from_ids(cls, model_ids: Iterable[str]) -> ModelIndex:
        """Build aliases: the full name, and the name without variant suffixes."""
        pairs: dict[str, str] = {}
        for model_id in sorted(model_ids, key=_prefer_chat_variant):
            name_tokens = _normalise(model_id.split("/")[-1]).split()
            while name_tokens:
                alias = " ".join(name_tokens)
                has_digit = any(ch.isdigit() for ch in alias)
                if has_digit or len(name_tokens) >= 3:
                    pairs.setdefault(alias, model_id)
                if name_tokens[-1] not in _VARIANT_WORDS and not re.fullmatch(
                    r"v?\d+(\.\d+)*|\d{4}", name_tokens[-1]
                ):
                    break
                name_tokens = name_tokens[:-1]
        pairs.setdefault("sdxl", "stabilityai/stable-diffusion-xl-base-1.0")
        ordered = sorted(pairs.items(), key=lambda kv: (-len(kv[0]), kv[0]))
        return cls(tuple(ordered))

    def find(self, text: str) -> list[str]:
        """Return the catalog ids named in ``text``, in order of appearance."""
        haystack = _normalise(text)
        found: list[tuple[int, str]] = []
        taken: list[tuple[int, int]] = []
        for alias, model_id in self.aliases:
            start = haystack.find(f" {alias} ")
            if start == -1:
                continue
            end = start + len(alias) + 2
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append((start, model_id))
        return [model_id for _, model_id in sorted(found)]


def _prefer_chat_variant(model_id: str) -> tuple[int, str]:
    # When an alias fits several ids, the instruct/chat build is what people serve.
    lowered = model_id.lower()
    return (0 if ("instruct" in lowered or "chat" in lowered) else 1, model_id)


@dataclass
class Reading:
    """Fields one message stated, as a flat mapping of dotted WorkloadSpec paths."""

    values: dict[str, Any] = field(default_factory=dict)


def _first_family(text: str, families: Sequence[tuple[str, tuple[str, ...]]]) -> str | None:
    # Words match at a word start ("retrain" is not "train"); entries are regex fragments so a
    # few can also demand a word end ("servers" is not "serve").
    for name, words in families:
        if any(re.search(r"(?<![a-z0-9])" + word, text) for word in words):
            return name
    return None


def read_message(text: str, models: ModelIndex, known_regions: frozenset[str]) -> Reading:
    """Extract every WorkloadSpec field stated in one user message."""
    lowered = " " + text.lower() + " "
    values: dict[str, Any] = {}
    task = _first_family(lowered, TASK_WORDS)
    if task:
        values["task_type"] = task
    named = models.find(text)
    domain = _first_family(lowered, DOMAIN_WORDS)
    if domain:
        values["domain"] = domain
    if named:
        values["model_needs.named_models"] = named
    if re.search(r"\b(cpu only|cpu-only|no gpus?|without (a )?gpus?)\b", lowered):
        values["gpu_needed"] = False
    elif re.search(r"\b(gpus?|cuda|vram|(h100|a100|l4|l40s|a10g?|t4|h200|b200)s?)\b", lowered):
        values["gpu_needed"] = True
    for precision, pattern in PRECISION_PATTERNS:
        if re.search(pattern, lowered):
            values["precision"] = precision
            break
    if re.search(
        r"\b(text to speech|text-to-speech|tts|voice synthesis|speech synthesis)\b", lowered
    ):
        values["model_needs.pipeline_tag"] = "text-to-speech"
    elif re.search(r"\b(transcrib\w*|speech recognition|speech to text|asr)\b", lowered):
        values["model_needs.pipeline_tag"] = "automatic-speech-recognition"
    if "qlora" in lowered:
        values["model_needs.fine_tuning_method"] = "qlora"
    elif re.search(r"\blora\b", lowered):
        values["model_needs.fine_tuning_method"] = "lora"
    elif re.search(r"full(?:-| )(?:parameter )?fine-?tun", lowered):
        values["model_needs.fine_tuning_method"] = "full"
    values.update(_numbers(text, named))
    providers = [
        p
        for p, words in PROVIDER_WORDS.items()
        if any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", lowered) for w in words)
    ]
    if providers:
        values["providers"] = providers
    regions = [r for r in _REGION.findall(lowered) if r in known_regions]
    if regions:
        values["regions"] = list(dict.fromkeys(regions))
    needs = [n for n, words in KUBERNETES_WORDS.items() if any(w in lowered for w in words)]
    if needs:
        values["kubernetes_needs"] = needs
    if re.search(
        r"\b(prototype|poc|proof of concept|single (box|machine)|laptop|home ?lab|dev box)\b",
        lowered,
    ):
        values["constraints"] = "single-box start"
    if re.search(
        r"\b(apache|mit)\b.*licen|commercial(ly)?[- ](usable|friendly|use)|permissive", lowered
    ):
        values["model_needs.license_allow_list"] = ["apache-2.0", "mit"]
    return Reading(values)


_NEGATED = re.compile(r"\bnot\s+(?:the\s+|a\s+|an\s+)?$", re.IGNORECASE)


def _stated(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    # "80 GB, not the 40 GB one": a value right after "not" is the one being replaced.
    return [m for m in pattern.finditer(text) if not _NEGATED.search(text[: m.start()])]


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    stated = _stated(pattern, text)
    return stated[-1] if stated else None


def _numbers(text: str, named: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    has_budget_cue = bool(_BUDGET_CUE.search(text))
    for match in _stated(_BUDGET, text):
        amount = _to_number(match[1] or match[3])
        scale = (match[2] or match[4] or "").lower()
        amount *= 1000 if scale in ("k", "thousand") else 1_000_000 if scale == "m" else 1
        period = (match[5] or "").lower()
        # A price quoted in passing ("the T4 is $0.53/hour") is not a budget: without words
        # about spending, an hourly or small bare amount is skipped.
        hourly = "h" in period and "month" not in period
        if not has_budget_cue and (hourly or (not period and amount < 100)):
            continue
        if "h" in period and "month" not in period:
            amount *= 730  # a month of hours, the same convention as the price math
        elif "y" in period:
            amount /= 12
        values["budget_monthly_usd"] = round(amount, 2)
    # Within one message too, the last statement of a number wins ("50 users... make it 80").
    if m := _last(_USERS, text):
        key = (
            "scale.concurrent_sequences"
            if m[2].lower() in ("sequences", "streams")
            else "scale.concurrent_users"
        )
        values[key] = int(_to_number(m[1]))
    if m := _last(_CONTEXT, text):
        raw, kilo = (m[1], m[2]) if m[1] else (m[3], m[4])
        values["scale.context_length"] = int(_to_number(raw) * (1024 if kilo else 1))
    if m := _last(_RPS, text):
        values["scale.requests_per_second"] = _to_number(m[1])
    if m := _last(_TOKENS_PER_REQUEST, text):
        values["scale.tokens_per_request"] = int(_to_number(m[1]) * (1000 if m[2] else 1))
    if m := _last(_VRAM, text):
        values["min_vram_gb"] = _to_number(m[1])
    if not named and (m := _PARAMS.search(text)):
        values["model_needs.size_billion_params"] = _to_number(m[1])
    return values


def merge_readings(readings: Iterable[Reading]) -> dict[str, Any]:
    """Fold readings in order; a later statement of a field replaces an earlier one."""
    merged: dict[str, Any] = {}
    for reading in readings:
        merged.update(reading.values)
    if "model_needs.named_models" in merged:
        merged.pop("model_needs.size_billion_params", None)
    return merged


def to_spec(fields: dict[str, Any]) -> WorkloadSpec:
    """Build a WorkloadSpec from merged dotted fields (no defaults invented here)."""
    top = {k: v for k, v in fields.items() if "." not in k}
    model_needs = {k.split(".", 1)[1]: v for k, v in fields.items() if k.startswith("model_needs.")}
    scale = {k.split(".", 1)[1]: v for k, v in fields.items() if k.startswith("scale.")}
    return WorkloadSpec(**top, model_needs=ModelNeeds(**model_needs), scale=Scale(**scale))
