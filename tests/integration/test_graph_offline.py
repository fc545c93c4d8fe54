"""The five reference conversations, offline, through the Postgres-checkpointed graph."""

import subprocess
import sys
import textwrap
import uuid

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from agents.schemas import DeploymentPlan
from core.db import create_pool
from core.embeddings import LocalEmbedder
from core.resources import Resources
from core.settings import PROJECT_ROOT, Settings
from graph.checkpointer import compile_with_postgres
from graph.context import Context
from tests.stubs.graphs import WithResources

HOURS_PER_MONTH = 730


@pytest.fixture
async def app_graph(pg_url, ingested, embedder):
    settings = Settings(database_url=pg_url, _env_file=None)
    pool = create_pool(pg_url, settings)
    await pool.open()
    try:
        yield WithResources(await compile_with_postgres(pool), Resources(settings, pool, embedder))
    finally:
        await pool.close()


async def _turn(graph, thread_id, text, context=None):
    config = {"configurable": {"thread_id": thread_id}}
    return await graph.ainvoke(
        {"messages": [HumanMessage(text)]}, config, context=context or Context()
    )


def _plan(state) -> DeploymentPlan:
    assert state["decision"] == "plan", state.get("questions")
    return DeploymentPlan.model_validate(state["plan"])


async def test_named_8b_for_a_team_then_rows_say_what_they_deploy_and_models_fit(app_graph):
    text = ("we want to put llama 3.1 8b behind an internal chat tool, maybe 30 people using "
            "it at once, gcp, ideally under 2k a month")

    state = await _turn(app_graph, str(uuid.uuid4()), text)

    plan = _plan(state)
    assert all(g.precision and g.kv_cache_dtype and g.tensor_parallel and g.replicas
               for g in plan.gpu_recommendations)
    int4 = [g for g in plan.gpu_recommendations if g.precision == "int4"]
    assert all(g.build_repo and "AWQ" in g.build_repo for g in int4)
    models = plan.model_recommendations
    assert models[0].model_id == "meta-llama/Llama-3.1-8B-Instruct"
    assert models[0].fit_note.startswith("planned:")
    # Alternatives of the 8B's size class, each marked by whether one L4 instance serves it.
    assert all(m.params_b is not None and m.params_b <= 16.06 for m in models)
    assert all(m.fits_plan_gpus is not None for m in models)
    answer = state["messages"][-1].content
    assert "| weights | KV cache | TP × replicas |" in answer
    assert "on this plan's GPUs" in answer


async def test_llama_70b_inference_then_top_gpu_fits_the_sizing(app_graph):
    state = await _turn(app_graph, str(uuid.uuid4()), "Deploy Llama 3.1 70B for inference")

    plan = _plan(state)
    top = plan.gpu_recommendations[0]
    assert plan.sizing.model_id == "meta-llama/Llama-3.1-70B-Instruct"
    # 141.2e9 bytes in GiB at bf16; fp8 keeps embeddings and LM head 16-bit; AWQ int4 likewise.
    weights = {"bf16": 131.5, "fp8": 67.7, "int4": 37.1}[plan.sizing.precision]
    assert plan.sizing.weights_gb == pytest.approx(weights, abs=0.5)
    assert top.vram_total_gb * 0.9 >= plan.sizing.total_vram_gb
    assert top.price_monthly_usd == pytest.approx(top.price_hourly_usd * HOURS_PER_MONTH, abs=0.01)
    prices = [g.price_monthly_usd for g in plan.gpu_recommendations]
    assert prices == sorted(prices)
    assert plan.model_recommendations[0].model_id == "meta-llama/Llama-3.1-70B-Instruct"
    assert plan.serving_engine == "vLLM"
    assert isinstance(state["messages"][-1], AIMessage)
    assert "| 1 |" in state["messages"][-1].content


async def test_cv_training_on_2000_budget_then_everything_within_budget(app_graph):
    state = await _turn(
        app_graph,
        str(uuid.uuid4()),
        "We need to train a computer vision model for object detection, budget $2,000/month",
    )

    plan = _plan(state)
    assert plan.gpu_recommendations
    assert all(g.price_monthly_usd <= 2000 for g in plan.gpu_recommendations)
    assert plan.cost_estimate.total_monthly_usd <= 2000
    assert plan.cost_estimate.within_budget is True
    assert plan.serving_engine == "training stack"


async def test_sdxl_serving_then_text_to_image_models_and_a_fitting_gpu(app_graph):
    state = await _turn(app_graph, str(uuid.uuid4()), "Set up Stable Diffusion XL serving")

    plan = _plan(state)
    tags = {m.pipeline_tag for m in plan.model_recommendations}
    assert tags == {"text-to-image"}
    assert plan.model_recommendations[0].model_id == "stabilityai/stable-diffusion-xl-base-1.0"
    assert plan.gpu_recommendations[0].vram_total_gb * 0.9 >= plan.sizing.total_vram_gb


async def test_fine_tuning_7b_with_mlflow_then_mlflow_chart_and_lora_sizing(app_graph):
    state = await _turn(
        app_graph,
        str(uuid.uuid4()),
        "Fine-tune a 7B model with LoRA and track experiments with MLflow",
    )

    plan = _plan(state)
    assert "mlflow" in [c.chart for c in plan.kubernetes_stack]
    # Full fine-tuning of 7B with Adam needs ~16 bytes/param (>110 GB); LoRA keeps the base frozen.
    assert plan.sizing is not None and plan.sizing.total_vram_gb < 40
    assert state["spec"]["model_needs"]["fine_tuning_method"] == "lora"


async def test_vague_request_then_questions_and_a_plan_after_the_answer(app_graph):
    thread = str(uuid.uuid4())

    first = await _turn(app_graph, thread, "I want to deploy AI")
    second = await _turn(app_graph, thread, "A Llama 3.1 8B chatbot for 20 users on AWS")

    assert first["decision"] == "clarify"
    assert 1 <= len(first["questions"]) <= 3
    assert first["messages"][-1].content.startswith("A few questions")
    plan = _plan(second)
    assert all(g.provider == "aws" for g in plan.gpu_recommendations)
    assert second["clarification_rounds"] == 1
    assert len(second["messages"]) == 4


async def test_later_message_overrides_budget_then_plan_uses_latest(app_graph):
    thread = str(uuid.uuid4())
    await _turn(app_graph, thread, "Serve Mistral 7B for 10 users on GCP, budget $300/month")

    state = await _turn(app_graph, thread, "actually make that $3k")

    assert state["spec"]["budget_monthly_usd"] == 3000
    assert state["spec"]["providers"] == ["gcp"]


async def test_impossible_budget_then_plan_says_so_and_shows_cheapest_fit(app_graph):
    state = await _turn(
        app_graph, str(uuid.uuid4()), "Serve Llama 3.1 70B to 50 users on AWS for $300/month"
    )

    plan = _plan(state)
    assert any("nothing fits" in w for w in plan.warnings)
    assert plan.gpu_recommendations and plan.gpu_recommendations[0].provider == "aws"
    assert plan.cost_estimate.within_budget is False


async def test_thread_resumed_in_a_new_process_then_conversation_continues(app_graph, pg_url):
    thread = str(uuid.uuid4())
    script = textwrap.dedent(
        f"""
        import asyncio
        from langchain_core.messages import HumanMessage
        from core.db import create_pool
        from core.embeddings import LocalEmbedder
        from core.resources import Resources
        from core.settings import Settings
        from graph.checkpointer import compile_with_postgres
        from graph.context import Context

        async def main():
            settings = Settings(database_url={pg_url!r}, _env_file=None)
            pool = create_pool({pg_url!r}, settings)
            await pool.open()
            context = Context(resources=Resources(settings, pool, LocalEmbedder()))
            graph = await compile_with_postgres(pool)
            await graph.ainvoke({{"messages": [HumanMessage("I want to deploy AI")]}},
                                {{"configurable": {{"thread_id": {thread!r}}}}}, context=context)
            await pool.close()

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]

    state = await _turn(app_graph, thread, "Serve Qwen2.5 7B Instruct for 5 users")

    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    assert state["clarification_rounds"] == 1
    assert state["decision"] == "plan"


async def test_byok_key_in_context_then_in_no_checkpoint_table(app_graph, db):
    sentinel = "sk-SENTINEL-" + uuid.uuid4().hex
    thread = str(uuid.uuid4())

    await _turn(app_graph, thread, "Deploy Llama 3.1 8B for 5 users", Context(llm_api_key=sentinel))

    tables = db.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not in ('pg_catalog', 'information_schema')"
    ).fetchall()
    for row in tables:
        hits = db.execute(
            f'select count(*) as n from "{row["table_schema"]}"."{row["table_name"]}" t '
            "where position(%s in t::text) > 0",
            (sentinel,),
        ).fetchone()
        assert hits["n"] == 0, row
    assert LocalEmbedder  # the embedder class is shared with the subprocess test above


async def test_resources_in_context_then_in_no_checkpoint_table_nor_its_repr(app_graph, db):
    sentinel = "RESOURCES-SENTINEL-" + uuid.uuid4().hex
    shared = app_graph.resources
    resources = Resources(shared.settings, shared.pool, shared.embedder, {"sentinel": sentinel})
    context = Context(request_id="r1", resources=resources)
    thread = str(uuid.uuid4())

    await _turn(app_graph, thread, "Deploy Llama 3.1 8B for 5 users", context)

    stored = db.execute(
        "select (select count(*) from checkpoints c where c.thread_id = %(t)s"
        "  and position(%(s)s in c::text) > 0)"
        " + (select count(*) from checkpoint_writes w where w.thread_id = %(t)s"
        "  and position(%(s)s in encode(w.blob, 'escape')) > 0)"
        " + (select count(*) from checkpoint_blobs b where b.thread_id = %(t)s"
        "  and position(%(s)s in encode(b.blob, 'escape')) > 0) as n,"
        " (select count(*) from checkpoints where thread_id = %(t)s) as checkpoints",
        {"t": thread, "s": sentinel},
    ).fetchone()
    assert stored["checkpoints"] > 0 and stored["n"] == 0
    assert sentinel not in repr(context) and "pool" not in repr(context)
