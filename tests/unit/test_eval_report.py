import json

import pytest

from evals.catalog import Catalog
from evals.metrics import TurnOutput, score_turn
from evals.report import render, write_report
from evals.results import ScenarioRun, build_results, consistency, fingerprint
from evals.scenario import Scenario

FLOORS = {"clarify_accuracy": 1.0, "spec_accuracy": 0.95, "invariance": 1.0}


def _run(scenario_id, decision, *, expected="clarify", known=None, category="clarification"):
    scenario = Scenario(
        id=scenario_id,
        category=category,
        known_failure=known,
        turns=[{"user": "I want to deploy AI", "expect": {"decision": expected}}],
    )
    output = TurnOutput(
        decision=decision,
        questions=["q?"] if decision == "clarify" else [],
        trajectory=[],
        latency_s=0.2,
    )
    return ScenarioRun(
        scenario, 0, [output], [score_turn(output, scenario.turns[0].expect, Catalog.load())]
    )


META = {
    "provider": "offline",
    "model": None,
    "filters": [],
    "repeat": 1,
    "concurrency": 2,
    "started_at": "2026-01-01T00:00:00+00:00",
    "duration_s": 1.5,
    "scenarios": 3,
    "notes": [],
    "phases_s": {"scenarios": 1.0},
}
AB = {
    "available": False,
    "reason": "optimizer not available (no tools.optimizer.optimize_messages yet)",
}


def test_known_failure_then_left_out_of_the_gate_but_counted_in_the_all_view():
    runs = [
        _run("ok-1", "clarify"),
        _run("ok-2", "clarify", category="reference"),
        _run("kf", "clarify", expected="plan", known="asks although everything was said"),
    ]

    results = build_results(runs, FLOORS, META, AB)

    assert results["gate"]["passed"] is True
    assert results["gate"]["metrics"]["clarify_accuracy"] == 1.0
    assert results["all"]["metrics"]["clarify_accuracy"] == pytest.approx(2 / 3)
    assert [k["status"] for k in results["known_failures"]] == ["still fails"]
    assert set(results["categories"]) == {"clarification", "reference"}


def test_known_failure_that_passes_then_reported_for_unmarking():
    results = build_results([_run("kf", "clarify", known="was broken once")], FLOORS, META, AB)

    assert results["known_failures"][0]["status"].startswith("passes now")


def test_gated_failure_then_gate_fails_and_the_report_names_it(tmp_path):
    results = build_results([_run("bad", "plan")], FLOORS, META, AB)

    text = render(results, {})

    assert results["gate"]["passed"] is False
    assert "**Gate FAILED.**" in text and "**bad** (repeat 0) turn 1" in text
    assert "optimizer not available" in text


def test_write_report_then_markdown_and_three_figures(tmp_path):
    pytest.importorskip("matplotlib")
    results = build_results([_run("ok", "clarify")], FLOORS, META, AB)
    json.dumps(results)  # results.json must serialise

    path = write_report(results, tmp_path)

    assert path.read_text().startswith("# Stack8s eval: offline")
    for name in ("metrics_by_category.png", "latency_hist.png", "compression_fidelity.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_fingerprint_then_model_list_and_assumptions_ignored():
    plan = {
        "gpu_recommendations": [],
        "model_recommendations": [{"model_id": "a"}],
        "kubernetes_stack": [],
        "warnings": [],
    }
    a = TurnOutput(decision="plan", spec={"assumptions": ["x"], "domain": "llm"}, plan=plan)
    b = TurnOutput(
        decision="plan",
        spec={"assumptions": ["y"], "domain": "llm"},
        plan={**plan, "model_recommendations": [{"model_id": "evil/jailbreak-7b"}]},
    )

    assert fingerprint(a) == fingerprint(b)


def test_consistency_then_share_of_turns_identical_over_repeats():
    first, second = _run("a", "clarify"), _run("a", "plan")
    second.repeat = 1
    steady = [_run("b", "clarify"), _run("b", "clarify")]

    assert consistency([first]) is None
    assert consistency([first, second, *steady]) == pytest.approx(0.5)
