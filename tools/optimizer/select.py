"""Step 5, select: the units that fit in the token budget, and why every other one went.

Order of decisions:
1. Pinned units are kept, whatever they cost (the caller reports when they alone overflow).
2. A unit superseded by a later contradicting one is dropped.
3. Near-duplicates collapse to one: a unit is dropped when a later (or pinned) unit is at
   least ``duplicate_similarity`` alike, so the latest wording survives.
4. The rest compete for the budget left. Relevance is the unit's PageRank relative to the
   most central unit of its cluster, blended with recency (later units describe the current
   plan). First each cluster, most important first, gets its most relevant unit that fits;
   then maximal marginal relevance, ``λ·relevance − (1−λ)·max similarity to what is kept``,
   picks unit by unit until nothing fits. A unit at least ``redundancy_similarity`` alike to
   a kept one is never picked.

Costs are exact per unit (its tokens plus a separator) and charge a message's overhead to
the first unit kept from it; the pipeline still re-counts the rendered messages and trims.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tools.optimizer.units import Unit

DropReason = Literal["superseded", "duplicate", "redundant", "budget"]


@dataclass(frozen=True)
class SelectionConfig:
    """Knobs of the selection; the defaults are what the benchmark was run with."""

    mmr_lambda: float = 0.7
    recency_weight: float = 0.4
    duplicate_similarity: float = 0.95
    redundancy_similarity: float = 0.9


@dataclass(frozen=True)
class Drop:
    """Why a unit was left out."""

    reason: DropReason
    detail: str
    by_unit: int | None = None


@dataclass
class Selection:
    """The kept units (ascending ids), the dropped ones and the relevance used."""

    kept: list[int]
    dropped: dict[int, Drop]
    relevance: np.ndarray
    pinned_tokens: int
    spent_tokens: int
    notes: list[str] = field(default_factory=list)


def relevance_scores(
    centrality: np.ndarray, labels: np.ndarray, recency_weight: float
) -> np.ndarray:
    """Return ``(1−w)·centrality / max centrality of the cluster + w·position / (n−1)``."""
    n = centrality.shape[0]
    if n == 0:
        return np.zeros(0)
    relative = np.zeros(n)
    for label in np.unique(labels):
        members = labels == label
        top = centrality[members].max()
        relative[members] = centrality[members] / top if top > 0 else 1.0
    recency = np.arange(n) / max(n - 1, 1)
    return np.asarray((1.0 - recency_weight) * relative + recency_weight * recency)


def select_units(
    units: Sequence[Unit],
    similarity: np.ndarray,
    labels: np.ndarray,
    centrality: np.ndarray,
    pinned: set[int],
    superseded: Mapping[int, tuple[int, str]],
    budget_tokens: int,
    message_overhead: int,
    config: SelectionConfig | None = None,
) -> Selection:
    """Choose the units to keep.

    Args:
        units: All units, ``units[i].id == i``.
        similarity: Pairwise cosine similarities.
        labels: Cluster of each unit.
        centrality: PageRank of each unit.
        pinned: Units kept whatever they cost.
        superseded: Unit → (the later unit that contradicts it, why).
        budget_tokens: Tokens the kept units may cost in all.
        message_overhead: Tokens each kept message costs beyond its content.
        config: Selection knobs.

    Returns:
        The selection.

    """
    config = config or SelectionConfig()
    n = len(units)
    tokens = np.array([u.tokens for u in units], dtype=np.int64)
    # Whole units (tool exchanges, system) already include their messages' overhead.
    message_of = np.array([-1 if u.whole else u.messages[0] for u in units], dtype=np.int64)
    opened = np.zeros(max((u.messages[-1] for u in units), default=-1) + 2, dtype=bool)
    relevance = relevance_scores(centrality, labels, config.recency_weight)
    kept = np.zeros(n, dtype=bool)
    dropped: dict[int, Drop] = {}
    best_sim = np.full(n, -1.0)
    nearest = np.full(n, -1, dtype=np.int64)

    def keep(i: int) -> None:
        kept[i] = True
        if message_of[i] >= 0:
            opened[message_of[i]] = True
        row = similarity[i]
        closer = row > best_sim
        best_sim[closer] = row[closer]
        nearest[closer] = i

    for i in sorted(pinned):
        keep(i)
    pinned_tokens = int(tokens[kept].sum()) + message_overhead * int(opened.sum())
    for i, (by, why) in superseded.items():
        if not kept[i]:
            dropped[i] = Drop("superseded", why, by)
    open_ = np.array([not kept[i] and i not in dropped for i in range(n)], dtype=bool)
    _collapse_duplicates(similarity, kept, open_, dropped, config.duplicate_similarity)

    def cost() -> np.ndarray:
        extra = np.where(message_of >= 0, ~opened[message_of], False) * message_overhead
        return tokens + extra

    spent = int(pinned_tokens)
    for cluster in _clusters_by_weight(labels, relevance, open_):
        members = open_ & (labels == cluster) & (best_sim < config.redundancy_similarity)
        fits = members & (cost() <= budget_tokens - spent)
        if fits.any():
            pick = int(np.flatnonzero(fits)[np.argmax(relevance[fits])])
            spent += int(cost()[pick])
            keep(pick)
            open_[pick] = False
    while True:
        fits = open_ & (best_sim < config.redundancy_similarity)
        fits &= cost() <= budget_tokens - spent
        if not fits.any():
            break
        score = config.mmr_lambda * relevance - (1.0 - config.mmr_lambda) * np.maximum(best_sim, 0)
        pick = int(np.flatnonzero(fits)[np.argmax(score[fits])])
        spent += int(cost()[pick])
        keep(pick)
        open_[pick] = False
    for left in np.flatnonzero(open_).tolist():
        if best_sim[left] >= config.redundancy_similarity:
            dropped[left] = Drop(
                "redundant", f"{best_sim[left]:.2f} alike to a kept unit", int(nearest[left])
            )
        else:
            dropped[left] = Drop("budget", f"relevance {relevance[left]:.2f}: did not fit")
    return Selection(
        kept=[int(i) for i in np.flatnonzero(kept)],
        dropped=dropped,
        relevance=relevance,
        pinned_tokens=pinned_tokens,
        spent_tokens=spent,
    )


def _collapse_duplicates(
    similarity: np.ndarray,
    kept: np.ndarray,
    open_: np.ndarray,
    dropped: dict[int, Drop],
    threshold: float,
) -> None:
    """Drop every open unit that has a later surviving (or a kept) near-copy."""
    n = similarity.shape[0]
    survivors = kept | open_
    later = np.triu(np.ones((n, n), dtype=bool), k=1)
    copies = (similarity >= threshold) & (later | kept[None, :]) & survivors[None, :]
    np.fill_diagonal(copies, False)
    for i in np.flatnonzero(open_ & copies.any(axis=1)):
        targets = np.flatnonzero(copies[i])
        by = int(targets[kept[targets]][0]) if kept[targets].any() else int(targets[-1])
        dropped[int(i)] = Drop("duplicate", f"{similarity[i, by]:.2f} alike to a later unit", by)
        open_[i] = False


def _clusters_by_weight(labels: np.ndarray, relevance: np.ndarray, open_: np.ndarray) -> list[int]:
    weights: dict[int, float] = {}
    for i in np.flatnonzero(open_):
        weights[int(labels[i])] = weights.get(int(labels[i]), 0.0) + float(relevance[i])
    return sorted(weights, key=lambda label: (-weights[label], label))
