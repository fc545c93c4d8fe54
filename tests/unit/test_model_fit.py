"""Which models a plan's GPUs serve, and the dtypes an engine really runs on a GPU."""

import pytest

import agents.model_fit as model_fit
from agents.architect import hf_args
from agents.configured import recommendation
from agents.model_fit import mark_model_fit
from agents.schemas import DeploymentPlan, ModelNeeds, ModelRecommendation, WorkloadSpec
from tools.architecture import default_architectures
from tools.model_fit import fit_on_gpus
from tools.offers import served_dtypes
from tools.search import Load, Offer, search_configurations
from tools.throughput import load_gpus_csv


@pytest.fixture(scope="module")
def gpus():
    return load_gpus_csv()


def _arch(model_id):
    return default_architectures()[model_id]


def _fit(gpus, model_id, gpu, count, sequences=15):
    spec = gpus[gpu]
    return fit_on_gpus(_arch(model_id), spec, count, spec.memory_gb, context_length=4096,
                       sequences=sequences, typical_tokens=1280)


def test_fit_when_70b_on_one_l4_then_not_and_the_nearest_build_says_how_far(gpus):
    fit = _fit(gpus, "meta-llama/Llama-2-70b-chat-hf", "L4", 1)

    assert fit is not None and not fit.fits
    assert fit.precision == "fp8" and fit.per_gpu_gb > 60  # no int4 build is published for it
    assert fit.usable_gb == pytest.approx(24 * 0.9)


def test_fit_when_8b_on_one_t4_then_the_published_int4_build_in_fp16(gpus):
    fit = _fit(gpus, "meta-llama/Llama-3.1-8B-Instruct", "T4", 1, sequences=4)

    assert fit is not None and fit.fits
    assert (fit.precision, fit.kv_cache_dtype) == ("int4", "fp16")
    assert fit.build_repo == "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"


def test_fit_when_the_bf16_weights_fit_then_the_widest_precision_is_kept(gpus):
    fit = _fit(gpus, "Qwen/Qwen2.5-7B-Instruct", "L40S", 1)

    assert fit is not None and fit.fits
    assert (fit.precision, fit.tensor_parallel) == ("bf16", 1)


@pytest.mark.parametrize(
    ("gpu", "precision", "kv", "served"),
    [
        ("T4", "bf16", "bf16", ("fp16", "fp16")),   # Turing has no bf16
        ("V100", "bf16", "bf16", ("fp16", "fp16")),
        ("L4", "bf16", "bf16", ("bf16", "bf16")),
        ("L4", "int4", "bf16", ("int4", "fp16")),   # AWQ kernels compute in fp16
        ("L4", "fp8", "fp8", ("fp8", "fp8")),
    ],
)
def test_served_dtypes_then_named_as_the_engine_runs_them(gpus, gpu, precision, kv, served):
    assert served_dtypes(gpus[gpu], precision, kv) == served


def _llm_spec(**fields):
    return WorkloadSpec(task_type="inference", domain="llm", gpu_needed=True, **fields)


def test_hf_args_when_a_sized_model_then_alternatives_of_its_size_class():
    spec = _llm_spec(model_needs=ModelNeeds(named_models=["meta-llama/Llama-3.1-8B-Instruct"]))

    args = hf_args(spec, {"params_billion": 8.03})

    assert (args["min_params_billion"], args["max_params_billion"]) == pytest.approx((4.015, 16.06))


def test_hf_args_when_fine_tuning_or_not_an_llm_then_no_size_class():
    tuning = WorkloadSpec(task_type="fine_tuning", domain="llm", gpu_needed=True)
    speech = WorkloadSpec(task_type="inference", domain="speech", gpu_needed=True)

    assert "max_params_billion" not in hf_args(tuning, {"params_billion": 8.03})
    assert "max_params_billion" not in hf_args(speech, {"params_billion": 1.55})


def _searched_plan(models):
    l4 = Offer(provider="gcp", instance_type="g2-standard-4", region="us-east4", gpu_model="L4",
               gpu_count=1, gpu_memory_gb_per_gpu=24, price_hourly_usd=0.7)
    config = search_configurations("meta-llama/Llama-3.1-8B-Instruct", Load(concurrency=30),
                                   [l4], load_gpus_csv()).chosen
    return DeploymentPlan(
        understanding="x", configuration=config, gpu_recommendations=[recommendation(config, 1)],
        model_recommendations=[
            ModelRecommendation(model_id=m, params_b=p, score=0.7, why="x", fit_note=note)
            for m, p, note in models
        ],
    )


@pytest.fixture
def catalog_reads(monkeypatch):
    async def architecture(_conn, model_id):
        return default_architectures().get(model_id)

    async def gpu_specs(_conn):
        return load_gpus_csv()

    monkeypatch.setattr(model_fit, "load_architecture", architecture)
    monkeypatch.setattr(model_fit, "load_gpu_specs", gpu_specs)


async def test_mark_when_searched_plan_then_named_first_fitting_next_the_rest_marked(
    catalog_reads
):
    plan = _searched_plan([
        ("meta-llama/Llama-2-70b-chat-hf", 69.0, None),
        ("meta-llama/Llama-3.1-8B-Instruct", 8.03, None),
        ("meta-llama/Llama-2-7b-chat-hf", 6.74, None),
    ])
    spec = _llm_spec(model_needs=ModelNeeds(named_models=["meta-llama/Llama-3.1-8B-Instruct"]))

    marked = await mark_model_fit(None, plan, spec)

    assert [(m.model_id.split("/")[1], m.fits_plan_gpus) for m in marked] == [
        ("Llama-3.1-8B-Instruct", True), ("Llama-2-7b-chat-hf", True),
        ("Llama-2-70b-chat-hf", False),
    ]
    assert marked[0].fit_note.startswith("planned: fp8")
    assert marked[1].fit_note.startswith("fits in memory: fp16, TP 1")
    assert marked[2].fit_note.startswith("needs bigger GPUs") and "1× L4" in marked[2].fit_note


async def test_mark_when_the_plan_has_no_searched_configuration_then_no_mark_is_kept(
    catalog_reads
):
    plan = _searched_plan([("meta-llama/Llama-2-70b-chat-hf", 69.0, "fits: fp8, TP 1")])
    plan.configuration = None

    marked = await mark_model_fit(None, plan, _llm_spec())

    assert (marked[0].fits_plan_gpus, marked[0].fit_note) == (None, None)
