"""Scenarios: scripted conversations and what each turn must produce, read from YAML files.

One file per category under ``evals/scenarios/``; each holds a list of scenarios. A turn's
``expect`` names the decision, the WorkloadSpec fields (dotted paths, e.g.
``model_needs.named_models``), the tools the architect must call and constraints on the plan.
Unknown keys and unknown spec paths are errors, so a typo cannot silently weaken a scenario.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agents.schemas import WorkloadSpec

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
# Catalog fixtures a scenario may ask for: model cards ingested for its run, removed after.
CARD_FIXTURES = frozenset({"evil/jailbreak-7b"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolExpectation(_Strict):
    """Tools the architect must call this turn."""

    names: list[str] = Field(min_length=1)
    mode: Literal["subset", "ordered"] = "subset"
    """subset: every name was called; ordered: the names occur in this order (gaps allowed)."""


class QuestionRange(_Strict):
    """How many clarifying questions a clarify turn may ask."""

    min: int = Field(default=1, ge=0)
    max: int = Field(default=3, ge=0)


class PlanExpectation(_Strict):
    """Constraints on the plan of a planning turn; every one given must hold."""

    providers: list[str] | None = None
    """Every recommended instance is on one of these providers."""
    regions: list[str] | None = None
    """Every recommended instance is in one of these regions."""
    within_budget: bool | None = None
    """The plan's cost estimate says it is (True) or is not (False) within the budget."""
    license_allow: list[str] | None = None
    """Every recommended model, and the model sized and deployed, has one of these licences."""
    charts_include: list[str] = Field(default_factory=list)
    charts_exclude: list[str] = Field(default_factory=list)
    model_family: str | None = None
    """Case-insensitive substring of the sized model or, without sizing, the first model."""
    models_include: list[str] = Field(default_factory=list)
    models_exclude: list[str] = Field(default_factory=list)
    model_pipeline_tags: list[str] | None = None
    """At least one recommended model has one of these Hugging Face pipeline tags."""
    serving_engine: str | None = None
    min_gpu_recommendations: int | None = None
    gpu_free: bool | None = None
    """True: no recommended instance has a GPU (a CPU-only plan)."""
    max_gpus_per_instance: float | None = None
    cost_period: Literal["month", "run"] | None = None
    """month: the cost is a month of running; run: one run of a job, priced once."""
    warnings_include: list[str] = Field(default_factory=list)
    """Case-insensitive substrings that some plan warning must contain."""
    response_excludes: list[str] = Field(default_factory=list)
    """Case-insensitive substrings the answer shown to the user must not contain."""
    gpu_rows_configured: bool | None = None
    """True: every recommended instance states what it deploys (weights precision, KV cache
    dtype, tensor parallel × replicas within the GPUs it rents; a build that is not the sized
    model, always for int4, named and published), and the answer's GPU table row says it."""
    first_gpu_precision: str | None = None
    """The weights precision of the first (chosen) recommendation."""
    gpu_builds_include: list[str] = Field(default_factory=list)
    """Weights repos (quantized builds) some recommended instance must deploy."""
    models_fit_or_labelled: bool | None = None
    """True: every recommended model other than the sized one fits the first recommendation's
    GPUs at some build (recomputed with tools.sizing), or is marked, in the plan and in its
    row of the answer's Models table, as needing other GPUs; none is marked fitting wrongly."""


class TurnExpectation(_Strict):
    """What one turn must produce."""

    decision: Literal["plan", "clarify"] | None = None
    spec: dict[str, Any] = Field(default_factory=dict)
    """Dotted WorkloadSpec paths → expected value (lists compare as sets)."""
    plan: PlanExpectation | None = None
    tools: list[ToolExpectation] = Field(default_factory=list)
    """Tool expectations that must all hold."""
    questions: QuestionRange | None = None

    @field_validator("spec")
    @classmethod
    def _known_paths(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path in value:
            if not spec_path_exists(path):
                raise ValueError(f"unknown WorkloadSpec field {path!r}")
        return value


class Turn(_Strict):
    """One user message and, optionally, what the answer to it must be."""

    user: str = Field(min_length=1)
    expect: TurnExpectation | None = None


class Scenario(_Strict):
    """A scripted conversation."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    category: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    turns: list[Turn] = Field(min_length=1)
    known_failure: str | None = None
    """Why the graph fails this scenario today; scored, reported apart, never counted a pass."""
    fixtures: list[str] = Field(default_factory=list)
    """Model cards (``org/name`` under tests/fixtures/cards) ingested for this scenario."""
    invariant: bool = False
    """The plan must be the same as in a run of the same turns without the fixtures."""

    @field_validator("fixtures")
    @classmethod
    def _known_fixtures(cls, value: list[str]) -> list[str]:
        unknown = set(value) - CARD_FIXTURES
        if unknown:
            raise ValueError(f"unknown fixtures {sorted(unknown)}; known: {sorted(CARD_FIXTURES)}")
        return value

    @model_validator(mode="after")
    def _invariant_needs_fixture(self) -> Scenario:
        if self.invariant and not self.fixtures:
            raise ValueError("invariant: true needs fixtures to compare against")
        return self

    @property
    def all_tags(self) -> set[str]:
        """Return the tags, the category and the id: what ``--filter`` matches."""
        return {*self.tags, self.category, self.id}


def spec_path_exists(path: str) -> bool:
    """Say whether a dotted path names a WorkloadSpec field."""
    model: type[BaseModel] = WorkloadSpec
    parts = path.split(".")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i < len(parts) - 1:
            annotation = field.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def spec_value(spec: dict[str, Any], path: str) -> Any:
    """Return the value at a dotted path of a WorkloadSpec dict (None when absent)."""
    value: Any = spec
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def load_file(path: Path) -> list[Scenario]:
    """Read the scenarios of one YAML file.

    Raises:
        ValueError: If the file is not a list of valid scenarios.

    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a list of scenarios")
    scenarios = []
    for index, item in enumerate(raw):
        try:
            scenarios.append(Scenario.model_validate(item))
        except ValueError as exc:
            raise ValueError(f"{path} scenario #{index + 1}: {exc}") from exc
    return scenarios


def load_scenarios(directory: Path = SCENARIO_DIR, filters: Sequence[str] = ()) -> list[Scenario]:
    """Read every ``*.yaml`` file in ``directory``, keeping the scenarios ``filters`` match.

    Raises:
        ValueError: On an invalid file or a scenario id used twice.

    """
    scenarios: list[Scenario] = []
    for path in sorted(directory.glob("*.yaml")):
        scenarios.extend(load_file(path))
    seen: set[str] = set()
    for scenario in scenarios:
        if scenario.id in seen:
            raise ValueError(f"scenario id {scenario.id!r} is used twice")
        seen.add(scenario.id)
    return [s for s in scenarios if matches(s, filters)]


def matches(scenario: Scenario, filters: Iterable[str]) -> bool:
    """Say whether a scenario's tags, category or id match any filter (globs allowed)."""
    wanted = list(filters)
    if not wanted:
        return True
    return any(fnmatch.fnmatchcase(tag, pattern) for pattern in wanted for tag in scenario.all_tags)
