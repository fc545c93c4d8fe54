"""The agents' LLM paths with a scripted fake chat model: no database, no HTTP."""

from langchain_core.messages import HumanMessage
from langchain_core.tools import tool

from agents.architect import MAX_CALLS_PER_STEP, model_plan, model_step, reconcile_with_tools
from agents.offline_extractor import ModelIndex
from agents.requirements import RequirementsAnswer, run_requirements
from agents.schemas import (
    CostEstimate,
    DeploymentPlan,
    GpuRecommendation,
    SizingSummary,
    WorkloadSpec,
)
from agents.vocabulary import Vocabulary
from tests.stubs.fake_chat import ScriptedChatModel
from tests.stubs.script import PlannerScript, Reply, call

VOCABULARY = Vocabulary(
    ModelIndex.from_ids(["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct"]),
    frozenset({"us-east-1"}),
)
PLANNABLE = {
    "spec": {
        "task_type": "inference",
        "domain": "llm",
        "gpu_needed": True,
        "model_needs": {"named_models": ["Llama 3.1 8B", "GPT-17-Ultra"]},
    },
    "decision": "plan",
}


@tool
def local_cluster() -> str:
    """Report the cluster."""
    return "none"


def _model(requirements):
    return ScriptedChatModel(script=PlannerScript(requirements=requirements))


async def test_model_reading_then_named_models_grounded_in_the_catalog():
    decision = await run_requirements(
        [HumanMessage("Llama 3.1 8B please")],
        rounds=0,
        vocabulary=VOCABULARY,
        chat_model=_model(PLANNABLE),
    )

    assert decision.action == "plan"
    assert decision.spec.model_needs.named_models == ["meta-llama/Llama-3.1-8B-Instruct"]
    assert any("GPT-17-Ultra is not in the model catalog" in a for a in decision.spec.assumptions)


async def test_model_reads_only_a_domain_then_rules_infer_the_rest_and_plan():
    answer = {"spec": {"domain": "llm"}, "decision": "plan"}

    decision = await run_requirements(
        [HumanMessage("llm")], rounds=0, vocabulary=VOCABULARY, chat_model=_model(answer)
    )

    assert decision.action == "plan"
    assert (decision.spec.task_type, decision.spec.gpu_needed) == ("inference", True)
    assert decision.spec.model_needs.size_billion_params == 8
    assert any("no model named" in a for a in decision.spec.assumptions)


async def test_model_says_plan_without_a_domain_then_rules_ask():
    answer = {"spec": {}, "decision": "plan"}

    decision = await run_requirements(
        [HumanMessage("hm")], rounds=0, vocabulary=VOCABULARY, chat_model=_model(answer)
    )

    assert decision.action == "clarify"
    assert 1 <= len(decision.questions) <= 3


async def test_model_repeats_a_question_already_asked_then_the_rules_rephrase_it():
    asked = ["What kind of workload is it?"]
    answer = {"spec": {}, "decision": "clarify", "questions": ["What kind of workload is it?"]}

    decision = await run_requirements(
        [HumanMessage("hm")],
        rounds=1,
        vocabulary=VOCABULARY,
        chat_model=_model(answer),
        asked=asked,
    )

    assert decision.action == "clarify" and decision.questions
    assert not set(decision.questions) & set(asked)


async def test_model_says_clarify_with_four_questions_then_three_kept():
    answer = {"spec": {}, "decision": "clarify", "questions": ["a?", "b?", "c?", "d?"]}

    decision = await run_requirements(
        [HumanMessage("hm")], rounds=0, vocabulary=VOCABULARY, chat_model=_model(answer)
    )

    assert decision.questions == ("a?", "b?", "c?")


async def test_model_says_clarify_after_rounds_spent_then_plan_with_assumptions():
    answer = {"spec": {}, "decision": "clarify", "questions": ["again?"]}

    decision = await run_requirements(
        [HumanMessage("hm")], rounds=2, vocabulary=VOCABULARY, chat_model=_model(answer)
    )

    assert decision.action == "plan"
    assert decision.spec.task_type == "inference"


async def test_requirements_prompt_then_system_first_and_rounds_stated():
    model = _model(PLANNABLE)

    await run_requirements(
        [HumanMessage("Llama 3.1 8B")], rounds=1, vocabulary=VOCABULARY, chat_model=model
    )

    messages = model.requests[0]["messages"]
    assert messages[0]["role"] == "system"
    assert "1 of 2" in messages[0]["content"]
    assert messages[1] == {"role": "user", "content": "Llama 3.1 8B"}


def test_requirements_answer_schema_then_strict_spec():
    schema = RequirementsAnswer.model_json_schema()

    assert schema["$defs"]["WorkloadSpec"]["additionalProperties"] is False


async def test_model_step_then_a_user_turn_precedes_the_scratchpad():
    model = ScriptedChatModel(script=lambda _: Reply(tool_calls=[call("local_cluster", {}, "c1")]))

    reply = await model_step(model, [local_cluster], WorkloadSpec(domain="llm"), [])

    roles = [m["role"] for m in model.requests[0]["messages"]]
    assert roles == ["system", "user"]
    assert '"domain": "llm"' in model.requests[0]["messages"][0]["content"]
    assert [c["name"] for c in reply.tool_calls] == ["local_cluster"]


async def test_model_step_with_too_many_calls_then_capped():
    calls = [call("local_cluster", {}, f"c{i}") for i in range(MAX_CALLS_PER_STEP + 5)]
    model = ScriptedChatModel(script=lambda _: Reply(tool_calls=calls))

    reply = await model_step(model, [local_cluster], WorkloadSpec(), [])

    assert len(reply.tool_calls) == MAX_CALLS_PER_STEP


async def test_model_plan_then_structured_plan_after_synthesis_prompt():
    model = ScriptedChatModel(
        script=lambda _: Reply(tool_calls=[call("DeploymentPlan", {"understanding": "x"})])
    )

    plan = await model_plan(model, WorkloadSpec(), [])

    assert plan.understanding == "x"
    last = model.requests[0]["messages"][-1]
    assert last["role"] == "user" and "Write the DeploymentPlan" in last["content"]


def _sizing(total):
    return SizingSummary(
        precision="bf16",
        weights_gb=total - 1,
        kv_cache_gb=0.5,
        overhead_gb=0.5,
        total_vram_gb=total,
        tensor_parallel=1,
        per_gpu_gb=total,
    )


def test_reconcile_then_tool_sizing_and_rejections_win():
    model = DeploymentPlan(understanding="m", sizing=_sizing(3.0), rejected_summary={"x": 1})
    template = DeploymentPlan(
        understanding="t",
        sizing=_sizing(20.0),
        rejected_summary={"model does not fit": 9},
        serving_engine="vLLM",
        serving_engine_why="batching",
    )

    plan = reconcile_with_tools(model, template)

    assert plan.sizing.total_vram_gb == 20.0
    assert plan.rejected_summary == {"model does not fit": 9}
    assert plan.serving_engine == "vLLM"
    assert plan.understanding == "m"
    assert any("corrected the sizing from 3 GB" in w for w in plan.warnings)


def _option(instance_type, **fields):
    return GpuRecommendation(
        provider="gcp", instance_type=instance_type, region="us-east4", gpu_model="L4",
        gpu_count=1, vram_total_gb=24, price_hourly_usd=0.7, price_monthly_usd=511.0, why="x",
        **fields,
    )


def test_reconcile_then_each_option_deploys_what_the_search_chose_for_its_instance():
    searched = _option("g2-standard-4", precision="fp8", kv_cache_dtype="fp8",
                       tensor_parallel=1, replicas=2)
    model = DeploymentPlan(understanding="m", gpu_recommendations=[
        _option("g2-standard-4", precision="bf16", tensor_parallel=4, replicas=9),
        _option("g2-standard-8", precision="int4", build_repo="someone/made-up-awq"),
    ])
    template = DeploymentPlan(understanding="t", gpu_recommendations=[searched])

    plan = reconcile_with_tools(model, template)

    first, second = plan.gpu_recommendations
    assert (first.precision, first.kv_cache_dtype, first.tensor_parallel, first.replicas) == (
        "fp8", "fp8", 1, 2)
    # An instance the search did not configure states nothing it could not check.
    assert (second.precision, second.build_repo, second.tensor_parallel) == (None, None, None)


def test_reconcile_training_run_then_the_tools_job_cost_with_its_work_is_kept():
    job = {"kind": "training", "gpu_hours": 2.5, "wall_clock_hours": 3.0, "total_usd": 2.43,
           "fixed_hours": 0.5, "dense_tflop_hours": 304.5, "formula": "4·N·D"}
    template = DeploymentPlan(understanding="t", cost_estimate=CostEstimate(
        period="run", compute_monthly_usd=2.43, storage_monthly_usd=0.26,
        network_monthly_usd=0.0, total_monthly_usd=2.69, job=job))
    model = DeploymentPlan(understanding="m", cost_estimate=CostEstimate(
        compute_monthly_usd=1358.53, storage_monthly_usd=8.0, network_monthly_usd=45.0,
        total_monthly_usd=1411.53))

    plan = reconcile_with_tools(model, template)

    assert plan.cost_estimate is not None and plan.cost_estimate.period == "run"
    assert plan.cost_estimate.job is not None and plan.cost_estimate.job.dense_tflop_hours == 304.5
