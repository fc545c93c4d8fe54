"""The baselines the optimizer is compared with on the corpus, at the same token budget.

- Truncation: keep the last N tokens (whole messages from the end, the first one cut at a
  token boundary; a tool result whose call was cut away is dropped too).
- LexRank: sumy's LexRank over the optimizer's own units. sumy's default tokenizer needs NLTK
  data, which is not downloaded here, so the units go in pre-split through
  ``ObjectDocumentModel`` with a regex word tokenizer. Best-rated units fill the budget.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.summarizers.lex_rank import LexRankSummarizer

from tools.optimizer.messages import rebuild, to_turns
from tools.optimizer.tokens import MESSAGE_OVERHEAD_TOKENS, tail_tokens
from tools.optimizer.units import Turn, Unit, message_tokens, render


def truncate(messages: Sequence[BaseMessage], budget: int) -> list[BaseMessage]:
    """Keep the last ``budget`` tokens: whole messages from the end, the first one cut."""
    turns = to_turns(messages)
    kept: list[tuple[int, str | None]] = []
    used = 0
    for i in range(len(turns) - 1, -1, -1):
        cost = message_tokens(turns[i])
        if used + cost <= budget:
            kept.append((i, None))
            used += cost
            continue
        room = budget - used - MESSAGE_OVERHEAD_TOKENS
        if (
            room > 0
            and turns[i].role in ("user", "assistant", "system")
            and not turns[i].tool_calls
        ):
            kept.append((i, tail_tokens(turns[i].content, room)))
        break
    kept.reverse()
    called = {c.id for i, _ in kept for c in turns[i].tool_calls}
    # A tool result whose call was cut away is not valid chat input; drop it.
    kept = [(i, t) for i, t in kept if turns[i].role != "tool" or turns[i].tool_call_id in called]
    return rebuild(messages, kept)


class RegexTokenizer:
    """Words for sumy without NLTK: the units are already sentences."""

    language = "english"

    def to_sentences(self, text: str) -> tuple[str, ...]:
        return (text,)

    def to_words(self, text: str) -> tuple[str, ...]:
        words = tuple(re.findall(r"[A-Za-z0-9$][A-Za-z0-9$.'-]*", text))
        return words or ("_",)


def lexrank_order(units: Sequence[Unit]) -> list[int]:
    """Return unit ids, best LexRank rating first."""
    tokenizer = RegexTokenizer()
    document = ObjectDocumentModel([Paragraph([Sentence(u.text, tokenizer)]) for u in units])
    order: list[int] = []

    def take_all(infos: Sequence[Any]) -> Sequence[Any]:
        order.extend(info.order for info in infos)  # infos arrive best first
        return infos

    LexRankSummarizer()(document, take_all)
    return order


def lexrank(
    messages: Sequence[BaseMessage], budget: int, ranked: list[int], units: list[Unit]
) -> list[BaseMessage]:
    """Fill the budget with the best-rated units, then trim on the exact count."""
    turns = to_turns(messages)
    chosen: list[int] = []
    opened: set[int] = set()
    used = 0
    for i in ranked:
        unit = units[i]
        cost = unit.tokens + (
            0 if unit.whole or unit.messages[0] in opened else MESSAGE_OVERHEAD_TOKENS
        )
        if used + cost <= budget:
            chosen.append(i)
            used += cost
            opened.update(unit.messages)
    while chosen:
        rendered = render(turns, units, chosen)
        if sum(_rendered_cost(turns, r) for r in rendered) <= budget:
            return rebuild(messages, rendered)
        chosen.pop()  # the worst-rated of those chosen
    return []


def _rendered_cost(turns: Sequence[Turn], item: tuple[int, str | None]) -> int:
    index, text = item
    if text is None:
        return message_tokens(turns[index])
    return message_tokens(Turn(turns[index].role, text, turns[index].tool_calls))
