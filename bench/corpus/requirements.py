"""The requirements a generated chat is about: how each is stated, restated and corrected.

Each fact knows its values, the WorkloadSpec fields (dotted) a statement of it sets, and the
user's wordings; the generator picks among them with its seeded random source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fact:
    """A requirement the user can state, restate and correct."""

    key: str
    values: tuple[Any, ...]
    fields: Callable[[Any], dict[str, Any]]
    state: tuple[str, ...]
    restate: tuple[str, ...]
    correct: tuple[str, ...]
    render: Callable[[Any], dict[str, str]] = lambda v: {"v": str(v)}


def _k(v: int) -> dict[str, str]:
    return {"v": str(v)}


_WORDS = {
    20: "twenty",
    30: "thirty",
    50: "fifty",
    80: "eighty",
    120: "a hundred and twenty",
    200: "two hundred",
}


def _in_words(v: int) -> dict[str, str]:
    return {"v": str(v), "w": _WORDS[v]}


_PROVIDER_NAMES = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}
_REGIONS = {
    "aws": ("us-east-1", "us-west-2", "eu-west-1"),
    "gcp": ("us-central1", "europe-west4"),
    "azure": ("eastus", "westeurope"),
}


def _providers_text(providers: tuple[str, ...]) -> dict[str, str]:
    names = [_PROVIDER_NAMES[p] for p in providers]
    return {"v": " or ".join(names)}


FACTS: dict[str, Fact] = {
    "users": Fact(
        "users",
        (20, 30, 50, 80, 120, 200),
        lambda v: {"scale.concurrent_users": v},
        (
            "We expect about {v} concurrent users at peak.",
            "Plan for roughly {w} users at the same time.",
        ),
        ("we expect about {v} concurrent users", "roughly {v} users at once"),
        (
            "Correction: we now expect {v} concurrent users.",
            "Update from the product team: make that {v} users.",
        ),
        _in_words,
    ),
    "budget": Fact(
        "budget",
        (3, 4, 5, 6, 8, 10, 12),
        lambda v: {"budget_monthly_usd": float(v * 1000)},
        ("Our budget is ${v}k per month.", "We can spend up to ${v},000 a month."),
        ("the budget is ${v}k per month", "we can spend ${v}k per month"),
        (
            "Actually, make the budget ${v}k per month.",
            "Finance came back: the ceiling is now ${v}k per month.",
        ),
        _k,
    ),
    "providers": Fact(
        "providers",
        (("aws",), ("gcp",), ("azure",), ("aws", "gcp")),
        lambda v: {"providers": list(v)},
        ("We can use {v}.", "Our cloud accounts are on {v}."),
        ("we are on {v}", "the cloud is {v}"),
        (
            "Change of plan on the cloud side: we will use {v} now.",
            "Procurement changed its mind: {v}, please.",
        ),
        _providers_text,
    ),
    "context": Fact(
        "context",
        (8, 16, 32),
        lambda v: {"scale.context_length": v * 1024},
        ("Prompts can reach {v}k tokens of context.", "Some requests carry a context of {v}k."),
        ("prompts reach {v}k tokens of context", "a context of {v}k"),
        (
            "Correction: we need a context of {v}k after all.",
            "Long documents mean {v}k tokens of context now.",
        ),
        _k,
    ),
    "rps": Fact(
        "rps",
        (5, 10, 20, 40),
        lambda v: {"scale.requests_per_second": float(v)},
        ("Peak traffic is around {v} requests per second.",),
        ("peak traffic is {v} requests per second",),
        ("Marketing expects more: plan for {v} requests per second.",),
        _k,
    ),
    "precision": Fact(
        "precision",
        ("int4", "int8", "bf16", "fp8"),
        lambda v: {"precision": v},
        ("{v} weights are acceptable to us.",),
        ("{v} weights are fine",),
        ("On second thought, we would rather use {v} weights.",),
        lambda v: {"v": {"int4": "4-bit", "int8": "8-bit", "bf16": "bf16", "fp8": "FP8"}[v]},
    ),
    "gpu": Fact(
        "gpu",
        (("H100", "A100", "A100-80GB"), ("A100", "A100-80GB")),
        lambda v: {"gpu_needed": True, "hardware.gpu_models": list(v)},
        ("We would prefer {v} cards.", "Our team is used to {v} GPUs."),
        ("{v} cards are preferred",),
        (),
        # "A100" names both memory sizes of the card.
        lambda v: {"v": " or ".join(g for g in v if not g.endswith("GB"))},
    ),
    "monitoring": Fact(
        "monitoring",
        (("monitoring",), ("mlflow", "monitoring")),
        lambda v: {"kubernetes_needs": list(v)},
        ("{v}",),
        ("{short}",),
        ("{v}",),
        lambda v: (
            {
                "v": "We also want monitoring with Prometheus and Grafana.",
                "short": "monitoring with Prometheus and Grafana",
            }
            if v == ("monitoring",)
            else {
                "v": "Add MLflow for experiment tracking next to the monitoring stack.",
                "short": "MLflow next to the monitoring stack",
            }
        ),
    ),
    "spot": Fact(
        "spot",
        (True,),
        lambda v: {"hardware.spot_allowed": True},
        ("Spot instances are fine for us.", "We're fine with preemptible capacity."),
        ("spot is fine",),
        (),
    ),
    "ttft": Fact(
        "ttft",
        (300, 500, 800),
        lambda v: {"latency.ttft_ms": float(v)},
        ("The first token should arrive within {v} ms.",),
        ("first token within {v} ms",),
        ("Product tightened it: time to first token under {v} ms.",),
        _k,
    ),
    "gpu_cap": Fact(
        "gpu_cap",
        (2, 4, 8),
        lambda v: {"hardware.max_gpus": v, "hardware.max_gpus_strict": True},
        ("We can use at most {v} GPUs.", "No more than {v} GPUs, please."),
        ("at most {v} GPUs",),
        ("Quota changed: at most {v} GPUs now.",),
        _k,
    ),
    "license": Fact(
        "license",
        (True,),
        lambda v: {"model_needs.license_allow_list": ["apache-2.0", "mit"]},
        ("Legal insists on a permissive license for the weights.",),
        ("the license has to be permissive",),
        (),
    ),
}

ARCHETYPES: dict[str, dict[str, Any]] = {
    "chatbot": {
        "opening": "We want to serve {model} as an internal helpdesk chatbot for our employees.",
        "fields": {"task_type": "inference", "domain": "llm"},
        "models": (
            "Llama 3.1 70B",
            "Qwen2.5 32B Instruct",
            "Mistral Small 24B Instruct",
            "Llama 3.3 70B Instruct",
            "Gemma 2 27B",
        ),
        "facts": (
            "users",
            "budget",
            "providers",
            "region",
            "context",
            "precision",
            "gpu",
            "monitoring",
            "license",
            "spot",
            "ttft",
            "gpu_cap",
        ),
    },
    "rag": {
        "opening": (
            "We are building a RAG service over our internal wiki, using {model} for the answers."
        ),
        "fields": {"task_type": "rag", "domain": "llm"},
        "models": ("Llama 3.1 8B Instruct", "Qwen2.5 7B Instruct", "Mistral 7B Instruct", "Phi 4"),
        "facts": (
            "users",
            "budget",
            "providers",
            "region",
            "context",
            "rps",
            "gpu",
            "monitoring",
            "ttft",
        ),
    },
    "finetune": {
        "opening": "We need to fine-tune {model} on our ticket history with {method}.",
        "fields": {"task_type": "fine_tuning", "domain": "llm"},
        "models": (
            "Llama 3.1 8B Instruct",
            "Qwen2.5 7B Instruct",
            "Mistral 7B Instruct",
            "Qwen2.5 32B Instruct",
        ),
        "facts": (
            "budget",
            "providers",
            "region",
            "precision",
            "gpu",
            "monitoring",
            "license",
            "spot",
            "gpu_cap",
        ),
    },
    "imagegen": {
        "opening": "We want to host SDXL to generate images for our marketing team.",
        "fields": {"task_type": "inference", "domain": "image_generation"},
        "models": ("SDXL",),
        "facts": ("users", "budget", "providers", "region", "gpu", "monitoring"),
    },
    "search": {
        "opening": "We need semantic search over our product catalog, with {model} as the encoder.",
        "fields": {"task_type": "embedding", "domain": "embeddings"},
        "models": ("bge large en v1.5", "Qwen3 Embedding 0.6B", "e5 large v2"),
        "facts": ("users", "budget", "providers", "region", "rps", "monitoring"),
    },
}


def fact_for(key: str, values: dict[str, Any]) -> Fact:
    """Return the fact ``key``; a region depends on the provider chosen so far."""
    if key != "region":
        return FACTS[key]
    provider = values.get("providers", ("aws",))[0]
    regions = _REGIONS[provider]
    return Fact(
        "region",
        regions,
        lambda v: {"regions": [v]},
        ("Keep everything in {v}.", "Data residency means {v}."),
        ("everything stays in {v}",),
        ("Move it to {v} instead.",),
    )
