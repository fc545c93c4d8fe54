"""What one eval run produced: scenario runs, and the results document built from them.

``results.json`` is this document; ``evals.report`` renders it as ``report.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evals.metrics import ScoredTurn, TurnOutput, TurnScore, aggregate, check_thresholds
from evals.scenario import Scenario, Turn

RESPONSE_CHARS_KEPT = 4000


@dataclass
class ScenarioRun:
    """One run of one scenario: what each turn produced and how it scored."""

    scenario: Scenario
    repeat: int
    outputs: list[TurnOutput]
    scores: list[TurnScore]
    invariant_ok: bool | None = None
    baseline: list[TurnOutput] | None = None

    @property
    def passed(self) -> bool:
        """Say whether every turn held and the plan stayed invariant where it had to."""
        return all(s.passed for s in self.scores) and self.invariant_ok is not False

    def scored_turns(self) -> list[ScoredTurn]:
        """Return the turns with their scenario's identity, for aggregation."""
        sc = self.scenario
        return [
            ScoredTurn(sc.id, sc.category, sc.known_failure is not None, o, s)
            for o, s in zip(self.outputs, self.scores, strict=True)
        ]


def fingerprint(output: TurnOutput) -> dict[str, Any]:
    """Reduce a turn to what must not change when a fixture card enters the catalog."""
    plan = output.plan or {}
    sizing = plan.get("sizing") or {}
    cost = plan.get("cost_estimate") or {}
    spec = {k: v for k, v in (output.spec or {}).items() if k not in ("assumptions",)}
    return {
        "decision": output.decision,
        "spec": spec,
        "gpus": [
            (g["provider"], g["instance_type"], g["region"], g["price_monthly_usd"])
            for g in plan.get("gpu_recommendations", [])
        ],
        "sizing": (
            sizing.get("model_id"),
            sizing.get("total_vram_gb"),
            sizing.get("tensor_parallel"),
        ),
        "cost": (cost.get("total_monthly_usd"), cost.get("within_budget")),
        "charts": [c["chart"] for c in plan.get("kubernetes_stack", [])],
        "engine": plan.get("serving_engine"),
        "warnings": plan.get("warnings", []),
        "error": output.error,
    }


def consistency(runs: Sequence[ScenarioRun]) -> float | None:
    """Return the share of scenario turns that came out the same in every repeat.

    None when each scenario ran once. A turn is the same when its fingerprint (decision,
    spec, instances, sizing, cost, charts, engine, warnings) is.
    """
    by_scenario: dict[str, list[ScenarioRun]] = {}
    for run in runs:
        by_scenario.setdefault(run.scenario.id, []).append(run)
    same = total = 0
    for repeats in by_scenario.values():
        if len(repeats) < 2:
            continue
        for turn in range(len(repeats[0].outputs)):
            prints = [fingerprint(r.outputs[turn]) for r in repeats]
            total += 1
            same += all(p == prints[0] for p in prints[1:])
    return same / total if total else None


def _invariance_diff(run: ScenarioRun) -> list[dict[str, Any]]:
    """Show, for a plan that changed with its fixture, what it was and what it became."""
    if run.invariant_ok is not False or run.baseline is None:
        return []
    return [
        {"turn": i + 1, "without": fingerprint(a), "with": fingerprint(b)}
        for i, (a, b) in enumerate(zip(run.baseline, run.outputs, strict=True))
        if fingerprint(a) != fingerprint(b)
    ]


def _plan_for_json(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    artifacts = [a.get("filename") for a in plan.get("artifacts", [])]
    return {**plan, "artifacts": artifacts}


def _turn_json(turn: Turn, output: TurnOutput, score: TurnScore) -> dict[str, Any]:
    return {
        "user": turn.user,
        "expected_decision": turn.expect.decision if turn.expect else None,
        "decision": output.decision,
        "questions": output.questions,
        "spec": output.spec,
        "plan": _plan_for_json(output.plan),
        "trajectory": output.trajectory,
        "latency_s": round(output.latency_s, 4),
        "tokens": output.tokens,
        "error": output.error,
        "passed": score.passed,
        "failures": score.failures(),
        "response": output.response[:RESPONSE_CHARS_KEPT],
    }


def build_results(
    runs: Sequence[ScenarioRun],
    floors: dict[str, float],
    meta: dict[str, Any],
    ab: dict[str, Any],
) -> dict[str, Any]:
    """Assemble everything the report and results.json say."""

    def view(selected: Sequence[ScenarioRun]) -> dict[str, Any]:
        turns = [t for run in selected for t in run.scored_turns()]
        invariance = [run.invariant_ok for run in selected if run.invariant_ok is not None]
        metrics = aggregate(turns, invariance)
        metrics["scenarios"] = len(selected)
        metrics["scenarios_passed"] = sum(run.passed for run in selected)
        return metrics

    gated_runs = [r for r in runs if r.scenario.known_failure is None]
    gate = view(gated_runs)
    everything = view(runs)
    rows = check_thresholds(gate, floors)
    categories = sorted({r.scenario.category for r in runs})
    known = [
        {
            "id": r.scenario.id,
            "repeat": r.repeat,
            "reason": r.scenario.known_failure,
            "status": "passes now: remove the known_failure mark" if r.passed else "still fails",
            "failures": [f for s in r.scores for f in s.failures()],
        }
        for r in runs
        if r.scenario.known_failure is not None
    ]
    return {
        "meta": meta,
        "gate": {
            "passed": all(ok for *_, ok in rows),
            "thresholds": [
                {"metric": n, "value": v, "threshold": f, "ok": ok} for n, v, f, ok in rows
            ],
            "metrics": gate,
        },
        "all": {
            "metrics": everything,
            "thresholds": [
                {"metric": n, "value": v, "threshold": f, "ok": ok}
                for n, v, f, ok in check_thresholds(everything, floors)
            ],
        },
        "categories": {c: view([r for r in runs if r.scenario.category == c]) for c in categories},
        "known_failures": known,
        "consistency": consistency(runs),
        "compression": ab,
        "scenarios": [
            {
                "id": r.scenario.id,
                "category": r.scenario.category,
                "tags": r.scenario.tags,
                "repeat": r.repeat,
                "known_failure": r.scenario.known_failure,
                "passed": r.passed,
                "invariant_ok": r.invariant_ok,
                "invariance_diff": _invariance_diff(r),
                "turns": [
                    _turn_json(t, o, s)
                    for t, o, s in zip(r.scenario.turns, r.outputs, r.scores, strict=True)
                ],
            }
            for r in runs
        ],
    }
