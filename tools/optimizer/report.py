"""Step 6, report: what the optimizer did, JSON-serialisable for graph state and the stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from tools.optimizer.tokens import TOKENIZER_NAME

if TYPE_CHECKING:
    from tools.optimizer.facts import Contradiction
    from tools.optimizer.select import Drop
    from tools.optimizer.spectral import SpectralResult
    from tools.optimizer.units import Turn, Unit


class DroppedUnit(BaseModel):
    """One unit left out, and why."""

    unit: int = Field(description="Unit id (its position among the units).")
    message: int = Field(description="Index of its (first) message in the input.")
    role: str
    kind: str
    tokens: int
    reason: Literal["superseded", "duplicate", "redundant", "budget"]
    detail: str
    by_unit: int | None = Field(
        default=None, description="The unit that supersedes, duplicates or covers it."
    )
    preview: str = Field(description="The start of its text.")


class PinnedUnit(BaseModel):
    """One unit that is never dropped, and why."""

    unit: int
    message: int
    tokens: int
    reasons: list[str] = Field(
        description="system, last_user_turn, unanswered_question or field:<WorkloadSpec field>."
    )
    preview: str


class ContradictionFound(BaseModel):
    """Two units that disagree; the later one wins."""

    earlier: int
    later: int
    source: Literal["field", "nli"]
    field: str | None = None
    strength: float


class NliStatus(BaseModel):
    """Whether NLI contributed, and if not, why."""

    provider: str = Field(description="disabled, http, local, or a custom provider's name.")
    status: Literal["disabled", "ok", "skipped"]
    pairs_scored: int = 0
    detail: str | None = None


class OptimizerReport(BaseModel):
    """Tokens before and after, the spectral picture, and every decision."""

    applied: bool = Field(description="False when the break-even gate kept the input as is.")
    skip_reason: str | None = Field(
        default=None, description="context_small or saving_below_break_even when not applied."
    )
    budget_tokens: int
    tokens_before: int
    tokens_after: int
    saved_tokens: int
    ratio: float = Field(description="tokens_before / tokens_after.")
    within_budget: bool
    pinned_tokens: int = Field(description="What the pinned units cost, overhead included.")
    pinned_over_budget: bool = Field(
        description="The pinned units alone exceed the budget: all are kept, nothing else is."
    )
    messages_before: int
    messages_after: int
    units_total: int
    units_kept: int
    clusters: int = Field(description="k chosen by the eigengap.")
    eigenvalues: list[float] = Field(
        default_factory=list, description="Smallest eigenvalues of the normalised Laplacian."
    )
    spectral_method: str = Field(description="dense, eigsh or none.")
    stability_index: float = Field(
        description="1 − λ_min of the normalised signed Laplacian: 1 = no contradiction felt."
    )
    contradictions: list[ContradictionFound] = Field(default_factory=list)
    nli: NliStatus
    pinned: list[PinnedUnit] = Field(default_factory=list)
    dropped: list[DroppedUnit] = Field(default_factory=list)
    guard_repairs: list[str] = Field(
        default_factory=list,
        description="Fields whose reading changed after selection; their messages were re-pinned.",
    )
    timings_ms: dict[str, float] = Field(default_factory=dict)
    tokenizer: str = TOKENIZER_NAME
    warnings: list[str] = Field(default_factory=list)


def skipped_report(
    turns: Sequence[Turn], before: int, budget: int, reason: str, timings: dict[str, float]
) -> OptimizerReport:
    """Describe a call the break-even gate let through unchanged."""
    return OptimizerReport(
        applied=False,
        skip_reason=reason,
        budget_tokens=budget,
        tokens_before=before,
        tokens_after=before,
        saved_tokens=0,
        ratio=1.0,
        within_budget=before <= budget,
        pinned_tokens=0,
        pinned_over_budget=False,
        messages_before=len(turns),
        messages_after=len(turns),
        units_total=0,
        units_kept=0,
        clusters=0,
        spectral_method="none",
        stability_index=1.0,
        nli=NliStatus(provider="disabled", status="disabled"),
        timings_ms=timings,
    )


def build_report(
    turns: Sequence[Turn],
    units: Sequence[Unit],
    rendered: Sequence[tuple[int, str | None]],
    kept: list[int],
    dropped: dict[int, Drop],
    pins: dict[int, list[str]],
    contradictions: list[Contradiction],
    nli: NliStatus,
    spectrum: SpectralResult,
    budget: int,
    before: int,
    after: int,
    pinned_tokens: int,
    repairs: list[str],
    timings: dict[str, float],
) -> OptimizerReport:
    """Describe a compression: numbers, spectrum, pins, contradictions and every drop."""
    # The trim drops every unpinned unit before it gives up, so over budget means pins alone.
    over = after > budget
    warnings = []
    if over:
        warnings.append(
            f"pinned units alone need {after} tokens, over the budget of {budget}: "
            "all of them were kept and nothing else"
        )
    return OptimizerReport(
        applied=True,
        budget_tokens=budget,
        tokens_before=before,
        tokens_after=after,
        saved_tokens=before - after,
        ratio=round(before / after, 3) if after else float(before),
        within_budget=after <= budget,
        pinned_tokens=pinned_tokens,
        pinned_over_budget=over,
        messages_before=len(turns),
        messages_after=len(rendered),
        units_total=len(units),
        units_kept=len(kept),
        clusters=spectrum.k,
        eigenvalues=[round(float(v), 4) for v in spectrum.eigenvalues],
        spectral_method=spectrum.method,
        stability_index=round(spectrum.stability, 4),
        contradictions=[
            ContradictionFound(
                earlier=c.earlier,
                later=c.later,
                source=c.source,
                field=c.field,
                strength=c.strength,
            )
            for c in contradictions
        ],
        nli=nli,
        pinned=[
            PinnedUnit(
                unit=i,
                message=units[i].messages[0],
                tokens=units[i].tokens,
                reasons=sorted(set(reasons)),
                preview=units[i].preview(),
            )
            for i, reasons in sorted(pins.items())
        ],
        dropped=[
            DroppedUnit(
                unit=i,
                message=units[i].messages[0],
                role=units[i].role,
                kind=units[i].kind,
                tokens=units[i].tokens,
                reason=drop.reason,
                detail=drop.detail,
                by_unit=drop.by_unit,
                preview=units[i].preview(),
            )
            for i, drop in sorted(dropped.items())
        ],
        guard_repairs=repairs,
        timings_ms=timings,
        warnings=warnings,
    )
