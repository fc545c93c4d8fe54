"""The context optimizer end to end: unitize, embed, graph, spectrum, select, report.

Budget and pins: the budget is a ceiling on the tokens of the optimized messages (content,
tool calls and a per-message overhead, counted with ``o200k_base``). Pinned units are never
dropped, so when they alone cost more than the budget the result keeps all of them and
nothing else, and the report says so (``pinned_over_budget``, ``within_budget: false`` and a
warning) instead of quietly exceeding it. In every other case ``tokens_after <= budget``.

Break-even gate: when the input already fits the budget, it is returned unchanged if it is
small (under ``min_context_tokens``: embedding and analysis would cost more latency than the
prefill they save) or if compressing would save less than ``min_saving_tokens`` and
``min_saving_fraction`` of it. An input over budget is always compressed.

Fidelity guard: after selection, the user messages are read again with the field reader;
a field whose folded value differs from the original's gets the messages that changed it
kept whole, and selection runs again (``guard_repairs`` in the report; 0 on the corpus).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from langchain_core.messages import BaseMessage

from core.embeddings import Embedder
from tools.optimizer import facts as facts_mod
from tools.optimizer.embed import embed_texts
from tools.optimizer.facts import Contradiction, FieldReader, MemoReader
from tools.optimizer.messages import rebuild, to_turns
from tools.optimizer.nli import NliProvider, NliUnavailableError
from tools.optimizer.report import NliStatus, OptimizerReport, build_report, skipped_report
from tools.optimizer.select import Drop, SelectionConfig, select_units
from tools.optimizer.signed_graph import cosine_matrix, knn_graph, signed_adjacency
from tools.optimizer.spectral import analyze
from tools.optimizer.tokens import MESSAGE_OVERHEAD_TOKENS, count_tokens
from tools.optimizer.units import Granularity, Turn, Unit, message_tokens, render, unitize


@dataclass(frozen=True)
class OptimizerConfig:
    """Every knob of the optimizer, with the defaults the benchmark ran with."""

    granularity: Granularity = "sentence"
    knn: int = 10
    k_max: int = 10
    min_context_tokens: int = 800
    min_saving_tokens: int = 200
    min_saving_fraction: float = 0.1
    nli_min_similarity: float = 0.5
    nli_max_pairs: int = 64
    nli_threshold: float = 0.7
    embed_ttl_days: int = 30
    seed: int = 0
    max_guard_rounds: int = 2
    selection: SelectionConfig = field(default_factory=SelectionConfig)


@dataclass(frozen=True)
class TurnsResult:
    """The optimized conversation as ``(message index, new content or None)`` and the report."""

    rendered: list[tuple[int, str | None]]
    report: OptimizerReport


@dataclass(frozen=True)
class OptimizationResult:
    """The compressed messages (order kept, tool pairs intact) and the report."""

    messages: list[BaseMessage]
    report: OptimizerReport


class _Clock:
    def __init__(self) -> None:
        self.start = self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + round((now - self._last) * 1000, 3)
        self._last = now

    def done(self) -> dict[str, float]:
        self.laps["total"] = round((time.perf_counter() - self.start) * 1000, 3)
        self.laps["total_excluding_embed"] = round(
            self.laps["total"] - self.laps.get("embed", 0), 3
        )
        return self.laps


async def optimize_messages(
    messages: Sequence[BaseMessage],
    *,
    embedder: Embedder,
    budget_tokens: int,
    field_reader: FieldReader,
    nli: NliProvider | None = None,
    cache_conn: psycopg.AsyncConnection[Any] | None = None,
    config: OptimizerConfig | None = None,
) -> OptimizationResult:
    """Compress LangChain messages to fit ``budget_tokens``; see :func:`optimize_turns`."""
    result = await optimize_turns(
        to_turns(messages),
        embedder=embedder,
        budget_tokens=budget_tokens,
        field_reader=field_reader,
        nli=nli,
        cache_conn=cache_conn,
        config=config,
    )
    return OptimizationResult(rebuild(messages, result.rendered), result.report)


async def optimize_turns(
    turns: Sequence[Turn],
    *,
    embedder: Embedder,
    budget_tokens: int,
    field_reader: FieldReader,
    nli: NliProvider | None = None,
    cache_conn: psycopg.AsyncConnection[Any] | None = None,
    config: OptimizerConfig | None = None,
) -> TurnsResult:
    """Compress a conversation to fit a token budget, keeping every fact the plan needs.

    Args:
        turns: The conversation, oldest first.
        embedder: The shared embedder.
        budget_tokens: Ceiling on the tokens of the result (see the module docstring for
            how pinned units interact with it).
        field_reader: ``text -> {dotted WorkloadSpec field: value}``, applied to user text.
        nli: An NLI provider for contradictions between any units; None for none.
        cache_conn: An async connection for the embedding cache.
        config: Knobs; defaults when omitted.

    Returns:
        The kept messages and the report.

    """
    config = config or OptimizerConfig()
    clock = _Clock()
    before = sum(message_tokens(turn) for turn in turns)
    identity: list[tuple[int, str | None]] = [(i, None) for i in range(len(turns))]
    if before <= budget_tokens and before < config.min_context_tokens:
        report = skipped_report(turns, before, budget_tokens, "context_small", clock.done())
        return TurnsResult(identity, report)
    units = unitize(turns, config.granularity)
    clock.lap("unitize")
    vectors = await embed_texts(
        embedder, [u.text for u in units], cache_conn, config.embed_ttl_days
    )
    clock.lap("embed")
    reader = MemoReader(field_reader)
    if nli is None:
        # One hop to a worker thread: the analysis is CPU-bound and must not block the loop.
        return await asyncio.to_thread(
            _read_and_finish, turns, units, vectors, reader, budget_tokens, before, config, clock
        )
    similarity, found = await asyncio.to_thread(_read, turns, units, vectors, reader)
    clock.lap("fields")
    known = {(c.earlier, c.later) for c in found.contradictions}
    pairs = facts_mod.nli_candidates(
        units, similarity, known, config.nli_min_similarity, config.nli_max_pairs
    )
    status, nli_found = await _run_nli(nli, units, pairs, config.nli_threshold)
    clock.lap("nli")
    return await asyncio.to_thread(
        _finish,
        turns,
        units,
        similarity,
        found,
        nli_found,
        status,
        reader,
        budget_tokens,
        before,
        config,
        clock,
    )


def _read_and_finish(
    turns: Sequence[Turn],
    units: Sequence[Unit],
    vectors: np.ndarray,
    reader: FieldReader,
    budget: int,
    before: int,
    config: OptimizerConfig,
    clock: _Clock,
) -> TurnsResult:
    similarity, found = _read(turns, units, vectors, reader)
    clock.lap("fields")
    status = NliStatus(provider="disabled", status="disabled")
    return _finish(
        turns, units, similarity, found, [], status, reader, budget, before, config, clock
    )


def _read(
    turns: Sequence[Turn], units: Sequence[Unit], vectors: np.ndarray, reader: FieldReader
) -> tuple[np.ndarray, facts_mod.FieldFacts]:
    return cosine_matrix(vectors), facts_mod.read_facts(turns, units, reader)


async def _run_nli(
    nli: NliProvider, units: Sequence[Unit], pairs: list[tuple[int, int]], threshold: float
) -> tuple[NliStatus, list[Contradiction]]:
    if not pairs:
        return NliStatus(provider=nli.name, status="ok", detail="no candidate pairs"), []
    try:
        scores = await nli.score([(units[i].text, units[j].text) for i, j in pairs])
    except NliUnavailableError as exc:
        return NliStatus(provider=nli.name, status="skipped", detail=str(exc)), []
    found = [
        Contradiction(i, j, "nli", round(s.contradiction, 4))
        for (i, j), s in zip(pairs, scores, strict=True)
        if s.contradiction >= threshold
    ]
    return NliStatus(provider=nli.name, status="ok", pairs_scored=len(pairs)), found


def _finish(
    turns: Sequence[Turn],
    units: Sequence[Unit],
    similarity: np.ndarray,
    found: facts_mod.FieldFacts,
    nli_found: list[Contradiction],
    nli_status: NliStatus,
    reader: FieldReader,
    budget: int,
    before: int,
    config: OptimizerConfig,
    clock: _Clock,
) -> TurnsResult:
    contradictions = found.contradictions + nli_found
    weights = knn_graph(similarity, config.knn)
    signed = signed_adjacency(weights, [(c.earlier, c.later, c.strength) for c in contradictions])
    clock.lap("graph")
    spectrum = analyze(weights, signed, k_max=config.k_max, seed=config.seed)
    clock.lap("spectral")
    pins = facts_mod.pin_reasons(turns, units, found)
    superseded: dict[int, tuple[int, str]] = {}
    for c in sorted(contradictions, key=lambda c: (c.earlier, c.later)):
        why = f"{c.field} restated" if c.source == "field" else f"NLI p={c.strength:.2f}"
        superseded.setdefault(c.earlier, (c.later, f"contradicted by a later unit ({why})"))
    repairs: list[str] = []
    unrepaired: list[str] = []
    for attempt in range(config.max_guard_rounds + 1):
        selection = select_units(
            units,
            similarity,
            spectrum.labels,
            spectrum.centrality,
            set(pins),
            superseded,
            budget,
            MESSAGE_OVERHEAD_TOKENS,
            config.selection,
        )
        kept, dropped = selection.kept, dict(selection.dropped)
        rendered, after, kept = _trim(
            turns, units, kept, dropped, set(pins), selection.relevance, budget
        )
        changed = _guard(turns, units, rendered, found, reader)
        if not changed or attempt == config.max_guard_rounds:
            unrepaired = sorted(changed)
            break
        for name, messages in changed.items():
            repairs.append(name)
            for unit in units:
                if unit.messages[0] in messages:
                    pins.setdefault(unit.id, []).append(f"field:{name}")
    clock.lap("select")
    saved = before - after
    if before <= budget and saved < max(
        config.min_saving_tokens, config.min_saving_fraction * before
    ):
        report = skipped_report(turns, before, budget, "saving_below_break_even", clock.done())
        report.warnings.append(f"compression would have saved {saved} tokens")
        return TurnsResult([(i, None) for i in range(len(turns))], report)
    report = build_report(
        turns,
        units,
        rendered,
        kept,
        dropped,
        pins,
        contradictions,
        nli_status,
        spectrum,
        budget,
        before,
        after,
        selection.pinned_tokens,
        repairs,
        clock.done(),
    )
    if unrepaired:
        report.warnings.append(
            "fields read differently after compression: " + ", ".join(unrepaired)
        )
    return TurnsResult(rendered, report)


def _rendered_tokens(turns: Sequence[Turn], rendered: Sequence[tuple[int, str | None]]) -> int:
    total = 0
    for index, text in rendered:
        turn = turns[index]
        if text is None:
            total += message_tokens(turn)
        else:
            total += message_tokens(turn) - count_tokens(turn.content) + count_tokens(text)
    return total


def _trim(
    turns: Sequence[Turn],
    units: Sequence[Unit],
    kept: list[int],
    dropped: dict[int, Drop],
    pinned: set[int],
    relevance: np.ndarray,
    budget: int,
) -> tuple[list[tuple[int, str | None]], int, list[int]]:
    """Render, count exactly, and drop the least relevant unpinned units until it fits."""
    kept = list(kept)
    while True:
        rendered = render(turns, units, kept)
        after = _rendered_tokens(turns, rendered)
        removable = [i for i in kept if i not in pinned]
        if after <= budget or not removable:
            return rendered, after, kept
        worst = min(removable, key=lambda i: relevance[i])
        kept.remove(worst)
        dropped[worst] = Drop("budget", "trimmed after counting the rendered messages")


def _guard(
    turns: Sequence[Turn],
    units: Sequence[Unit],
    rendered: Sequence[tuple[int, str | None]],
    found: facts_mod.FieldFacts,
    reader: FieldReader,
) -> dict[str, set[int]]:
    """Return fields whose folded reading changed, with the user messages that changed it."""
    original = facts_mod.fold_fields(
        [turns[i].content for i in sorted(found.message_fields)], reader
    )
    now: dict[int, dict[str, Any]] = {}
    for index, text in rendered:
        if turns[index].role == "user" and not turns[index].opaque:
            now[index] = found.message_fields.get(index, {}) if text is None else dict(reader(text))
    folded: dict[str, Any] = {}
    for index in sorted(now):
        folded.update(now[index])
    changed: dict[str, set[int]] = {}
    for name in set(original) | set(folded):
        if original.get(name) == folded.get(name):
            continue
        culprits = {
            i
            for i, fields in now.items()
            if fields.get(name) != found.message_fields.get(i, {}).get(name)
        }
        decisive = max((i for i, f in found.message_fields.items() if name in f), default=None)
        changed[name] = culprits | ({decisive} if decisive is not None else set())
    return changed
