"""Step 1, unitize: cut a conversation into the units the optimizer keeps or drops.

A unit is a sentence (or a paragraph, or a list item) of a user or assistant message, or a
block that must not be cut: a fenced code block, a Markdown table, a system message, a
message whose content is not plain text, and a tool exchange (the assistant message that
calls tools together with every tool result that answers it, so that a kept call never
loses its result and the other way round). Each unit keeps its role, its messages and its
place, so the kept units can be put back into the original messages in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tools.optimizer.tokens import MESSAGE_OVERHEAD_TOKENS, count_tokens, tool_call_tokens

Role = Literal["system", "user", "assistant", "tool"]
UnitKind = Literal[
    "sentence", "paragraph", "list_item", "code", "table", "tool_exchange", "system", "opaque"
]
Granularity = Literal["sentence", "paragraph"]

# What a tool exchange contributes to its embedding and previews; the whole exchange still
# counts in full against the budget.
EXCHANGE_TEXT_CHARS = 2000

_FENCE = re.compile(r"(?ms)^[ \t]*(```|~~~).*?(?:^[ \t]*\1[ \t]*$|\Z)")
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
# A sentence ends at . ! or ? followed by space and something that starts a sentence; a
# decimal ("3.1") has no space, so it never splits.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9$*#])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "mr.", "dr.", "no.", "fig.")


@dataclass(frozen=True)
class ToolCall:
    """One tool call an assistant message makes."""

    id: str
    name: str
    args: Any


@dataclass(frozen=True)
class Turn:
    """A chat message reduced to what the optimizer needs, independent of any framework."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    opaque: bool = False
    """True when the content is not plain text (images, content blocks): kept or dropped whole."""


@dataclass(frozen=True)
class Unit:
    """The smallest piece of the conversation that is kept or dropped."""

    id: int
    role: Role
    kind: UnitKind
    text: str
    """What is embedded, read for fields and shown in reports."""
    tokens: int
    """Tokens it costs: its text plus a separator, or whole messages with their overhead."""
    messages: tuple[int, ...]
    """Indices of the messages it lives in (several only for a tool exchange)."""
    span: tuple[int, int] | None = None
    """Character span inside ``messages[0]``; None when the unit is its messages whole."""
    is_question: bool = False

    @property
    def whole(self) -> bool:
        """Say whether the unit is entire messages rather than a piece of one."""
        return self.span is None

    def preview(self, chars: int = 100) -> str:
        """Return the start of the text on one line, for reports."""
        flat = " ".join(self.text.split())
        return flat if len(flat) <= chars else flat[: chars - 1] + "…"


def message_tokens(turn: Turn) -> int:
    """Return what one message costs in context: overhead, content and tool calls."""
    calls = sum(tool_call_tokens(call.name, call.args) for call in turn.tool_calls)
    return MESSAGE_OVERHEAD_TOKENS + count_tokens(turn.content) + calls


def conversation_tokens(turns: Iterable[Turn]) -> int:
    """Return what a whole conversation costs in context."""
    return sum(message_tokens(turn) for turn in turns)


def unitize(turns: Sequence[Turn], granularity: Granularity = "sentence") -> list[Unit]:
    """Cut ``turns`` into units, in conversation order.

    Args:
        turns: The conversation.
        granularity: Split prose into sentences (default) or keep whole paragraphs.

    Returns:
        The units; their ids are their positions in this list.

    """
    groups = tool_exchanges(turns)
    group_of = {index: group for group in groups for index in group}
    units: list[Unit] = []
    for index, turn in enumerate(turns):
        group = group_of.get(index)
        if group is not None:
            if index == group[0]:
                units.append(_exchange_unit(len(units), turns, group))
            continue
        if turn.role in ("system", "tool") or turn.opaque:
            kind: UnitKind = "system" if turn.role == "system" else "opaque"
            units.append(
                Unit(len(units), turn.role, kind, turn.content, message_tokens(turn), (index,))
            )
            continue
        for kind, start, end in _pieces(turn.content, granularity):
            text = turn.content[start:end]
            units.append(
                Unit(
                    id=len(units),
                    role=turn.role,
                    kind=kind,
                    text=text,
                    tokens=count_tokens(text) + 1,
                    messages=(index,),
                    span=(start, end),
                    is_question=kind in ("sentence", "list_item", "paragraph")
                    and text.rstrip().endswith("?"),
                )
            )
    return units


def tool_exchanges(turns: Sequence[Turn]) -> list[tuple[int, ...]]:
    """Group each tool-calling assistant message with the tool results that answer it.

    A result is matched to its call by ``tool_call_id``; a result whose id matches no call
    (callers that do not send ``tool_calls``) joins the exchange just before it, or else the
    assistant message just before it, or stands alone.
    """
    groups: list[list[int]] = []
    by_call: dict[str, int] = {}
    for index, turn in enumerate(turns):
        if turn.role == "assistant" and turn.tool_calls:
            groups.append([index])
            by_call.update({call.id: len(groups) - 1 for call in turn.tool_calls})
        elif turn.role == "tool":
            if turn.tool_call_id in by_call:
                groups[by_call[turn.tool_call_id]].append(index)
            elif groups and groups[-1][-1] == index - 1:
                groups[-1].append(index)
            elif index > 0 and turns[index - 1].role == "assistant":
                groups.append([index - 1, index])
            else:
                groups.append([index])
    return [tuple(sorted(group)) for group in groups]


def _exchange_unit(unit_id: int, turns: Sequence[Turn], group: tuple[int, ...]) -> Unit:
    parts = []
    for index in group:
        turn = turns[index]
        if turn.content:
            label = f"[{turn.name or 'tool'}] " if turn.role == "tool" else ""
            parts.append(label + turn.content)
        parts.extend(f"call {call.name}({call.args})" for call in turn.tool_calls)
    text = "\n".join(parts)[:EXCHANGE_TEXT_CHARS]
    tokens = sum(message_tokens(turns[index]) for index in group)
    return Unit(unit_id, turns[group[0]].role, "tool_exchange", text, tokens, group)


def _pieces(content: str, granularity: Granularity) -> list[tuple[UnitKind, int, int]]:
    """Return ``(kind, start, end)`` for every non-blank piece of one message, in order."""
    pieces: list[tuple[UnitKind, int, int]] = []
    cursor = 0
    for fence in _FENCE.finditer(content):
        pieces.extend(_prose(content, cursor, fence.start(), granularity))
        pieces.append(("code", fence.start(), fence.end()))
        cursor = fence.end()
    pieces.extend(_prose(content, cursor, len(content), granularity))
    out: list[tuple[UnitKind, int, int]] = []
    for kind, start, end in pieces:
        start, end = _strip(content, start, end)
        if start < end:
            out.append((kind, start, end))
    return out


def _prose(
    content: str, start: int, end: int, granularity: Granularity
) -> list[tuple[UnitKind, int, int]]:
    out: list[tuple[UnitKind, int, int]] = []
    cursor = start
    for blank in [*_BLANK_LINE.finditer(content, start, end), None]:
        stop = blank.start() if blank else end
        out.extend(_paragraph(content, cursor, stop, granularity))
        if blank:
            cursor = blank.end()
    return out


def _paragraph(
    content: str, start: int, end: int, granularity: Granularity
) -> list[tuple[UnitKind, int, int]]:
    text = content[start:end]
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return []
    if len(lines) >= 2 and sum(line.lstrip().startswith("|") for line in lines) * 2 >= len(lines):
        return [("table", start, end)]
    if _LIST_MARKER.match(lines[0]):
        return _list_items(content, start, end)
    if granularity == "paragraph":
        return [("paragraph", start, end)]
    out: list[tuple[UnitKind, int, int]] = []
    line_start = start
    for line in text.split("\n"):
        line_end = line_start + len(line)
        out.extend(("sentence", s, e) for s, e in _sentences(content, line_start, line_end))
        line_start = line_end + 1
    return out


def _list_items(content: str, start: int, end: int) -> list[tuple[UnitKind, int, int]]:
    items: list[list[int]] = []
    line_start = start
    for line in content[start:end].split("\n"):
        line_end = line_start + len(line)
        if _LIST_MARKER.match(line) or not items:
            items.append([line_start, line_end])
        else:
            items[-1][1] = line_end  # a continuation line belongs to the item above it
        line_start = line_end + 1
    return [("list_item", s, e) for s, e in items]


def _sentences(content: str, start: int, end: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(content, start, end):
        words = content[cursor : match.start() + 1].split()
        if words and words[-1].lower() in _ABBREVIATIONS:
            continue
        out.append((cursor, match.start() + 1 + len(match.group(0)[1:].rstrip())))
        cursor = match.end()
    out.append((cursor, end))
    return out


def _strip(content: str, start: int, end: int) -> tuple[int, int]:
    while start < end and content[start].isspace():
        start += 1
    while end > start and content[end - 1].isspace():
        end -= 1
    return start, end


def render(
    turns: Sequence[Turn], units: Sequence[Unit], kept: Iterable[int]
) -> list[tuple[int, str | None]]:
    """Rebuild the conversation from the kept units, in the original order.

    Args:
        turns: The original conversation.
        units: Its units.
        kept: Ids of the units to keep.

    Returns:
        ``(message index, new content)`` for every message that keeps at least one unit;
        the content is None when the message is kept unchanged. Messages that keep nothing
        are left out.

    """
    kept_set = set(kept)
    whole: set[int] = set()
    partial: dict[int, list[Unit]] = {}
    total: dict[int, int] = {}
    for unit in units:
        for index in unit.messages:
            total[index] = total.get(index, 0) + 1
        if unit.id not in kept_set:
            continue
        if unit.whole:
            whole.update(unit.messages)
        else:
            partial.setdefault(unit.messages[0], []).append(unit)
    out: list[tuple[int, str | None]] = []
    for index, turn in enumerate(turns):
        pieces = partial.get(index, [])
        if index in whole or (pieces and len(pieces) == total[index]):
            out.append((index, None))
        elif pieces:
            out.append((index, _join(turn.content, pieces)))
    return out


def _join(content: str, pieces: Sequence[Unit]) -> str:
    """Join kept pieces with the strongest break found between them in the original."""
    parts: list[str] = []
    previous_end: int | None = None
    for unit in pieces:
        if unit.span is None:
            continue
        start, end = unit.span
        if previous_end is not None:
            gap = content[previous_end:start]
            parts.append("\n\n" if gap.count("\n") >= 2 else "\n" if "\n" in gap else " ")
        parts.append(content[start:end])
        previous_end = end
    return "".join(parts)
