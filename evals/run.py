"""The eval runner: every scenario through the real graph (or the HTTP API), scored and reported.

Phases: the scenarios without fixtures (``--concurrency`` at a time, ``--repeat`` times); the
scenarios with catalog fixtures, one at a time, each run first without and then with its
fixture so that invariance can be judged; the compression A/B when the optimizer exists.
Known failures are scored like any scenario, gated apart and reported on their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.resources import Resources
from evals import compression
from evals.catalog import Catalog
from evals.drivers import ApiDriver, Driver, GraphDriver
from evals.fixtures import card_fixtures
from evals.metrics import GATED, TurnOutput, score_turn
from evals.report import write_report
from evals.results import ScenarioRun, build_results, fingerprint
from evals.scenario import SCENARIO_DIR, Scenario, load_scenarios
from graph.checkpointer import compile_with_postgres, postgres_saver
from graph.context import Context

logger = logging.getLogger(__name__)

THRESHOLDS_PATH = Path(__file__).resolve().parent / "thresholds.toml"
# One unscored turn first, so that loading the embedder is not charged to a scenario's latency.
WARM_UP_MESSAGE = "Serve Llama 3.1 8B for 5 users"


@dataclass(frozen=True)
class EvalConfig:
    """What to run, against what, and where the report goes."""

    provider: str = "offline"
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    filters: tuple[str, ...] = ()
    repeat: int = 1
    concurrency: int = 4
    via_api: bool = False
    api_url: str = "http://127.0.0.1:8000"
    # A Supabase access token for a server with auth on (--via-api); never written out.
    api_token: str | None = field(default=None, repr=False)
    out_dir: Path = Path("evals/out")
    scenario_dir: Path = SCENARIO_DIR
    thresholds_path: Path = THRESHOLDS_PATH
    compression_ab: bool = True
    show_progress: bool = True
    plots: bool = True

    def context(self, resources: Resources | None = None) -> Context:
        """Return the runtime context every graph run of this eval gets, with ``resources``."""
        return Context(
            llm_provider=self.provider,
            llm_model=self.model,
            llm_base_url=self.base_url,
            llm_api_key=self.api_key,
            resources=resources,
        )


@dataclass
class EvalOutcome:
    """The verdict and where it was written."""

    passed: bool
    results: dict[str, Any]
    out_dir: Path

    @property
    def exit_code(self) -> int:
        """Return 0 when every gated metric is at or above its threshold, else 1."""
        return 0 if self.passed else 1


def load_thresholds(path: Path, provider: str) -> dict[str, float]:
    """Read the gate's floors: ``[gate]``, overridden by ``[provider.<name>]`` when present."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    floors = {k: float(v) for k, v in data.get("gate", {}).items()}
    floors.update({k: float(v) for k, v in data.get("provider", {}).get(provider, {}).items()})
    unknown = set(floors) - set(GATED)
    if unknown:
        raise ValueError(f"{path}: unknown metrics {sorted(unknown)}; known: {list(GATED)}")
    return floors


async def run_scenario(
    driver: Driver, scenario: Scenario, catalog: Catalog, repeat: int
) -> ScenarioRun:
    """Hold the scenario's conversation; a failed turn ends it and fails the turns left."""
    outputs: list[TurnOutput] = []
    conversation: str | None = None
    try:
        conversation = await driver.start()
    except Exception as exc:  # an unreachable API is a result to report, not a crash
        outputs.append(
            TurnOutput(decision=None, error=f"start failed: {type(exc).__name__}: {exc}")
        )
    for turn in scenario.turns[len(outputs) :]:
        if conversation is None or (outputs and outputs[-1].error):
            outputs.append(TurnOutput(decision=None, error="not run: an earlier turn failed"))
            continue
        outputs.append(await driver.send(conversation, turn.user))
    scores = [
        score_turn(o, t.expect, catalog, [q for earlier in outputs[:i] for q in earlier.questions])
        for i, (o, t) in enumerate(zip(outputs, scenario.turns, strict=True))
    ]
    return ScenarioRun(scenario, repeat, outputs, scores)


async def run_many(
    driver: Driver,
    scenarios: Sequence[Scenario],
    catalog: Catalog,
    *,
    repeat: int,
    concurrency: int,
    label: str,
    show_progress: bool,
) -> list[ScenarioRun]:
    """Run every scenario ``repeat`` times, ``concurrency`` conversations at a time."""
    gate = asyncio.Semaphore(max(1, concurrency))
    jobs = [(s, r) for r in range(repeat) for s in scenarios]

    async def one(scenario: Scenario, r: int) -> ScenarioRun:
        async with gate:
            return await run_scenario(driver, scenario, catalog, r)

    runs: list[ScenarioRun] = []
    with tqdm(total=len(jobs), desc=label, unit="conv", disable=not show_progress) as bar:
        for finished in asyncio.as_completed([one(s, r) for s, r in jobs]):
            runs.append(await finished)
            bar.update(1)
    order = {(s.id, r): i for i, (s, r) in enumerate(jobs)}
    return sorted(runs, key=lambda run: order[(run.scenario.id, run.repeat)])


async def _run_plain(
    driver: Driver, scenarios: Sequence[Scenario], catalog: Catalog, config: EvalConfig
) -> list[ScenarioRun]:
    return await run_many(
        driver,
        scenarios,
        catalog,
        repeat=config.repeat,
        concurrency=config.concurrency,
        label="scenarios",
        show_progress=config.show_progress,
    )


async def run_with_fixtures(
    driver: Driver,
    scenarios: Sequence[Scenario],
    catalog: Catalog,
    resources: Resources,
    config: EvalConfig,
) -> list[ScenarioRun]:
    """Run each fixture scenario without, then with, its cards; judge invariance."""
    runs = []
    jobs = [(s, r) for r in range(config.repeat) for s in scenarios]
    with tqdm(
        total=len(jobs), desc="fixtures", unit="conv", disable=not config.show_progress
    ) as bar:
        for scenario, r in jobs:
            baseline = await run_scenario(driver, scenario, catalog, r)
            async with card_fixtures(resources, scenario.fixtures) as models:
                run = await run_scenario(driver, scenario, catalog.with_models(models), r)
            if scenario.invariant:
                run.invariant_ok = [fingerprint(o) for o in baseline.outputs] == [
                    fingerprint(o) for o in run.outputs
                ]
            run.baseline = baseline.outputs
            runs.append(run)
            bar.update(1)
    return runs


async def run_compression_ab(
    scenarios: Sequence[Scenario], catalog: Catalog, resources: Resources, config: EvalConfig
) -> dict[str, Any]:
    """Run the scenarios with the optimizer off and on, once each; compare turn by turn."""
    probe = compression.probe_optimizer()
    if not probe.available or probe.entry is None:
        return {"available": False, "reason": probe.reason}
    saver = await postgres_saver(resources.pool)
    arms = {}
    for arm, node in (
        ("off", compression.passthrough_node()),
        ("on", compression.optimizer_node(probe.entry)),
    ):
        graph = compression.builder_with_optimize(node).compile(checkpointer=saver)
        arms[arm] = await run_many(
            GraphDriver(graph, config.context(resources)),
            scenarios,
            catalog,
            repeat=1,
            concurrency=config.concurrency,
            label=f"A/B {arm}",
            show_progress=config.show_progress,
        )
    rows = []
    for off, on in zip(arms["off"], arms["on"], strict=True):
        for i, (a, b) in enumerate(zip(off.outputs, on.outputs, strict=True)):
            rows.append(
                {
                    "scenario": off.scenario.id,
                    "category": off.scenario.category,
                    "turn": i + 1,
                    **compression.compare_turn(a, b),
                }
            )
    return {
        "available": True,
        "reason": probe.reason,
        "summary": compression.summarize(rows),
        "turns": rows,
    }


async def run_eval(config: EvalConfig, resources: Resources | None = None) -> EvalOutcome:
    """Run the eval and write ``report.md``, ``results.json`` and the plots to ``out_dir``.

    Raises:
        ValueError: If no scenario matches the filters, or the thresholds file is invalid.

    """
    started, wall = time.perf_counter(), datetime.now(UTC)
    floors = load_thresholds(config.thresholds_path, config.provider)
    scenarios = load_scenarios(config.scenario_dir, config.filters)
    if not scenarios:
        raise ValueError(f"no scenario matches {list(config.filters)}")
    catalog = Catalog.load()
    plain = [s for s in scenarios if not s.fixtures]
    fixtured = [s for s in scenarios if s.fixtures]
    notes: list[str] = []
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = round(now - clock, 2)
        clock = now

    runs: list[ScenarioRun] = []
    ab: dict[str, Any] = {"available": False, "reason": "not run (--no-compression-ab)"}
    if config.via_api:
        api = ApiDriver(config.api_url, token=config.api_token)
        try:
            warm = await api.send(await api.start(), WARM_UP_MESSAGE)
            if warm.error:
                notes.append(f"warm-up turn through the API failed: {warm.error}")
        except Exception as exc:  # unreachable: every scenario will say so too
            notes.append(f"the API at {config.api_url} is unreachable: {type(exc).__name__}")
        lap("warm_up")
        try:
            runs += await _run_plain(api, plain, catalog, config)
        finally:
            await api.aclose()
        lap("scenarios")
        if fixtured:
            notes.append(
                f"{len(fixtured)} fixture scenario(s) skipped: --via-api cannot "
                "ingest catalog fixtures into the server's database"
            )
        ab = {"available": False, "reason": "not run through the HTTP API"}
    else:
        if resources is None:
            raise ValueError("running the graph in process needs resources (pool, embedder)")
        graph = await compile_with_postgres(resources.pool)
        graph_driver = GraphDriver(graph, config.context(resources))
        await graph_driver.send(await graph_driver.start(), WARM_UP_MESSAGE)
        lap("warm_up")
        runs += await _run_plain(graph_driver, plain, catalog, config)
        lap("scenarios")
        runs += await run_with_fixtures(graph_driver, fixtured, catalog, resources, config)
        lap("fixtures")
        if config.compression_ab:
            ab = await run_compression_ab(plain, catalog, resources, replace(config, repeat=1))
            lap("compression_ab")
    meta = {
        "provider": "http-api" if config.via_api else config.provider,
        "model": config.model,
        "api_url": config.api_url if config.via_api else None,
        "filters": list(config.filters),
        "repeat": config.repeat,
        "concurrency": config.concurrency,
        "started_at": wall.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 2),
        "phases_s": phases,
        "scenarios": len({run.scenario.id for run in runs}),
        "notes": notes,
    }
    results = build_results(runs, floors, meta, ab)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    (config.out_dir / "results.json").write_text(
        json.dumps(results, indent=1, default=str), encoding="utf-8"
    )
    write_report(results, config.out_dir, plots=config.plots)
    return EvalOutcome(results["gate"]["passed"], results, config.out_dir)
