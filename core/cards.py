"""Model cards: compose one from catalog facts, read real README cards, chunk them for RAG."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHUNKER_VERSION = "md-heading-v1"
# MiniLM reads at most 256 word pieces; ~180 words stays under that with room for the prefix.
MAX_CHUNK_WORDS = 180
OVERLAP_WORDS = 30

_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

_TASK_PHRASES = {
    "text-generation": "text generation: chat, instruction following, coding and reasoning",
    "text-to-image": "text to image generation (image synthesis from a prompt, diffusion)",
    "image-text-to-text": "vision-language: answering questions about images",
    "feature-extraction": "embeddings for semantic search, retrieval and clustering",
    "sentence-similarity": "sentence embeddings for semantic search and similarity",
    "automatic-speech-recognition": "speech recognition: transcribing audio to text",
    "text-to-speech": "speech synthesis: turning text into audio",
    "image-classification": "image classification (computer vision)",
    "object-detection": "object detection in images (computer vision)",
    "image-segmentation": "image segmentation (computer vision)",
    "zero-shot-image-classification": "zero-shot image classification from text labels",
    "text-classification": "text classification and sentiment analysis",
    "token-classification": "named-entity recognition and token tagging",
    "fill-mask": "masked language modelling, a base for classifiers and embeddings",
    "translation": "machine translation between languages",
    "summarization": "summarising documents",
    "text2text-generation": "sequence-to-sequence text generation",
    "mask-generation": "promptable segmentation masks",
}


@dataclass(frozen=True)
class Card:
    """One model card's Markdown text and where it came from (``composed`` or ``readme``)."""

    model_id: str
    content: str
    source: str

    @property
    def card_hash(self) -> str:
        """Return the sha256 of the content, which identifies the card."""
        return hashlib.sha256(self.content.encode()).hexdigest()


@dataclass(frozen=True)
class Chunk:
    """A bounded piece of a card under one heading."""

    index: int
    heading: str
    content: str

    @property
    def word_count(self) -> int:
        """Return the number of whitespace-separated words."""
        return len(self.content.split())


def _hardware_line(vram_fp16: float | None) -> str:
    if vram_fp16 is None:
        return "Typical hardware: small enough for a CPU or any GPU."
    if vram_fp16 <= 16:
        return f"Typical hardware: one 16-24 GB GPU (about {vram_fp16:g} GB in fp16)."
    if vram_fp16 <= 80:
        return f"Typical hardware: one 40-80 GB GPU (about {vram_fp16:g} GB in fp16)."
    return (
        f"Typical hardware: several GPUs with tensor parallelism (about {vram_fp16:g} GB in "
        "fp16), or a quantized build."
    )


def compose_card(model: dict[str, Any], architecture: dict[str, Any] | None) -> Card:
    """Write a Markdown card for a catalog model from its facts."""
    model_id = model["model_id"]
    task = model.get("pipeline_tag") or "unknown"
    lines = [f"# {model_id}", "", "## Summary", "", model.get("description") or "No description."]
    lines += ["", "## Task", "", f"Pipeline: {task}. Use: {_TASK_PHRASES.get(task, task)}."]
    if model.get("library"):
        lines.append(f"Library: {model['library']}.")
    lines += ["", "## License", "", f"License: {model.get('license') or 'unspecified'}."]
    lines += ["", "## Size and hardware", ""]
    if model.get("params_billion") is not None:
        size = f"{model['params_billion']:g} billion parameters"
        if model.get("active_params_billion"):
            active = model["active_params_billion"]
            size += f" ({active:g} billion active per token, mixture of experts)"
        lines.append(f"Size: {size}.")
    if model.get("context_length"):
        lines.append(f"Context length: {model['context_length']:,} tokens.")
    lines.append(_hardware_line(model.get("min_vram_gb_fp16")))
    if architecture:
        lines += ["", "## Architecture", ""]
        lines.append(
            f"{architecture.get('architecture') or 'Transformer'}: "
            f"{architecture['num_hidden_layers']} layers, "
            f"hidden size {architecture['hidden_size']}, "
            f"{architecture['num_attention_heads']} attention heads, "
            f"{architecture['num_key_value_heads']} key-value heads, "
            f"native dtype {architecture.get('native_dtype') or 'unknown'}."
        )
    return Card(model_id, "\n".join(lines) + "\n", "composed")


def read_readme_card(path: Path, cards_root: Path) -> tuple[Card, dict[str, Any]]:
    """Read a real model card: ``<root>/<org>/<name>/README.md`` names the model id.

    Returns the card and its YAML front matter (license, pipeline_tag, ...), if any.
    """
    relative = path.parent.relative_to(cards_root)
    if len(relative.parts) != 2:
        raise ValueError(f"{path}: expected <org>/<name>/README.md under {cards_root}")
    text = path.read_text(encoding="utf-8")
    front: dict[str, Any] = {}
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            loaded = yaml.safe_load(text[4:end]) or {}
            front = loaded if isinstance(loaded, dict) else {}
            text = text[end + 4 :].lstrip("\n")
    return Card("/".join(relative.parts), text, "readme"), front


def _split_sections(markdown: str) -> list[tuple[str, str]]:
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            sections.append((match[2], []))
        else:
            sections[-1][1].append(line)
    return [(h, "\n".join(body).strip()) for h, body in sections if "\n".join(body).strip()]


def _windows(words: list[str]) -> list[list[str]]:
    if len(words) <= MAX_CHUNK_WORDS:
        return [words]
    step = MAX_CHUNK_WORDS - OVERLAP_WORDS
    return [words[i : i + MAX_CHUNK_WORDS] for i in range(0, len(words) - OVERLAP_WORDS, step)]


def chunk_card(card: Card) -> list[Chunk]:
    """Split a card at its headings into chunks of at most MAX_CHUNK_WORDS words.

    Short neighbouring sections are packed together (a three-word licence section alone says
    little); a long section is cut into windows that overlap by OVERLAP_WORDS. Every chunk
    starts with the model id so that it can be understood, and embedded, on its own.
    """
    pieces: list[tuple[str, list[str]]] = []
    for heading, body in _split_sections(card.content):
        words = ([f"{heading}:"] if heading else []) + body.split()
        pieces.extend((heading, window) for window in _windows(words))
    chunks: list[Chunk] = []
    heading, packed = "", list[str]()
    for piece_heading, words in pieces:
        if packed and len(packed) + len(words) > MAX_CHUNK_WORDS:
            chunks.append(_chunk(card, len(chunks), heading, packed))
            packed = []
        if not packed:
            heading = piece_heading
        packed = packed + words
    if packed:
        chunks.append(_chunk(card, len(chunks), heading, packed))
    return chunks


def _chunk(card: Card, index: int, heading: str, words: list[str]) -> Chunk:
    return Chunk(index, heading, f"{card.model_id}. " + " ".join(words))
