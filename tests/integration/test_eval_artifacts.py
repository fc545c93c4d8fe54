"""Acceptance: every held-in eval scenario that plans ships files that validate and agree.

Each scenario's turns run through the real offline graph (as ``stack8s eval`` runs them);
for every turn that answers with a plan, the plan-consistency check must find nothing, and
every export format (kustomize, Helm, compose, SkyPilot) must pass its own validator.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.consistency import check_plan
from agents.schemas import DeploymentPlan, WorkloadSpec
from evals.drivers import GraphDriver
from evals.scenario import load_scenarios
from graph.context import Context
from tests.infra.k8s_tools import ensure_k8s_tools
from tests.infra.plan_exports import check_compose_files, validate_exports
from tests.stubs.graphs import graph_with

pytestmark = pytest.mark.integration


async def test_every_planning_scenario_then_files_validate_and_the_plan_is_consistent(
    pg_url, ingested, embedder, tmp_path: Path
):
    tools = ensure_k8s_tools()
    scenarios = load_scenarios()
    problems: dict[str, list[str]] = {}
    exported: dict[str, str] = {}
    compose_files: list[Path] = []
    plans = 0
    async with graph_with(pg_url, embedder) as graph:
        driver = GraphDriver(graph, Context())
        for scenario in scenarios:
            thread = await driver.start()
            for number, turn in enumerate(scenario.turns, 1):
                output = await driver.send(thread, turn.user)
                if output.error or output.plan is None:
                    continue
                plans += 1
                where = f"{scenario.id}#{number}"
                plan = DeploymentPlan.model_validate(output.plan)
                spec = WorkloadSpec.model_validate(output.spec)
                found = check_plan(plan, spec)
                found += [w for w in plan.warnings if w.startswith("inconsistent plan")]
                if plan.deployment is not None:
                    key = plan.deployment.model_dump_json()
                    if key not in exported:  # the same configuration validates once
                        out = tmp_path / where.replace("#", "-")
                        found += validate_exports(plan.deployment, out, tools)
                        compose_files.append(out / "compose" / "compose.yaml")
                        exported[key] = where
                elif plan.gpu_recommendations:
                    found += [] if any("withheld" in w for w in plan.warnings) else ["no files"]
                if found:
                    problems[where] = found

    compose_errors = check_compose_files(compose_files)

    assert plans >= 40 and len(exported) >= 20
    assert problems == {}
    assert compose_errors == []
