"""Intents by meaning: task, domain and hardware stance from labelled example phrases.

The packaged MiniLM embeds a message and each example phrase; a label wins when its closest
examples are near enough (cosine ≥ ``MIN_SIMILARITY``) and clearly nearer than the next
label's (by ``MIN_MARGIN``), else the classifier abstains. It backs up the word rules, which
stay for numbers and units: bench/reading_intents.py measures rules, embeddings and both on
phrasings neither was written against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.embeddings import Embedder

MIN_SIMILARITY = 0.5
MIN_MARGIN = 0.04
TOP_K = 2

EXAMPLES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "task_type": {
        "inference": (
            "serve a model behind an API for our users",
            "host a chatbot for the team",
            "put the model in production so people can query it",
            "we need an endpoint that answers requests",
            "make the model available to our app",
        ),
        "fine_tuning": (
            "adapt a pretrained model to our own data",
            "customise the model on our support conversations",
            "teach the model our company's style with our examples",
            "specialise an open model on our documents",
        ),
        "training": (
            "build a model from scratch on our corpus",
            "train a brand new network from random weights",
            "pretrain a foundation model",
        ),
        "batch": (
            "process a large backlog of files once",
            "run through all our archived records overnight",
            "a nightly job over the day's data",
            "offline processing of millions of items, no user waiting",
        ),
        "embedding": (
            "turn documents into vectors for similarity search",
            "index our knowledge base for semantic lookup",
        ),
        "rag": (
            "answer questions grounded in our internal documents",
            "a chatbot that cites our wiki and manuals",
        ),
    },
    "domain": {
        "llm": (
            "a chat assistant that writes and answers questions",
            "summarise and draft text with a large language model",
            "a coding assistant for our developers",
            "an AI helper that talks to customers",
        ),
        "speech": (
            "turn recorded audio into text",
            "subtitles for our videos from the soundtrack",
            "voice notes and phone calls converted to transcripts",
            "read text aloud in a natural voice",
        ),
        "image_generation": (
            "create pictures from a text description",
            "generate marketing artwork and product shots",
        ),
        "vision": (
            "spot defects in photos from the production line",
            "count people in camera footage",
            "recognise what is in an image",
        ),
        "embeddings": (
            "vectors for semantic similarity between texts",
            "find related documents by meaning",
        ),
        "nlp": (
            "tag each review as positive or negative",
            "route incoming emails to the right department",
            "pull names, dates and companies out of contracts",
            "translate product pages into other languages",
        ),
        "multimodal": (
            "ask questions about screenshots and scanned pages",
            "describe images and charts in words",
        ),
        "tabular": (
            "predict next month's sales from our spreadsheets",
            "forecast demand from historical numbers",
        ),
    },
    "gpu_needed": {
        "false": (
            "it has to run on ordinary servers without graphics cards",
            "we only have regular virtual machines",
            "keep it on plain compute, no accelerators",
        ),
        "true": (
            "we want accelerated hardware for speed",
            "rent some graphics cards for this",
        ),
    },
}


@dataclass(frozen=True)
class IntentClassifier:
    """Labelled example vectors per field; classify a text to a label or abstain."""

    labels: Mapping[str, tuple[str, ...]]
    """Field → the label of each example row, in order."""
    vectors: Mapping[str, np.ndarray]
    """Field → unit vectors of its examples, one row each."""

    @classmethod
    def build(cls, embedder: Embedder) -> IntentClassifier:
        """Embed every example phrase once."""
        labels: dict[str, tuple[str, ...]] = {}
        vectors: dict[str, np.ndarray] = {}
        for name, by_label in EXAMPLES.items():
            rows = [(label, text) for label, texts in by_label.items() for text in texts]
            labels[name] = tuple(label for label, _ in rows)
            vectors[name] = np.asarray(embedder.embed([text for _, text in rows]))
        return cls(labels, vectors)

    def classify(self, vector: np.ndarray, fields: Sequence[str]) -> dict[str, str]:
        """Return field → label for each field whose label is clear, for one unit vector."""
        out: dict[str, str] = {}
        for name in fields:
            sims = self.vectors[name] @ vector
            scores: dict[str, float] = {}
            for label in dict.fromkeys(self.labels[name]):
                mine = np.sort(sims[[i for i, lab in enumerate(self.labels[name]) if lab == label]])
                scores[label] = float(mine[-TOP_K:].mean())
            ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
            best, runner = ranked[0], ranked[1] if len(ranked) > 1 else (None, -1.0)
            if best[1] >= MIN_SIMILARITY and best[1] - runner[1] >= MIN_MARGIN:
                out[name] = best[0]
        return out
