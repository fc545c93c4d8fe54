"""The eval harness end to end: the offline scenarios through the real graph and Postgres."""

import json

import pytest

import tools.compute
from core.db import create_pool
from core.resources import Resources
from core.settings import Settings
from evals.compression import probe_optimizer
from evals.run import EvalConfig, run_eval

pytestmark = pytest.mark.integration


@pytest.fixture
async def resources(pg_url, ingested, embedder):
    settings = Settings(database_url=pg_url, _env_file=None)
    pool = create_pool(pg_url, settings)
    await pool.open()
    try:
        yield Resources(settings, pool, embedder)
    finally:
        await pool.close()


def _config(tmp_path, **changes):
    base = {"out_dir": tmp_path, "show_progress": False, "compression_ab": False}
    return EvalConfig(**{**base, **changes})


async def test_full_offline_set_then_every_gated_threshold_holds(resources, tmp_path, db):
    outcome = await run_eval(_config(tmp_path), resources)

    results = json.loads((tmp_path / "results.json").read_text())
    failing = [row for row in results["gate"]["thresholds"] if not row["ok"]]
    assert outcome.passed and outcome.exit_code == 0, failing
    assert results["meta"]["scenarios"] >= 40
    gate = results["gate"]["metrics"]
    assert gate["spec_accuracy"] >= 0.95
    assert gate["clarify_accuracy"] == gate["groundedness"] == gate["oracle"] == 1.0
    assert gate["invariance"] == 1.0  # the injected card did not change the plan
    assert (tmp_path / "report.md").read_text().startswith("# Stack8s eval: offline")
    evil = db.execute("select 1 from hf.models where model_id = 'evil/jailbreak-7b'").fetchone()
    assert evil is None  # the card fixture was removed after its scenarios


async def test_ranking_sorted_by_price_descending_then_the_oracle_fails(
    resources, tmp_path, monkeypatch
):
    original = tools.compute.build_search_sql
    cheapest_first = "order by price, vram desc, gpus desc"

    def most_expensive_first(query, fit):
        sql = original(query, fit)
        assert sql.count(cheapest_first) == 1
        return sql.replace(cheapest_first, "order by price desc, vram desc, gpus desc")

    monkeypatch.setattr(tools.compute, "build_search_sql", most_expensive_first)
    config = _config(tmp_path, filters=("ref-*", "vision-flux-azure"), plots=False)

    outcome = await run_eval(config, resources)

    gate = outcome.results["gate"]
    assert not outcome.passed and outcome.exit_code == 1
    assert [r["ok"] for r in gate["thresholds"] if r["metric"] == "oracle"] == [False]
    # The validator re-sorts what the search returned, so the plan still looks ordered: only
    # a scan of the catalog shows that cheaper instances that fit were never considered.
    # (Language-model plans come from the configuration search instead: tests/unit/test_search.)
    by_id = {s["id"]: s for s in outcome.results["scenarios"]}
    for scenario_id in ("ref-sdxl-serving", "vision-flux-azure"):
        failures = by_id[scenario_id]["turns"][0]["failures"]
        assert any(f.startswith("oracle:cheapest") for f in failures), failures
        assert not any(f.startswith("oracle:order") for f in failures)


async def test_compression_ab_then_reported_or_said_unavailable(resources, tmp_path):
    config = _config(tmp_path, filters=("refine-budget-raised",), compression_ab=True, plots=False)

    outcome = await run_eval(config, resources)

    ab = outcome.results["compression"]
    if probe_optimizer().available:
        assert ab["available"] and ab["summary"]["errors"] == 0
        assert ab["summary"]["turns"] == 2 and ab["summary"]["fidelity"] is not None
    else:
        assert not ab["available"] and "optimizer not available" in ab["reason"]


@pytest.fixture
def api_url(pg_url, ingested):
    from api.app import create_app
    from tests.support.live_server import serve_asgi

    app = create_app(Settings(database_url=pg_url, auth_enabled=False, _env_file=None))
    with serve_asgi(app) as url:
        yield url


async def test_via_api_then_the_same_scenarios_score_through_http(api_url, tmp_path):
    config = _config(tmp_path, filters=("fast",), via_api=True, api_url=api_url, plots=False)

    outcome = await run_eval(config)

    gate = outcome.results["gate"]
    failing = [row for row in gate["thresholds"] if not row["ok"]]
    assert outcome.passed, (
        failing,
        [s["turns"][-1]["failures"] for s in outcome.results["scenarios"]],
    )
    assert gate["metrics"]["trajectory"] is None  # the API does not show tool calls
    assert gate["metrics"]["oracle_plans"] > 10 and gate["metrics"]["spec_accuracy"] == 1.0
    assert outcome.results["meta"]["provider"] == "http-api"


async def test_openai_compatible_provider_then_tokens_counted_and_plan_rechecked(
    resources, tmp_path, adb
):
    from tests.stubs.openai_stub import running_stub
    from tests.stubs.scenario import REQUEST, cheapest_fit, gpu, plan_args, planner

    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "llm.yaml").write_text(
        "- id: stub-llama\n  category: llm\n  turns:\n"
        f"    - user: {REQUEST}\n"
        "      expect: {decision: plan, spec: {providers: [aws]}, plan: {providers: [aws]}}\n"
    )
    instance = await cheapest_fit(adb)
    with running_stub() as stub:
        stub.reset(planner(plan_args([gpu(instance)])))
        config = _config(
            tmp_path / "out",
            provider="openai_compatible",
            base_url=stub.base_url,
            scenario_dir=scenarios,
            plots=False,
        )

        outcome = await run_eval(config, resources)

    metrics = outcome.results["all"]["metrics"]
    turn = outcome.results["scenarios"][0]["turns"][0]
    assert turn["decision"] == "plan" and turn["error"] is None
    assert metrics["tokens_total"] > 0 and metrics["latency_p50_s"] > 0
    assert {"vram_sizing", "compute_search"} <= set(turn["trajectory"])
    assert metrics["groundedness"] == 1.0 and metrics["oracle_plans"] == 1
