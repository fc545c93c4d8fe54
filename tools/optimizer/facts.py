"""What must survive compression: WorkloadSpec fields, corrections and open questions.

The field reader is injected (``text -> {dotted WorkloadSpec field: value}``) so that this
package never imports the agents; the graph node, the bench and the debug endpoint build it
from the requirements extractor.

Rules, all deterministic:
- Field evidence. For each field, the decisive message is the last user message whose text
  states it; every unit of that message that states the field is pinned. Pinning all of the
  message's evidence (not just the last unit) makes the compressed message read the same as
  the original whatever precedence the reader applies inside one message.
- Corrections. Two user units that state the same field with different values contradict;
  the earlier is superseded by the next later unit that says otherwise ("budget $5k" then
  "actually $8k"). Only user units are read: assistant text quotes prices and sizes that
  are not the user's requirements.
- Open questions. A question is answered once the other party has written after it: any
  later user message answers an assistant question, and any later assistant message with
  text (not only tool calls) answers a user question. Similarity between a question and its
  answer is no test: with MiniLM, direct answers score from 0.14 to 0.65 on the corpus. An
  open question is pinned, so that the next LLM call sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tools.optimizer.units import Turn, Unit

FieldReader = Callable[[str], Mapping[str, Any]]

PinReason = str  # "system", "last_user_turn", "unanswered_question" or "field:<dotted name>"


@dataclass(frozen=True)
class Contradiction:
    """Two units that disagree; the later one wins."""

    earlier: int
    later: int
    source: Literal["field", "nli"]
    strength: float
    """1.0 for a field conflict, the contradiction probability for NLI."""
    field: str | None = None


@dataclass
class FieldFacts:
    """The fields a conversation states and where."""

    unit_fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    """User unit id → the fields it states."""
    message_fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    """User message index → the fields the whole message states."""
    evidence: dict[str, list[int]] = field(default_factory=dict)
    """Field → the units pinned for it (in its decisive message)."""
    contradictions: list[Contradiction] = field(default_factory=list)


class MemoReader:
    """Calls the reader once per distinct text (restatements repeat texts verbatim)."""

    def __init__(self, reader: FieldReader) -> None:
        """Wrap ``reader``."""
        self._reader = reader
        self._memo: dict[str, dict[str, Any]] = {}

    def __call__(self, text: str) -> dict[str, Any]:
        """Return the fields ``text`` states."""
        if text not in self._memo:
            self._memo[text] = dict(self._reader(text))
        return self._memo[text]


def fold_fields(texts: Sequence[str], reader: FieldReader) -> dict[str, Any]:
    """Fold the fields of user messages in order, a later statement replacing an earlier one."""
    merged: dict[str, Any] = {}
    for text in texts:
        merged.update(reader(text))
    return merged


def read_facts(turns: Sequence[Turn], units: Sequence[Unit], reader: FieldReader) -> FieldFacts:
    """Read every user unit and user message for fields; find evidence and corrections."""
    facts = FieldFacts()
    by_message: dict[int, list[Unit]] = {}
    for unit in units:
        if unit.role == "user" and not unit.whole:
            by_message.setdefault(unit.messages[0], []).append(unit)
            stated = reader(unit.text)
            if stated:
                facts.unit_fields[unit.id] = dict(stated)
    for index, turn in enumerate(turns):
        if turn.role == "user" and not turn.opaque:
            stated = reader(turn.content)
            if stated:
                facts.message_fields[index] = dict(stated)
    decisive: dict[str, int] = {}
    for index, stated in facts.message_fields.items():
        for name in stated:
            decisive[name] = max(decisive.get(name, -1), index)
    for name, index in decisive.items():
        members = by_message.get(index, [])
        carriers = [u.id for u in members if name in facts.unit_fields.get(u.id, {})]
        # The reader matched across sentence boundaries: only the whole message is safe.
        facts.evidence[name] = carriers or [u.id for u in members]
    facts.contradictions = _field_conflicts(facts.unit_fields)
    return facts


def _field_conflicts(unit_fields: Mapping[int, Mapping[str, Any]]) -> list[Contradiction]:
    statements: dict[str, list[tuple[int, Any]]] = {}
    for unit_id in sorted(unit_fields):
        for name, value in unit_fields[unit_id].items():
            statements.setdefault(name, []).append((unit_id, value))
    out: list[Contradiction] = []
    for name, said in statements.items():
        for position, (unit_id, value) in enumerate(said):
            later = next((u for u, v in said[position + 1 :] if v != value), None)
            if later is not None:
                out.append(Contradiction(unit_id, later, "field", 1.0, name))
    return out


def nli_candidates(
    units: Sequence[Unit],
    similarity: np.ndarray,
    exclude: set[tuple[int, int]],
    min_similarity: float,
    max_pairs: int,
) -> list[tuple[int, int]]:
    """Return the most similar (earlier, later) prose pairs worth asking NLI about.

    Contradictions hide among statements about the same thing, so only pairs at least
    ``min_similarity`` alike are sent, the most similar first, at most ``max_pairs``.
    """
    prose = np.array(
        [
            u.role in ("user", "assistant") and u.kind in ("sentence", "list_item", "paragraph")
            for u in units
        ],
        dtype=bool,
    )
    if max_pairs <= 0 or prose.sum() < 2:
        return []
    upper = np.triu(similarity >= min_similarity, k=1) & prose[:, None] & prose[None, :]
    rows, cols = np.nonzero(upper)
    sims = similarity[rows, cols]
    order = np.argsort(-sims, kind="stable")
    pairs: list[tuple[int, int]] = []
    for position in order:
        pair = (int(rows[position]), int(cols[position]))
        if pair in exclude or similarity[pair] >= 0.999:
            continue  # already known to conflict, or the same sentence twice
        pairs.append(pair)
        if len(pairs) == max_pairs:
            break
    return pairs


def pin_reasons(
    turns: Sequence[Turn], units: Sequence[Unit], facts: FieldFacts
) -> dict[int, list[PinReason]]:
    """Return why each pinned unit must be kept."""
    pins: dict[int, list[PinReason]] = {}

    def pin(unit_id: int, reason: PinReason) -> None:
        pins.setdefault(unit_id, []).append(reason)

    last_user = max((i for i, t in enumerate(turns) if t.role == "user"), default=None)
    last_reply = max(
        (i for i, t in enumerate(turns) if t.role == "assistant" and t.content.strip()),
        default=-1,
    )
    for unit in units:
        if unit.kind == "system":
            pin(unit.id, "system")
        if last_user is not None and last_user in unit.messages:
            pin(unit.id, "last_user_turn")
    for name, unit_ids in sorted(facts.evidence.items()):
        for unit_id in unit_ids:
            pin(unit_id, f"field:{name}")
    for unit in units:
        if unit.is_question and not _answered(unit, turns, last_reply):
            pin(unit.id, "unanswered_question")
    return pins


def _answered(question: Unit, turns: Sequence[Turn], last_reply: int) -> bool:
    index = question.messages[-1]
    if question.role == "assistant":
        return any(t.role == "user" for t in turns[index + 1 :])
    return last_reply > index
