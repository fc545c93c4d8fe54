"""Acceptance: every held-in eval scenario that plans ships files that validate and agree.

Each scenario's turns run through the real offline graph (as ``stack8s eval`` runs them);
for every turn that answers with a plan, the plan-consistency check must find nothing, and
every export format (kustomize, Helm, compose, SkyPilot) must pass its own validator.

The files of each distinct configuration are checked on worker threads while the graph goes
on with the next turns (most of that time is kubectl and helm processes, which leave the
other core free), and the Helm charts are linted in one ``helm lint`` call at the end.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from agents.consistency import check_plan
from agents.schemas import DeploymentPlan, WorkloadSpec
from evals.drivers import GraphDriver
from evals.scenario import load_scenarios
from graph.context import Context
from tests.infra.k8s_tools import ensure_k8s_tools
from tests.infra.plan_exports import check_compose_files, lint_charts, validate_exports
from tests.infra.skypilot_schema import task_schema
from tests.stubs.graphs import graph_with

pytestmark = pytest.mark.integration
WORKERS = min(4, os.cpu_count() or 2)


async def test_every_planning_scenario_then_files_validate_and_the_plan_is_consistent(
    pg_url, ingested, embedder, tmp_path: Path
):
    tools = ensure_k8s_tools()
    task_schema()  # SkyPilot's schema loads once, here, not in two threads at a time
    scenarios = load_scenarios()
    problems: dict[str, list[str]] = {}
    exported: dict[str, str] = {}
    checks: dict[str, Future[list[str]]] = {}
    plans = 0
    with ThreadPoolExecutor(WORKERS) as pool:
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
                            checks[where] = pool.submit(
                                validate_exports, plan.deployment, out, tools, lint=False
                            )
                            exported[key] = where
                    elif plan.gpu_recommendations:
                        found += [] if any("withheld" in w for w in plan.warnings) else ["no files"]
                    if found:
                        problems[where] = found
        for where, check in checks.items():
            if found := check.result():
                problems.setdefault(where, []).extend(found)

    folders = [tmp_path / where.replace("#", "-") for where in exported.values()]
    lint_errors = lint_charts([folder / "helm" for folder in folders], tools)
    compose_errors = check_compose_files([f / "compose" / "compose.yaml" for f in folders])

    assert plans >= 40 and len(exported) >= 20
    assert problems == {}
    assert lint_errors == []
    assert compose_errors == []
