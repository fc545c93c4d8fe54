import pytest

from agents.offline_extractor import merge_readings, read_message, to_spec
from agents.reading.vocabulary import Vocabulary
from agents.requirements_rules import MAX_QUESTIONS, decide
from core.catalog_files import DATA_DIR
from tools.catalog import catalog_facts_from_files


@pytest.fixture(scope="module")
def catalog():
    return Vocabulary.from_facts(catalog_facts_from_files(DATA_DIR))


def _spec(catalog, *messages):
    return to_spec(merge_readings(read_message(m, catalog) for m in messages))


def test_extract_when_request_is_complete_then_every_stated_field_read(catalog):
    spec = _spec(
        catalog,
        "I need to serve Llama 3.1 70B to 50 concurrent users, under $6k/month, on AWS or GCP",
    )

    assert spec.task_type == "inference" and spec.domain == "llm"
    assert spec.model_needs.named_models == ["meta-llama/Llama-3.1-70B-Instruct"]
    assert spec.scale.concurrent_users == 50
    assert spec.budget_monthly_usd == 6000
    assert spec.providers == ["aws", "gcp"]


@pytest.mark.parametrize(
    ("text", "budget"),
    [
        ("budget is $6k", 6000),
        ("we can spend 6,000 USD/month", 6000),
        ("no more than $2,500 per month", 2500),
        ("we can spend about $3/hour", 2190),
        ("$24k per year", 2000),
    ],
)
def test_extract_budget_when_written_with_units_then_monthly_dollars(catalog, text, budget):
    assert _spec(catalog, text).budget_monthly_usd == pytest.approx(budget)


def test_extract_when_a_price_is_quoted_in_passing_then_not_a_budget(catalog):
    spec = _spec(catalog, "The T4 box is $0.53/hour, which seems fine for Whisper")

    assert spec.budget_monthly_usd is None


def test_extract_when_later_message_corrects_a_value_then_latest_wins(catalog):
    spec = _spec(
        catalog,
        "Serve Mistral 7B with 8k context on AWS, budget $6k/month",
        "actually make that $8k, and GCP only",
    )

    assert spec.budget_monthly_usd == 8000
    assert spec.providers == ["gcp"]
    assert spec.scale.context_length == 8192


def test_extract_numbers_with_units_then_scale_fields(catalog):
    spec = _spec(catalog, "Qwen2.5 7B Instruct, 20 rps, 32k context, 80GB GPUs, in us-east-1")

    assert spec.scale.requests_per_second == 20
    assert spec.scale.context_length == 32768
    assert spec.min_vram_gb == 80
    assert spec.regions == ["us-east-1"]
    assert spec.model_needs.named_models == ["Qwen/Qwen2.5-7B-Instruct"]


def test_extract_sdxl_then_image_generation_with_the_catalog_model(catalog):
    spec = _spec(catalog, "Set up Stable Diffusion XL serving")

    assert spec.domain == "image_generation"
    assert spec.model_needs.named_models == ["stabilityai/stable-diffusion-xl-base-1.0"]


def test_decide_when_request_is_vague_then_one_to_three_questions(catalog):
    decision = decide(_spec(catalog, "I want to deploy AI"), clarification_rounds=0)

    assert decision.action == "clarify"
    assert 1 <= len(decision.questions) <= MAX_QUESTIONS
    assert decision.spec.confidence == "low"


def test_decide_after_two_rounds_then_plans_with_stated_assumptions(catalog):
    decision = decide(_spec(catalog, "I want to deploy AI"), clarification_rounds=2)

    assert decision.action == "plan"
    assert decision.spec.domain == "llm" and decision.spec.gpu_needed is True
    assert any("after two rounds" in a for a in decision.spec.assumptions)


def test_decide_fine_tuning_a_7b_model_then_plans_as_llm_with_lora(catalog):
    spec = _spec(catalog, "Fine-tune a 7B model with LoRA and track experiments in MLflow")

    decision = decide(spec, clarification_rounds=0)

    assert decision.action == "plan"
    assert decision.spec.task_type == "fine_tuning" and decision.spec.domain == "llm"
    assert decision.spec.model_needs.fine_tuning_method == "lora"
    assert decision.spec.kubernetes_needs == ["mlflow"]


def test_decide_cpu_only_request_then_no_gpu(catalog):
    spec = _spec(catalog, "Serve a sentence embedding model for semantic search, CPU only")

    decision = decide(spec, clarification_rounds=0)

    assert decision.action == "plan"
    assert decision.spec.gpu_needed is False and decision.spec.domain == "embeddings"


def test_extract_when_a_named_model_says_finetuned_then_the_task_is_serving_it(catalog):
    spec = _spec(
        catalog,
        "serve distilbert-base-uncased-finetuned-sst-2-english for sentiment on CPU, 200 "
        "requests/s",
    )

    assert spec.task_type == "inference" and spec.domain == "nlp"
    assert spec.model_needs.named_models == [
        "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
    ]


def test_extract_when_fine_tuning_a_named_model_then_still_fine_tuning(catalog):
    spec = _spec(catalog, "Fine-tune Llama-3.1-8B-Instruct with LoRA on AWS")

    assert spec.task_type == "fine_tuning"
