"""Catalog names the reader matches chat text against: models, GPUs, regions, instances."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tools.catalog import CatalogFacts

_VARIANT_WORDS = {"instruct", "chat", "it", "hf", "base", "diffusers"}


def normalise(text: str) -> str:
    """Lower-case ``text`` with separators as spaces, padded, for whole-word matching."""
    # Sentence punctuation after a name ("...70B." or "(Llama 3.1 8B)") must not hide it; dots
    # inside names ("3.1") stay.
    text = re.sub(r"[.,;:!?'\")\]]+(?=\s|$)|(?<=\s)[(\[\"']+|^[(\[\"']+", " ", text.lower())
    return " " + re.sub(r"[\s_/\-]+", " ", text).strip() + " "


def _prefer_chat_variant(model_id: str) -> tuple[int, str]:
    # When an alias fits several ids, the instruct/chat build is what people serve.
    lowered = model_id.lower()
    return (0 if ("instruct" in lowered or "chat" in lowered) else 1, model_id)


def _find_spans(
    haystack: str, aliases: Iterable[tuple[str, str]], plural: bool
) -> list[tuple[int, int, str]]:
    """Return (start, end, value) of each alias found as whole words, longest aliases first.

    Plain substring search (aliases are many, regexes would be compiled per call); ``plural``
    also accepts the alias with an "s" ("A100s").
    """
    found: list[tuple[int, int, str]] = []
    for alias, value in aliases:
        for form in (f" {alias} ", f" {alias}s ") if plural else (f" {alias} ",):
            start = haystack.find(form)
            while start != -1:
                span = (start + 1, start + len(form) - 1)
                if not any(span[0] < t_end and t_start < span[1] for t_start, t_end, _ in found):
                    found.append((*span, value))
                start = haystack.find(form, start + 1)
    return sorted(found)


@dataclass(frozen=True)
class ModelIndex:
    """Aliases of catalog model ids, longest first, for finding models named in chat."""

    aliases: tuple[tuple[str, str], ...]

    @classmethod
    def from_ids(cls, model_ids: Iterable[str]) -> ModelIndex:
        """Build aliases: the full name, and the name without variant suffixes."""
        pairs: dict[str, str] = {}
        for model_id in sorted(model_ids, key=_prefer_chat_variant):
            name_tokens = normalise(model_id.split("/")[-1]).split()
            full = len(name_tokens)
            while name_tokens:
                alias = " ".join(name_tokens)
                has_digit = any(ch.isdigit() for ch in alias)
                # A shortened name needs a digit or three words to be specific ("llama 3.1
                # 8b"); a full two-word name ("whisper small") is specific as it is.
                if has_digit or len(name_tokens) >= 3 or len(name_tokens) == full >= 2:
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
        return [model_id for _, _, model_id in _find_spans(normalise(text), self.aliases, False)]


# Bare GPU names that also cover their larger-memory variant: "A100s" may be either.
_FAMILY_SUFFIX = re.compile(r"^(.+?)-(\d+gb)$", re.IGNORECASE)
_CONSUMER = re.compile(r"^rtx(\d{4})$", re.IGNORECASE)


@dataclass(frozen=True)
class GpuIndex:
    """Ways people write catalog GPU names ("RTX 4090", "A100 80GB", "L40S"), longest first."""

    aliases: tuple[tuple[str, str], ...]
    """(alias, '|'-joined catalog names): one alias may stand for a family."""

    @classmethod
    def from_names(cls, names: Iterable[str]) -> GpuIndex:
        """Build the aliases of every catalog GPU name."""
        pairs: dict[str, set[str]] = {}

        def add(alias: str, name: str) -> None:
            pairs.setdefault(normalise(alias).strip(), set()).add(name)

        for name in names:
            lowered = name.lower()
            add(lowered, name)
            add(re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z]{2})", " ", lowered), name)
            if family := _FAMILY_SUFFIX.match(lowered):
                base, memory = family.groups()
                add(f"{base} {memory}", name)
                add(f"{base} {memory[:-1]}", name)  # "80g"
                add(f"{base} {memory[:-2]} gb", name)
                add(base, name)
            if consumer := _CONSUMER.match(lowered):
                add(consumer[1], name)
            if lowered.startswith("rtxpro"):
                add("rtx pro " + lowered[6:], name)
            if lowered.startswith("rtxa"):
                add("rtx a" + lowered[4:], name)
        ordered = sorted(
            ((alias, "|".join(sorted(names))) for alias, names in pairs.items() if alias),
            key=lambda kv: (-len(kv[0]), kv[0]),
        )
        return cls(tuple(ordered))

    def spans(self, text: str) -> list[tuple[int, int, list[str]]]:
        """Return (start, end, catalog names) of each GPU named in normalised ``text``."""
        return [(s, e, v.split("|")) for s, e, v in _find_spans(text, self.aliases, True)]


@dataclass(frozen=True)
class Vocabulary:
    """Catalog names the extractor matches against."""

    models: ModelIndex
    regions: frozenset[str]
    pipeline_tags: Mapping[str, str | None] = field(default_factory=dict)
    """Catalog model id → its Hub task, to tell what kind of model a named one is."""
    params: Mapping[str, float | None] = field(default_factory=dict)
    """Catalog model id → parameters in billions."""
    gpus: GpuIndex = field(default_factory=lambda: GpuIndex(()))
    instance_types: frozenset[str] = field(default_factory=frozenset)
    regions_by_provider: Mapping[str, frozenset[str]] = field(default_factory=dict)
    gpu_memory_gb: Mapping[str, float] = field(default_factory=dict)
    """Catalog GPU name → its memory."""

    @classmethod
    def from_facts(cls, facts: CatalogFacts) -> Vocabulary:
        """Build the vocabulary from the catalog facts."""
        return cls(
            models=ModelIndex.from_ids(m.model_id for m in facts.models),
            regions=frozenset(r for regions in facts.regions_by_provider.values() for r in regions),
            pipeline_tags={m.model_id: m.pipeline_tag for m in facts.models},
            params={m.model_id: m.params_billion for m in facts.models},
            gpus=GpuIndex.from_names(g.name for g in facts.gpus),
            instance_types=facts.instance_types,
            regions_by_provider=facts.regions_by_provider,
            gpu_memory_gb={g.name: g.memory_gb for g in facts.gpus},
        )
