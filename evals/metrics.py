"""Score each turn against its expectations, and aggregate the scores into metrics.

Per turn: the decision (clarify or plan), the WorkloadSpec fields, the tool trajectory, the
groundedness of every instance, model and chart named, the numeric oracle and the plan
constraints. A turn that raised scores as failed on everything it was expected to produce.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.schemas import DeploymentPlan, WorkloadSpec
from evals.catalog import Catalog
from evals.oracle import OWN_PROVIDER, Check, OracleResult, check_plan
from evals.scenario import (
    PlanExpectation,
    QuestionRange,
    ToolExpectation,
    TurnExpectation,
    spec_value,
)
from evals.table_checks import table_checks

GATED = (
    "spec_accuracy",
    "clarify_accuracy",
    "questions_fresh",
    "groundedness",
    "oracle",
    "trajectory",
    "constraints",
    "invariance",
)
# Every plan names instances, models and charts: a planning turn must have searched all three.
DEFAULT_PLAN_TOOLS = ToolExpectation(
    names=["compute_search", "hf_model_search", "k8s_chart_search"]
)


@dataclass
class TurnOutput:
    """What one turn produced, however it was driven (graph or HTTP API)."""

    decision: str | None
    questions: list[str] = field(default_factory=list)
    spec: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    trajectory: list[str] | None = None
    """Tool names in call order; None when the driver cannot see them (HTTP API)."""
    response: str = ""
    latency_s: float = 0.0
    tokens: int | None = None
    optimizer_report: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class TurnScore:
    """How one turn measured up to its expectations; None where nothing was expected."""

    decision_expected: str | None = None
    decision_ok: bool | None = None
    questions_ok: bool | None = None
    questions_fresh: bool | None = None
    """False when a question of this turn was asked word for word in an earlier turn."""
    spec_fields: dict[str, bool] = field(default_factory=dict)
    tools_ok: bool | None = None
    grounded: list[Check] = field(default_factory=list)
    oracle: list[Check] | None = None
    constraints: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Say whether everything expected of the turn held."""
        flags = [self.decision_ok, self.questions_ok, self.questions_fresh, self.tools_ok]
        checks = [*self.grounded, *(self.oracle or []), *self.constraints]
        return (
            all(f is not False for f in flags)
            and all(self.spec_fields.values())
            and all(c.passed for c in checks)
        )

    def failures(self) -> list[str]:
        """Describe what failed, for the report."""
        out = []
        if self.decision_ok is False:
            out.append("decision")
        if self.questions_ok is False:
            out.append("number of questions")
        if self.questions_fresh is False:
            out.append("a question asked again word for word")
        out += [f"spec.{name}" for name, ok in self.spec_fields.items() if not ok]
        if self.tools_ok is False:
            out.append("tool trajectory")
        for group, checks in (
            ("grounded", self.grounded),
            ("oracle", self.oracle or []),
            ("constraint", self.constraints),
        ):
            out += [f"{group}:{c.name} ({c.detail})" for c in checks if not c.passed]
        return out


def values_equal(actual: Any, expected: Any) -> bool:
    """Compare a spec value with its expectation: lists as sets, numbers with a tolerance."""
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        return {_norm(v) for v in actual} == {_norm(v) for v in expected}
    if isinstance(expected, bool) or expected is None:
        return actual is expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-6)
    return _norm(actual) == _norm(expected)


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def trajectory_ok(trajectory: Sequence[str], expected: ToolExpectation) -> bool:
    """Check the tools called against the expectation (subset, or ordered subsequence)."""
    if expected.mode == "subset":
        return set(expected.names) <= set(trajectory)
    remaining = iter(trajectory)
    return all(any(name == called for called in remaining) for name in expected.names)


def grounded_checks(plan: DeploymentPlan, catalog: Catalog) -> list[Check]:
    """Check that every instance, model and chart the plan names is in the catalogs."""
    checks = []
    for rec in plan.gpu_recommendations:
        key = (rec.provider, rec.instance_type, rec.region)
        if rec.provider == OWN_PROVIDER:
            # The user's own machines are not in a catalog; their GPU model must be.
            known = rec.gpu_model in catalog.gpu_memory_gb
            checks.append(Check("instance", known, f"own {rec.gpu_count:g}× {rec.gpu_model}"))
            continue
        checks.append(Check("instance", key in catalog.instances, "/".join(key)))
    names = [m.model_id for m in plan.model_recommendations]
    if plan.sizing is not None and plan.sizing.model_id:
        names.append(plan.sizing.model_id)
    checks += [Check("model", name in catalog.models, name) for name in dict.fromkeys(names)]
    for chart in plan.kubernetes_stack:
        versions = catalog.charts.get(chart.chart)
        ok = versions is not None and (chart.version is None or chart.version in versions)
        checks.append(Check("chart", ok, f"{chart.chart} {chart.version or ''}".strip()))
    return checks


def constraint_checks(
    plan: DeploymentPlan,
    expected: PlanExpectation,
    response: str,
    catalog: Catalog,
    named: Sequence[str] = (),
) -> list[Check]:
    """Check the plan against the scenario's constraints; ``named``: the models asked for."""
    checks: list[Check] = []
    gpus = plan.gpu_recommendations

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append(Check(name, bool(ok), detail))

    if expected.providers is not None:
        bad = [g.provider for g in gpus if g.provider not in expected.providers]
        add("providers", not bad, f"outside {expected.providers}: {bad}")
    if expected.regions is not None:
        bad = [g.region for g in gpus if g.region not in expected.regions]
        add("regions", not bad, f"outside {expected.regions}: {bad}")
    if expected.within_budget is not None:
        got = plan.cost_estimate.within_budget if plan.cost_estimate else None
        add("within_budget", got is expected.within_budget, f"within_budget={got}")
    if expected.license_allow is not None:
        ids = [m.model_id for m in plan.model_recommendations]
        if plan.sizing is not None and plan.sizing.model_id:
            ids.append(plan.sizing.model_id)
        bad = [
            i
            for i in dict.fromkeys(ids)
            if (catalog.models[i].license if i in catalog.models else None)
            not in expected.license_allow
        ]
        add("license", not bad, f"licences outside {expected.license_allow}: {bad}")
    charts = {c.chart for c in plan.kubernetes_stack}
    models = [m.model_id for m in plan.model_recommendations]
    for name, wanted, present, must in (
        ("charts_include", expected.charts_include, charts, True),
        ("charts_exclude", expected.charts_exclude, charts, False),
        ("models_include", expected.models_include, models, True),
        ("models_exclude", expected.models_exclude, models, False),
    ):
        if wanted:
            wrong = [w for w in wanted if (w in present) is not must]
            add(name, not wrong, f"{'missing' if must else 'unwanted'}: {wrong}")
    if expected.model_family is not None:
        subject = (plan.sizing.model_id if plan.sizing else None) or (models[0] if models else "")
        add(
            "model_family",
            expected.model_family.lower() in (subject or "").lower(),
            f"{subject!r} is not {expected.model_family}",
        )
    if expected.model_pipeline_tags is not None:
        tags = [m.pipeline_tag for m in plan.model_recommendations]
        add(
            "model_pipeline_tags",
            any(t in expected.model_pipeline_tags for t in tags),
            f"model tags {tags}, wanted one of {expected.model_pipeline_tags}",
        )
    if expected.serving_engine is not None:
        add(
            "serving_engine",
            plan.serving_engine == expected.serving_engine,
            f"engine {plan.serving_engine}",
        )
    if expected.min_gpu_recommendations is not None:
        add(
            "min_gpu_recommendations",
            len(gpus) >= expected.min_gpu_recommendations,
            f"{len(gpus)} instances recommended",
        )
    if expected.gpu_free is not None:
        with_gpu = [g.instance_type for g in gpus if g.gpu_model not in ("none", "", None)]
        add("gpu_free", (not with_gpu) is expected.gpu_free, f"instances with GPUs: {with_gpu}")
    if expected.max_gpus_per_instance is not None:
        most = max((g.gpu_count for g in gpus), default=0.0)
        add("max_gpus_per_instance", most <= expected.max_gpus_per_instance, f"{most:g} GPUs")
    if expected.cost_period is not None:
        period = plan.cost_estimate.period if plan.cost_estimate else None
        add("cost_period", period == expected.cost_period, f"the cost covers a {period}")
    for text in expected.warnings_include:
        add(
            "warnings_include",
            any(text.lower() in w.lower() for w in plan.warnings),
            f"no warning mentions {text!r}: {plan.warnings}",
        )
    for text in expected.response_excludes:
        add("response_excludes", text.lower() not in response.lower(), f"answer says {text!r}")
    checks += table_checks(
        plan, list(named), response, catalog,
        rows_configured=expected.gpu_rows_configured,
        first_precision=expected.first_gpu_precision,
        builds_include=expected.gpu_builds_include,
        models_labelled=expected.models_fit_or_labelled,
    )
    return checks


def _question_key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def score_turn(
    output: TurnOutput,
    expected: TurnExpectation | None,
    catalog: Catalog,
    earlier_questions: Sequence[str] = (),
) -> TurnScore:
    """Score one turn; groundedness and the oracle apply to every plan, expected or not.

    ``earlier_questions`` are the questions of the scenario's earlier turns: asking one of
    them again word for word fails the turn, expected or not.
    """
    score = TurnScore()
    if output.decision == "clarify":
        seen = {_question_key(q) for q in earlier_questions}
        score.questions_fresh = not any(_question_key(q) in seen for q in output.questions)
    spec = output.spec or {}
    plan = DeploymentPlan.model_validate(output.plan) if output.plan else None
    if plan is not None and output.decision == "plan":
        score.grounded = grounded_checks(plan, catalog)
        oracle: OracleResult = check_plan(plan, WorkloadSpec.model_validate(spec), catalog)
        score.oracle = oracle.checks
    if expected is None:
        return score
    if expected.decision is not None:
        score.decision_expected = expected.decision
        score.decision_ok = output.decision == expected.decision
    if output.decision == "clarify":
        bounds = expected.questions or QuestionRange()
        score.questions_ok = bounds.min <= len(output.questions) <= bounds.max
    for path, want in expected.spec.items():
        matched = values_equal(spec_value(spec, path), want)
        score.spec_fields[path] = output.error is None and matched
    tool_expectations = expected.tools or (
        [DEFAULT_PLAN_TOOLS] if expected.decision == "plan" else []
    )
    if tool_expectations and output.trajectory is not None:
        trajectory = output.trajectory
        held = all(trajectory_ok(trajectory, tools) for tools in tool_expectations)
        score.tools_ok = output.error is None and held
    elif expected.decision == "clarify" and output.trajectory is not None:
        score.tools_ok = not output.trajectory
    if expected.plan is not None:
        if plan is None or output.decision != "plan":
            score.constraints = [Check("plan", False, "no plan was produced")]
        else:
            named = spec_value(spec, "model_needs.named_models") or []
            score.constraints = constraint_checks(
                plan, expected.plan, output.response, catalog, named
            )
    return score


def ratio(passed: int, total: int) -> float | None:
    """Return passed / total, or None when nothing was measured."""
    return passed / total if total else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the q-th percentile (linear interpolation), or None for no values."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


@dataclass
class ScoredTurn:
    """A turn's output and score, with the scenario it belongs to."""

    scenario_id: str
    category: str
    known_failure: bool
    output: TurnOutput
    score: TurnScore


def aggregate(turns: Iterable[ScoredTurn], invariance: Sequence[bool] = ()) -> dict[str, Any]:
    """Fold turn scores into the metrics of one view (gate, all, a category)."""
    turns = list(turns)
    fields_hit: dict[str, list[int]] = {}
    clar = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    questions: list[int] = []
    decided = decided_ok = q_ok = q_fresh = tools = tools_ok = 0
    items = items_ok = orc = orc_ok = cons = cons_ok = 0
    latencies: list[float] = []
    tokens: list[int] = []
    for t in turns:
        s, o = t.score, t.output
        for name, ok in s.spec_fields.items():
            hit = fields_hit.setdefault(name, [0, 0])
            hit[0] += ok
            hit[1] += 1
        if s.decision_ok is not None:
            decided += 1
            decided_ok += s.decision_ok
            asked, should = o.decision == "clarify", s.decision_expected == "clarify"
            clar[("t" if asked == should else "f") + ("p" if asked else "n")] += 1
        if o.decision == "clarify":
            questions.append(len(o.questions))
            q_ok += bool(s.questions_ok is not False)
            q_fresh += bool(s.questions_fresh is not False)
        if s.tools_ok is not None:
            tools += 1
            tools_ok += s.tools_ok
        items += len(s.grounded)
        items_ok += sum(c.passed for c in s.grounded)
        if s.oracle is not None:
            orc += 1
            orc_ok += all(c.passed for c in s.oracle)
        if s.constraints:
            cons += 1
            cons_ok += all(c.passed for c in s.constraints)
        if o.error is None:
            latencies.append(o.latency_s)
        if o.tokens:
            tokens.append(o.tokens)
    matched = sum(h[0] for h in fields_hit.values())
    total = sum(h[1] for h in fields_hit.values())
    return {
        "turns": len(turns),
        "spec_accuracy": ratio(matched, total),
        "spec_fields": {k: {"matched": v[0], "total": v[1]} for k, v in sorted(fields_hit.items())},
        "clarify_accuracy": ratio(decided_ok, decided),
        "clarify_precision": ratio(clar["tp"], clar["tp"] + clar["fp"]),
        "clarify_recall": ratio(clar["tp"], clar["tp"] + clar["fn"]),
        "clarify_confusion": clar,
        "questions_mean": float(np.mean(questions)) if questions else None,
        "questions_in_range": ratio(q_ok, len(questions)),
        "questions_fresh": ratio(q_fresh, len(questions)),
        "trajectory": ratio(tools_ok, tools),
        "groundedness": ratio(items_ok, items),
        "grounded_items": items,
        "oracle": ratio(orc_ok, orc),
        "oracle_plans": orc,
        "constraints": ratio(cons_ok, cons),
        "invariance": ratio(sum(invariance), len(invariance)),
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
        "tokens_total": sum(tokens) if tokens else None,
        "tokens_per_turn": float(np.mean(tokens)) if tokens else None,
    }


def check_thresholds(
    metrics: dict[str, Any], thresholds: dict[str, float]
) -> list[tuple[str, float | None, float, bool]]:
    """Compare metrics with their floors; a metric with nothing measured is not gated."""
    rows = []
    for name, floor in thresholds.items():
        value = metrics.get(name)
        rows.append((name, value, floor, value is None or value >= floor - 1e-12))
    return rows
