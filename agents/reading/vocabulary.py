"""Catalog names the reader matches chat text against: models, GPUs, regions, instances."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from tools.catalog import CatalogFacts

_VARIANT_WORDS = {"instruct", "chat", "it", "hf", "base", "diffusers"}


def normalise(text: str) -> str:
    """Lower-case ``text`` with separators as spaces, padded, for whole-word matching."""
    # Sentence punctuation after a name ("...70B." or "(Llama 3.1 8B)") must not hide it; dots
    # inside names ("3.1") stay.
    text = re.sub(r"[.,;:!?'\")\]]+(?=\s|$)|(?<=\s)[(\[\"']+|^[(\[\"']+", " ", text.lower())
    return " " + re.sub(r"[\s_/\-]+", " ", text).strip() + " "


def _prefer_chat_variant(model_id: str) -> tuple[int, list[tuple[int, str]], str]:
    # When an alias fits several ids, the instruct/chat build is what people serve; then
    # numbers in order ("phi-3-mini-4k" before "-128k": the original build comes first).
    lowered = model_id.lower()
    natural = [(int(d), "") if d else (-1, w) for d, w in re.findall(r"(\d+)|(\D+)", model_id)]
    return (0 if ("instruct" in lowered or "chat" in lowered) else 1, natural, model_id)


# A family name glued to its version ("qwen2.5", "llama3") is split as people also write it
# ("qwen 2.5", "llama 3"); one letter before a digit stays ("v0.3", "e5", "r1", "8x7b").
_GLUED_VERSION = re.compile(r"(?<=[a-z]{2})(?=\d)")
# Name tokens that do not tell two builds of one model apart: variant words, a "v" version,
# a release date ("2501") and a context length ("4k", "128k").
_FREE_TOKEN = re.compile(r"v\d+(\.\d+)*|\d{4}|\d+k")
# A parameter count in a name: "7b", "1.5b", "8x7b".
_SIZE_TOKEN = re.compile(r"(\d+x)?\d+(\.\d+)?b")
# Words before a size read as part of the name at most this far back ("deepseek r1 distill").
_MAX_FAMILY_WORDS = 4
_NUMERIC_TOKEN = re.compile(r"\d+(\.\d+)*")
_WORD = re.compile(r"\S+")


def name_text(text: str) -> str:
    """Normalise ``text`` for model names: ``normalise`` with families split from versions."""
    return _GLUED_VERSION.sub(" ", normalise(text))


@lru_cache(maxsize=512)
def _written(name: str) -> re.Pattern[str]:
    # "qwen 2.5 32b" as written in the chat: "qwen2.5-32b", "Qwen 2.5 32B", "qwen_2.5/32b".
    parts = r"[\s_/\-]*".join(re.escape(token) for token in name.split())
    return re.compile(rf"(?<![a-z0-9]){parts}(?![a-z0-9])")


def blank_names(lowered: str, names: Iterable[str]) -> str:
    """Blank out the model names (as ``ModelIndex.mentions`` matched them) in ``lowered``.

    Positions are kept, so that what is read around the names keeps its place.
    """
    for name in names:
        lowered = _written(name).sub(lambda m: " " * len(m[0]), lowered)
    return lowered


def _free(token: str) -> bool:
    return token in _VARIANT_WORDS or bool(_FREE_TOKEN.fullmatch(token))


def _strippable(token: str) -> bool:
    # A shortened name drops trailing variant words, versions and context lengths only.
    return _free(token) or bool(_NUMERIC_TOKEN.fullmatch(token))


def _name_forms(model_id: str) -> list[list[str]]:
    """Return the model's name as tokens, and without an owner word it repeats ("Meta-")."""
    owner, _, name = model_id.rpartition("/")
    tokens = name_text(name).split()
    forms = [tokens]
    owner_words = set(name_text(owner).split())
    # "meta-llama/Meta-Llama-3-8B" is also written "llama 3 8b".
    rest = tokens[1:]
    if (len(rest) >= 2 and tokens[0] in owner_words and rest[0] in owner_words
            and any(_SIZE_TOKEN.fullmatch(t) for t in rest)):
        forms.append(rest)
    return forms


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


def _in_order(wanted: list[str], tokens: tuple[str, ...]) -> bool:
    """Say whether ``wanted`` appears in ``tokens`` in order (not necessarily adjacent)."""
    remaining = iter(tokens)
    return all(any(token == w for token in remaining) for w in wanted)


@dataclass(frozen=True)
class ModelIndex:
    """Aliases of catalog model ids, longest first, for finding models named in chat.

    Exact aliases first (the full name and shortened forms); then a family written with a
    size ("deepseek r1 distill 32b") is matched to the one model whose name holds those words
    in order with the fewest other words that tell models apart. Several models as close
    ("llama 70b": Llama 2, 3.1 or 3.3) name none: the size alone is read.
    """

    aliases: tuple[tuple[str, str], ...]
    names: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(model id, name tokens) in order of preference, chat builds first."""
    name_words: frozenset[str] = frozenset()
    """Every word of every model name: what may stand before a size as part of a name."""

    @classmethod
    def from_ids(cls, model_ids: Iterable[str]) -> ModelIndex:
        """Build aliases: the full name, and the name without variant suffixes."""
        pairs: dict[str, str] = {}
        names: list[tuple[str, tuple[str, ...]]] = []
        for model_id in sorted(model_ids, key=_prefer_chat_variant):
            forms = _name_forms(model_id)
            names.append((model_id, tuple(forms[0])))
            for form in forms:
                name_tokens, full = list(form), len(form)
                while name_tokens:
                    alias = " ".join(name_tokens)
                    has_digit = any(ch.isdigit() for ch in alias)
                    # A shortened name needs a digit or three words to be specific ("llama
                    # 3.1 8b"); a full two-word name ("whisper small") is specific as it is.
                    if has_digit or len(name_tokens) >= 3 or len(name_tokens) == full >= 2:
                        pairs.setdefault(alias, model_id)
                    if not _strippable(name_tokens[-1]):
                        break
                    name_tokens = name_tokens[:-1]
        pairs.setdefault("sdxl", "stabilityai/stable-diffusion-xl-base-1.0")
        ordered = sorted(pairs.items(), key=lambda kv: (-len(kv[0]), kv[0]))
        words = frozenset(t for _, tokens in names for t in tokens)
        return cls(tuple(ordered), tuple(names), words)

    def find(self, text: str) -> list[str]:
        """Return the catalog ids named in ``text``, in order of appearance."""
        return [model_id for model_id, _ in self.mentions(text)]

    def mentions(self, text: str) -> list[tuple[str, str]]:
        """Return (catalog id, the name as matched in ``name_text``) in order of appearance."""
        haystack = name_text(text)
        spans = _find_spans(haystack, self.aliases, False)
        for start, end, model_id in self._families(haystack, spans):
            # The longer name wins over the aliases inside it.
            spans = [s for s in spans if not (start <= s[0] and s[1] <= end)]
            spans.append((start, end, model_id))
        return [(model_id, haystack[start:end]) for start, end, model_id in sorted(spans)]

    def _families(
        self, haystack: str, taken: list[tuple[int, int, str]]
    ) -> list[tuple[int, int, str]]:
        """Match "family words + size" that no alias covered to the one closest model."""
        found: list[tuple[int, int, str]] = []
        tokens = [(m.start(), m.end(), m[0]) for m in _WORD.finditer(haystack)]
        for i, (start, end, size) in enumerate(tokens):
            if not _SIZE_TOKEN.fullmatch(size) or any(s <= start < e for s, e, _ in taken):
                continue
            # Words an alias matched may start a longer name: "deepseek r1" + "distill 32b".
            run: list[tuple[int, str]] = []
            for j in range(i - 1, max(i - 1 - _MAX_FAMILY_WORDS, -1), -1):
                t_start, _, word = tokens[j]
                if word not in self.name_words:
                    break
                run.insert(0, (t_start, word))
            while run and not (run[0][1].isalpha() and not _free(run[0][1])):
                run = run[1:]
            while run:
                model_id = self._closest([w for _, w in run] + [size])
                if model_id:
                    found.append((run[0][0], end, model_id))
                    break
                run = run[1:]
                while run and not (run[0][1].isalpha() and not _free(run[0][1])):
                    run = run[1:]
        return found

    def _closest(self, wanted: list[str]) -> str | None:
        """Return the model whose name holds ``wanted`` in order with the fewest other words."""
        scored: list[tuple[int, str, tuple[str, ...]]] = []
        for model_id, tokens in self.names:
            if _in_order(wanted, tokens):
                rest = [t for t in tokens if t not in wanted and not _free(t)]
                scored.append((len(rest), model_id, tuple(rest)))
        if not scored:
            return None
        best = min(score for score, _, _ in scored)
        tied = [(model_id, rest) for score, model_id, rest in scored if score == best]
        # Builds of one model (instruct or base, release dates) are one answer; two models
        # are not.
        if len({rest for _, rest in tied}) > 1:
            return None
        return tied[0][0]


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
