"""The eval's table checks: rows that say what they deploy, alternatives that fit or say not."""

import pytest

from agents.render import render_plan
from agents.schemas import DeploymentPlan
from evals.catalog import Catalog
from evals.table_checks import gpu_rows_configured, markdown_table, models_fit_or_labelled

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA2_70B = "meta-llama/Llama-2-70b-chat-hf"
INT4_BUILD = "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"


@pytest.fixture(scope="module")
def catalog():
    return Catalog.load()


def _plan(gpu_fields=None, models=()):
    return DeploymentPlan.model_validate({
        "understanding": "x",
        "sizing": {"model_id": LLAMA_8B, "precision": "fp8", "weights_gb": 8.5,
                   "kv_cache_gb": 1.2, "overhead_gb": 2.1, "total_vram_gb": 11.7,
                   "tensor_parallel": 1, "per_gpu_gb": 11.7, "context_length": 4096},
        "gpu_recommendations": [{
            "provider": "gcp", "instance_type": "g2-standard-4", "region": "us-east4",
            "gpu_model": "L4", "gpu_count": 1, "vram_total_gb": 24, "price_hourly_usd": 0.7046,
            "price_monthly_usd": 514.36, "instances": 2, "why": "x", **(gpu_fields or {}),
        }],
        "model_recommendations": [
            {"model_id": model_id, "params_b": params, "score": 0.7, "why": "x", **fields}
            for model_id, params, fields in models
        ],
    })


CONFIGURED = {"precision": "fp8", "kv_cache_dtype": "fp8", "tensor_parallel": 1, "replicas": 2}


def test_rows_when_each_states_build_kv_and_tp_x_replicas_in_the_table_then_pass():
    plan = _plan(CONFIGURED)

    assert gpu_rows_configured(plan, render_plan(plan)).passed


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, "weights precision None"),
        ({**CONFIGURED, "replicas": 3}, "TP 1 × 3 replicas"),  # 3 engines on 2 GPUs
        ({**CONFIGURED, "precision": "int4"}, "names no published 4-bit build"),
        ({**CONFIGURED, "build_repo": LLAMA_8B}, "though it is the base model"),
    ],
)
def test_rows_when_a_row_misstates_what_it_deploys_then_fail(fields, problem):
    plan = _plan(fields)

    check = gpu_rows_configured(plan, render_plan(plan))

    assert not check.passed and problem in check.detail


def test_rows_when_the_answer_table_leaves_the_configuration_out_then_fail():
    plan = _plan({**CONFIGURED, "precision": "int4", "build_repo": INT4_BUILD})
    answer = render_plan(plan).replace(f" ({INT4_BUILD})", "")

    check = gpu_rows_configured(plan, answer)

    assert not check.passed and "table says weights 'int4'" in check.detail


def test_models_when_a_70b_alternative_to_an_8b_on_one_l4_is_unmarked_then_fail(catalog):
    plan = _plan(CONFIGURED, [(LLAMA_8B, 8.03, {}), (LLAMA2_70B, 69.0, {})])

    check = models_fit_or_labelled(plan, [LLAMA_8B], render_plan(plan), catalog)

    assert not check.passed and LLAMA2_70B in check.detail


def test_models_when_the_70b_is_marked_as_needing_bigger_gpus_then_pass(catalog):
    needs = {"fits_plan_gpus": False, "fit_note": "needs bigger GPUs: 70.3 GiB a GPU"}
    plan = _plan(CONFIGURED, [(LLAMA_8B, 8.03, {}), (LLAMA2_70B, 69.0, needs)])

    assert models_fit_or_labelled(plan, [LLAMA_8B], render_plan(plan), catalog).passed


def test_models_when_a_70b_is_claimed_to_fit_one_l4_then_fail(catalog):
    fits = {"fits_plan_gpus": True, "fit_note": "fits: fp8, TP 1"}
    plan = _plan(CONFIGURED, [(LLAMA2_70B, 69.0, fits)])

    check = models_fit_or_labelled(plan, [LLAMA_8B], render_plan(plan), catalog)

    assert not check.passed and "marked as fitting L4" in check.detail


def test_markdown_table_then_rows_by_header_under_the_heading():
    answer = "## Plan\n\n### Models\n\n| model | task |\n|---|---|\n| a | chat |\n\ntext\n"

    assert markdown_table(answer, "Models") == [{"model": "a", "task": "chat"}]
    assert markdown_table(answer, "GPU instances") == []
