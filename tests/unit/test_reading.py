"""The offline reader's pieces: numbers in words, places, GPUs, corrections across turns."""

import pytest

from agents.offline_extractor import merge_readings, read_message, to_spec
from agents.reading.numbers import digits_for_words
from agents.reading.vocabulary import Vocabulary
from agents.requirements import ground_models
from agents.requirements_rules import decide, questions_for
from agents.schemas import WorkloadSpec
from core.catalog_files import DATA_DIR
from tools.catalog import catalog_facts_from_files
from tools.regions import regions_in


@pytest.fixture(scope="module")
def vocabulary():
    return Vocabulary.from_facts(catalog_facts_from_files(DATA_DIR))


def _spec(vocabulary, *messages):
    return to_spec(merge_readings(read_message(m, vocabulary) for m in messages))


@pytest.mark.parametrize(
    ("said", "meant"),
    [
        ("thirty people", "30 people"),
        ("twelve hundred hours", "1200 hours"),
        ("two hundred and fifty users", "250 users"),
        ("Sixty-four users", "64 users"),
        ("half a million documents", "500000 documents"),
        ("2 million tickets", "2000000 tickets"),
        ("a dozen analysts", "12 analysts"),
        ("three grand a month", "$3000 a month"),
    ],
)
def test_number_words_then_digits(said, meant):
    assert digits_for_words(said) == meant


def test_one_as_a_pronoun_then_left_alone():
    assert digits_for_words("no wait, the 70B one") == "no wait, the 70B one"


def test_place_then_regions_there_of_the_providers_asked():
    assert set(regions_in("Frankfurt")) == {
        "eu-central-1",
        "europe-west3",
        "germanywestcentral",
        "europe-central-1",
    }
    assert regions_in("London", ["gcp"]) == ["europe-west2"]
    assert "us-east-1" not in regions_in("the EU")


def test_a100_with_80_gb_not_40_then_only_the_80_gb_card(vocabulary):
    spec = _spec(vocabulary, "We need the A100 GPU with 80 GB though, not the 40 GB one.")

    assert spec.hardware.gpu_models == ["A100-80GB"]


def test_aws_lambda_function_then_not_lambda_labs(vocabulary):
    spec = _spec(vocabulary, "Serve Mistral 7B on AWS; an AWS Lambda function will call it")

    assert spec.providers == ["aws"]


def test_bare_number_correction_then_the_number_stated_last_changes(vocabulary):
    spec = _spec(vocabulary, "Serve Qwen2.5-7B-Instruct to 10 users, budget $3k", "actually 4k")

    assert spec.budget_monthly_usd == 4000 and spec.scale.concurrent_users == 10


def test_dropping_a_provider_then_the_rest_stay(vocabulary):
    spec = _spec(vocabulary, "Llama 3.1 8B on AWS or GCP for 20 users", "Let's drop GCP")

    assert spec.providers == ["aws"]


def test_generic_verb_later_then_the_stated_task_stays(vocabulary):
    spec = _spec(
        vocabulary,
        "Fine-tune Llama 3.1 8B with LoRA on our tickets",
        "How often should we run the evaluations?",
    )

    assert spec.task_type == "fine_tuning"


def test_questions_asked_once_then_reworded_then_not_asked_again():
    first = questions_for(["domain"], [])
    second = questions_for(["domain"], list(first))
    third = questions_for(["domain"], [*first, *second])

    assert first and second and first != second and third == ()


def test_vague_then_asked_once_then_planned_on_defaults(vocabulary):
    spec = _spec(vocabulary, "I need some GPUs")

    asked = decide(spec, 0)
    planned = decide(spec, 2, asked.questions)

    assert asked.action == "clarify" and planned.action == "plan"
    assert planned.spec.domain == "llm"
    assert any("after two rounds" in a for a in planned.spec.assumptions)


# --- model names as people write them ---------------------------------------------------------
@pytest.mark.parametrize(
    ("said", "model_id"),
    [
        ("we need a chatbot on qwen 2.5 32b for about 40 people", "Qwen/Qwen2.5-32B-Instruct"),
        ("can u host llama3-8b for our helpdesk?", "meta-llama/Meta-Llama-3-8B-Instruct"),
        ("is phi-3 mini enough for a small FAQ bot?", "microsoft/Phi-3-mini-4k-instruct"),
        ("run deepseek r1 distill 32B on contracts", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"),
        ("Qwen 2.5 Coder 32B as a code assistant", "Qwen/Qwen2.5-Coder-32B-Instruct"),
        ("gemma 2 9b sorting support tickets", "google/gemma-2-9b-it"),
        ("llama 3.1 70b for the sales team", "meta-llama/Llama-3.1-70B-Instruct"),
        ("mistral small 24b for 8 devs", "mistralai/Mistral-Small-24B-Instruct-2501"),
    ],
)
def test_family_with_version_and_size_then_the_catalog_model(vocabulary, said, model_id):
    spec = _spec(vocabulary, said)

    assert spec.model_needs.named_models == [model_id]
    assert spec.model_needs.size_billion_params is None


def test_family_size_matching_several_models_equally_then_no_model_named(vocabulary):
    # "llama 70b" fits Llama 2, 3, 3.1 and 3.3 alike: the size is read, no model is guessed.
    spec = _spec(vocabulary, "serve a llama 70b for 20 users")

    assert spec.model_needs.named_models == []
    assert spec.model_needs.size_billion_params == 70


@pytest.mark.parametrize(
    "said",
    [
        "mistral 7b summarizing support tickets, roughly 2 requests a second, cheapest on aws",
        "Llama 3.1 70B triaging customer emails for a support team of 25 on GCP",
        "Mixtral 8x7B reading scanned invoices, maybe 5 requests per second at peak",
        "a 13b summarizing call transcripts for our agents",
    ],
)
def test_size_glued_to_a_model_then_not_a_document_count(vocabulary, said):
    spec = _spec(vocabulary, said)

    assert spec.scale.documents is None and spec.scale.documents_per_day is None


def test_size_glued_to_tokens_then_still_the_dataset_size(vocabulary):
    spec = _spec(vocabulary, "full fine-tune of llama 3.1 8b on 2B tokens of our support logs")

    assert spec.training.dataset_tokens == 2e9
    assert spec.model_needs.named_models == ["meta-llama/Llama-3.1-8B-Instruct"]


def test_rate_beside_a_named_model_then_read(vocabulary):
    spec = _spec(vocabulary, "mistral 7b summarizing support tickets, roughly 2 requests a second")

    assert spec.scale.requests_per_second == 2


def test_training_chat_with_a_bare_token_count_then_the_dataset_size(vocabulary):
    said = "pre-training run for a 7B base model, 200 billion tokens, GCP or Azure"
    spec = _spec(vocabulary, said)

    assert spec.training.dataset_tokens == 2e11
    assert spec.model_needs.size_billion_params == 7


@pytest.mark.parametrize(
    ("said", "examples"),
    [
        ("fine-tune llama 3.1 8b with lora on about 20k support chats, aws", 20_000),
        ("qlora mistral 7b on ~5,000 customer service conversations", 5_000),
        ("LoRA fine-tune Llama 3.3 70B on 100k instruction/response pairs", 100_000),
        ("fine-tune gemma 2 9b with qlora on 40,000 documents from our knowledge base", 40_000),
        ("fine-tune llama 3.2 3b on 8k rows of Q&A", 8_000),
    ],
)
def test_training_chat_counting_chats_or_documents_then_the_dataset_not_the_load(
    vocabulary, said, examples
):
    spec = _spec(vocabulary, said)

    assert spec.training.dataset_examples == examples
    assert spec.scale.concurrent_users is None and spec.scale.documents is None


def test_serving_chat_counting_chats_then_still_users(vocabulary):
    spec = _spec(vocabulary, "serve llama 3.1 8b for 200 concurrent chats on aws")

    assert spec.scale.concurrent_users == 200 and spec.training.dataset_examples is None


def test_training_chat_with_gigabytes_of_text_then_the_dataset_size_not_gpu_memory(vocabulary):
    spec = _spec(vocabulary, "continued pretraining of llama 3.1 8b on 50GB of legal documents")

    assert spec.training.dataset_gb == 50
    assert spec.min_vram_gb is None and spec.training.dataset_examples is None


def test_gigabytes_of_vram_in_a_training_chat_then_still_gpu_memory(vocabulary):
    spec = _spec(vocabulary, "full fine-tune of mistral 7b on 2B tokens, GPUs with 80 GB of VRAM")

    assert spec.min_vram_gb == 80 and spec.training.dataset_gb is None


def test_dataset_in_a_later_message_of_a_fine_tuning_chat_then_read_as_the_dataset(vocabulary):
    spec = _spec(
        vocabulary,
        "I'd like to fine-tune Llama 3.1 8B with LoRA for our helpdesk bot",
        "we have roughly 12k past conversations to train on, and we're on GCP",
    )

    assert spec.training.dataset_examples == 12_000 and spec.scale.concurrent_users is None
    assert spec.task_type == "fine_tuning" and spec.model_needs.fine_tuning_method == "lora"


def test_pretraining_said_after_a_fine_tune_then_the_task_changes(vocabulary):
    spec = _spec(vocabulary, "LoRA fine-tune of llama 3.1 8b", "no, pretrain a 1B from scratch")

    assert spec.task_type == "training"


def test_llm_reading_names_a_family_with_version_then_grounded_to_the_catalog_id(vocabulary):
    spec = WorkloadSpec(task_type="inference", model_needs={"named_models": ["qwen 2.5 32b"]})

    grounded = ground_models(spec, vocabulary)

    assert grounded.model_needs.named_models == ["Qwen/Qwen2.5-32B-Instruct"]


@pytest.mark.parametrize(
    ("said", "hours"),
    [
        ("every night we summarize ~200k support tickets with mistral 7b, need it by morning", 8),
        ("classify two million product reviews with llama 3.1 8b, has to finish within 6 hours", 6),
        ("we get a 5-hour window each night to tag 100k docs with qwen 2.5 7b", 5),
        ("we have 3 hours to translate 50k product descriptions, mistral 7b on aws", 3),
        ("run all our archived contracts through llama 3.1 70b overnight", 8),
    ],
)
def test_batch_deadline_then_its_window_in_hours(vocabulary, said, hours):
    spec = _spec(vocabulary, said)

    assert spec.scale.batch_window_hours == hours


@pytest.mark.parametrize(
    "said",
    [
        "a chatbot on llama 3.1 8b for 30 users, first token within 2 seconds",
        "summarize 200k support tickets a day with mistral 7b on aws",
    ],
)
def test_no_deadline_then_no_batch_window(vocabulary, said):
    assert _spec(vocabulary, said).scale.batch_window_hours is None


@pytest.mark.parametrize(
    ("said", "field", "count"),
    [
        ("each night summarize the day's support chats (about 60k of them) with mistral 7b",
         "documents_per_day", 60_000),
        ("we keep all tickets, roughly 300k of them, to classify once with llama 3.1 8b",
         "documents", 300_000),
    ],
)
def test_count_after_the_things_counted_then_the_batch_size(vocabulary, said, field, count):
    assert getattr(_spec(vocabulary, said).scale, field) == count
