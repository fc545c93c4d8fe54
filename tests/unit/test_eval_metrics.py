import pytest

from evals.catalog import Catalog
from evals.metrics import (
    ScoredTurn,
    TurnOutput,
    aggregate,
    check_thresholds,
    percentile,
    score_turn,
    trajectory_ok,
    values_equal,
)
from evals.scenario import PlanExpectation, ToolExpectation, TurnExpectation


@pytest.fixture(scope="module")
def catalog():
    return Catalog.load()


PLAN_TOOLS = [
    "local_cluster",
    "vram_sizing",
    "compute_search",
    "hf_model_search",
    "k8s_chart_search",
]


def _plan(**overrides):
    plan = {
        "understanding": "x",
        "gpu_recommendations": [
            {
                "provider": "aws",
                "instance_type": "g6e.xlarge",
                "region": "us-east-1",
                "gpu_model": "L40S",
                "gpu_count": 1,
                "vram_total_gb": 44.7,
                "price_hourly_usd": 1.861,
                "price_monthly_usd": 1358.53,
                "why": "x",
            }
        ],
        "model_recommendations": [
            {
                "model_id": "meta-llama/Llama-3.1-8B-Instruct",
                "license": "llama3.1",
                "score": 1,
                "pipeline_tag": "text-generation",
                "why": "x",
            }
        ],
        "kubernetes_stack": [{"chart": "vllm-stack", "version": "0.1.12", "purpose": "x"}],
        "serving_engine": "vLLM",
        "cost_estimate": {
            "compute_monthly_usd": 1358.53,
            "storage_monthly_usd": 8.0,
            "network_monthly_usd": 45.0,
            "total_monthly_usd": 1411.53,
            "within_budget": None,
        },
    }
    plan.update(overrides)
    return plan


SPEC = {
    "task_type": "inference",
    "domain": "vision",
    "gpu_needed": True,
    "providers": ["aws"],
    "model_needs": {"named_models": []},
    "scale": {},
}


@pytest.mark.parametrize(
    ("actual", "expected", "equal"),
    [
        (["gcp", "aws"], ["aws", "gcp"], True),
        (["aws"], ["aws", "gcp"], False),
        (3000.0, 3000, True),
        (None, None, True),
        (0, None, False),
        (True, True, True),
        ("LoRA", "lora", True),
        (None, ["aws"], False),
    ],
)
def test_values_equal_then_lists_as_sets_numbers_with_tolerance(actual, expected, equal):
    assert values_equal(actual, expected) is equal


def test_trajectory_subset_and_ordered_modes():
    calls = ["local_cluster", "vram_sizing", "compute_search", "compute_search"]

    assert trajectory_ok(calls, ToolExpectation(names=["compute_search", "vram_sizing"]))
    assert trajectory_ok(
        calls,
        ToolExpectation(mode="ordered", names=["vram_sizing", "compute_search", "compute_search"]),
    )
    assert not trajectory_ok(
        calls, ToolExpectation(mode="ordered", names=["compute_search", "vram_sizing"])
    )
    assert not trajectory_ok(calls, ToolExpectation(names=["hf_model_search"]))


def test_clarify_turn_then_questions_counted_and_no_tools_expected(catalog):
    output = TurnOutput(
        decision="clarify", questions=["a?", "b?"], spec={"domain": None}, trajectory=[]
    )

    score = score_turn(output, TurnExpectation(decision="clarify", spec={"domain": None}), catalog)

    assert score.passed
    assert score.decision_ok and score.questions_ok and score.tools_ok


def test_clarify_turn_with_four_questions_then_fails(catalog):
    output = TurnOutput(decision="clarify", questions=["?"] * 4, trajectory=[])

    score = score_turn(output, TurnExpectation(decision="clarify"), catalog)

    assert not score.passed and "number of questions" in score.failures()


def test_plan_turn_then_grounded_oracle_and_default_tools_scored(catalog):
    output = TurnOutput(decision="plan", spec=SPEC, plan=_plan(), trajectory=PLAN_TOOLS)

    score = score_turn(output, TurnExpectation(decision="plan"), catalog)

    assert score.tools_ok is True
    assert all(c.passed for c in score.grounded)
    assert score.oracle is not None


def test_plan_turn_missing_the_model_search_then_trajectory_fails(catalog):
    output = TurnOutput(decision="plan", spec=SPEC, plan=_plan(), trajectory=["compute_search"])

    score = score_turn(output, TurnExpectation(decision="plan"), catalog)

    assert score.tools_ok is False


def test_plan_naming_an_unknown_chart_and_model_then_not_grounded(catalog):
    plan = _plan(
        kubernetes_stack=[{"chart": "mega-chart", "version": "1", "purpose": "x"}],
        model_recommendations=[{"model_id": "acme/none", "score": 1, "why": "x"}],
    )

    score = score_turn(TurnOutput(decision="plan", spec=SPEC, plan=plan), None, catalog)

    assert {c.name for c in score.grounded if not c.passed} == {"chart", "model"}


def test_constraints_then_each_one_checked(catalog):
    expected = PlanExpectation(
        providers=["gcp"],
        charts_include=["milvus"],
        charts_exclude=["vllm-stack"],
        serving_engine="TEI",
        license_allow=["apache-2.0"],
        model_pipeline_tags=["text-to-image"],
        max_gpus_per_instance=0,
        gpu_free=True,
        warnings_include=["budget"],
        response_excludes=["forbidden"],
        within_budget=True,
        min_gpu_recommendations=2,
        model_family="qwen",
        models_include=["Qwen/Qwen2.5-7B-Instruct"],
    )
    output = TurnOutput(decision="plan", spec=SPEC, plan=_plan(), response="a forbidden word")

    score = score_turn(output, TurnExpectation(decision="plan", plan=expected), catalog)

    failed = {c.name for c in score.constraints if not c.passed}
    assert failed == {
        "providers",
        "charts_include",
        "charts_exclude",
        "serving_engine",
        "license",
        "model_pipeline_tags",
        "max_gpus_per_instance",
        "gpu_free",
        "warnings_include",
        "response_excludes",
        "within_budget",
        "min_gpu_recommendations",
        "model_family",
        "models_include",
    }


def test_errored_turn_then_every_expected_field_fails(catalog):
    output = TurnOutput(decision=None, error="boom")
    expected = TurnExpectation(decision="plan", spec={"domain": "llm"}, plan=PlanExpectation())

    score = score_turn(output, expected, catalog)

    assert score.failures()[:2] == ["decision", "spec.domain"]
    assert score.constraints[0].name == "plan"


def _scored(decision, expected, questions=(), known=False, latency=0.1):
    output = TurnOutput(
        decision=decision, questions=list(questions), trajectory=[], latency_s=latency
    )
    score = score_turn(output, TurnExpectation(decision=expected), Catalog.load())
    return ScoredTurn("s", "c", known, output, score)


def test_aggregate_then_precision_recall_of_asking():
    turns = [
        _scored("clarify", "clarify", ["q"]),  # tp
        _scored("clarify", "plan", ["q"]),  # fp
        _scored("plan", "clarify"),  # fn
        _scored("plan", "plan"),  # tn
        _scored("plan", "plan"),  # tn
    ]

    metrics = aggregate(turns)

    assert metrics["clarify_confusion"] == {"tp": 1, "fp": 1, "fn": 1, "tn": 2}
    assert metrics["clarify_precision"] == pytest.approx(0.5)
    assert metrics["clarify_recall"] == pytest.approx(0.5)
    assert metrics["clarify_accuracy"] == pytest.approx(0.6)
    assert metrics["questions_mean"] == pytest.approx(1.0)


def test_thresholds_then_unmeasured_metrics_not_gated():
    rows = check_thresholds({"oracle": 0.9, "invariance": None}, {"oracle": 1.0, "invariance": 1.0})

    assert rows == [("oracle", 0.9, 1.0, False), ("invariance", None, 1.0, True)]


def test_percentile_then_linear_interpolation():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([], 95) is None
