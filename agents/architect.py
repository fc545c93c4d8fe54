"""Architect agent: tools → DeploymentPlan.

Both paths go through the same tools and the same tool node, so a plan's trajectory reads
the same either way. Offline, the calls follow a fixed sequence (local and sizing → compute,
models and charts → a budget-free compute search when nothing fits) and a template writes
the plan. With a model, the model picks the calls (bounded rounds) and writes the plan as
structured output. The validator checks either plan afterwards.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import BaseTool

from agents.engine import EngineChoice, choose_engine, stack_queries
from agents.job_costs import dataset_assumptions, ranks_by_job, run_work, training_tokens
from agents.llm import invoke_structured
from agents.plan_builder import overhead_budget
from agents.prompts import ARCHITECT_SYNTHESIS, ARCHITECT_SYSTEM, ARCHITECT_TASK
from agents.schemas import DeploymentPlan, GpuRecommendation, WorkloadSpec
from agents.workload import configuration_load, workload_args, workload_assumptions
from tools.jobs import (
    CLOSE_RUN_COST_RATIO,
    FAST_RUN_COST_RATIO,
    FAST_RUN_TIME_RATIO,
    RUN_FIXED_HOURS,
)

logger = logging.getLogger(__name__)

# A model may ask for many calls at once; each costs a query, so a step runs at most this many.
MAX_CALLS_PER_STEP = 8
# A model's sizing that differs from the tool's by more than this is reported as corrected.
SIZING_TOLERANCE_GB = 0.5
PIPELINE_TAGS = {
    "llm": "text-generation",
    "multimodal": "image-text-to-text",
    "image_generation": "text-to-image",
    "speech": "automatic-speech-recognition",
    "tabular": "time-series-forecasting",
    "nlp": "text-classification",
}
HF_QUERIES = {
    "llm": "instruction-tuned chat language model for text generation",
    "multimodal": "vision language model answering questions about images",
    "image_generation": "text to image generation diffusion model",
    "speech": "speech recognition transcribing audio to text",
    "embeddings": "sentence embeddings for semantic search and retrieval",
    "vision": "computer vision model for image classification and object detection",
    "tabular": "time series forecasting model",
    "nlp": "text classification model for sentiment, topics or intent",
}
# A vision or tabular job with no model named: a mid-range GPU is the usual floor.
DEFAULT_MIN_GPU_GB = 16
# A CPU-only deployment with nothing else said: a small general-purpose VM.
CPU_ONLY_MIN_VCPU = 4
CPU_ONLY_MIN_RAM_GB = 16
# A training run longer than this on one GPU is planned on a node of several GPUs (at least
# this much GPU memory in all: 4× 80 GB or 8× 40 GB), so that it takes days, not months.
LONG_RUN_GPU_HOURS = 24
TRAINING_NODE_VRAM_GB = 320
TRAINING_NODE_GPUS = 4
A100_BF16_TFLOPS = 312
# Share of GPU memory a serving engine may use (vLLM's default), as in compute and validation.
GPU_MEMORY_UTILIZATION = 0.9


def params_from_name(model_id: str) -> float | None:
    """Read a parameter count in billions from a model's name ("jailbreak-7b" → 7)."""
    name = model_id.split("/")[-1].lower()
    match = re.search(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)b(?![a-z0-9])", name)
    return float(match[1]) if match else None


def _call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "name": name, "args": args, "type": "tool_call"}


def _done_ids(work: Sequence[AnyMessage]) -> set[str]:
    return {m.tool_call_id for m in work if isinstance(m, ToolMessage)}


def results_by_call(work: Sequence[AnyMessage]) -> dict[str, ToolMessage]:
    """Index this turn's tool results by tool call id."""
    return {m.tool_call_id: m for m in work if isinstance(m, ToolMessage)}


def hardware_filters(spec: WorkloadSpec) -> dict[str, Any]:
    """Return the compute filters for the GPUs, instances and GPU count the user named."""
    if spec.gpu_needed is False:
        return {}
    own = spec.own_hardware
    filters: dict[str, Any] = {}
    gpus = spec.hardware.gpu_models or ([own.gpu_model] if own.gpu_model else [])
    if gpus:
        filters["gpu_model"] = gpus
    if spec.hardware.instance_types:
        filters["instance_types"] = spec.hardware.instance_types
    if spec.hardware.max_gpus:
        filters["max_gpu_count"] = spec.hardware.max_gpus
    return filters


def compute_args(
    spec: WorkloadSpec,
    model_id: str | None,
    *,
    with_budget: bool,
    sizing: dict[str, Any] | None,
    relaxed: bool = False,
) -> dict[str, Any]:
    """Build the compute search for the spec (and the model when one was sized).

    ``relaxed`` drops the GPU model, instance and GPU-count filters: the search the plan
    falls back to, with a warning, when nothing meets them.
    """
    args: dict[str, Any] = {"gpu_needed": spec.gpu_needed is not False, "top_k": 5}
    if not relaxed:
        args.update(hardware_filters(spec))
    if spec.hardware.spot_allowed:
        args["spot"] = True
    if spec.gpu_needed is False:
        # Sizing and fit are GPU maths; a CPU plan filters on vCPUs and RAM instead.
        model_id = None
        ram = max(CPU_ONLY_MIN_RAM_GB, math.ceil(sizing["total_vram_gb"]) if sizing else 0)
        args.update(min_vcpu=CPU_ONLY_MIN_VCPU, min_ram_gb=ram)
    if spec.providers:
        args["providers"] = spec.providers
    if spec.regions:
        args["regions"] = spec.regions
    if spec.min_vram_gb:
        args["min_vram_per_gpu_gb"] = spec.min_vram_gb
    if with_budget and spec.budget_monthly_usd and not ranks_by_job(spec):
        # A run is paid once: its cost, not a month of the node, meets the budget.
        args["max_price_monthly"] = max(spec.budget_monthly_usd - overhead_budget(sizing), 0.0)
    if model_id:
        args.update(model_id=model_id, **workload_args(spec))
        if ranks_by_job(spec):
            # A faster GPU can cost more an hour and less a run: rank by the run.
            args["rank"] = "run_cost"
            if (work := run_work(spec, sizing)) is not None:
                args["run_work_tflop_hours"] = round(work, 3)
        if long_training_run(spec, sizing):
            # Days, not months: a run this long goes on one node of several GPUs.
            args["min_vram_gb"] = max(args.get("min_vram_gb") or 0, TRAINING_NODE_VRAM_GB)
    elif spec.gpu_needed is not False and not spec.min_vram_gb:
        args["min_vram_per_gpu_gb"] = DEFAULT_MIN_GPU_GB
    return args


# Engines whose configurations the search estimates (its roofline and AIConfigurator model them).
SEARCHED_ENGINES = frozenset({"vLLM"})


def searches_configuration(spec: WorkloadSpec, engine: EngineChoice) -> bool:
    """Say whether the plan is a configuration search: a GPU-served LLM on rented instances."""
    return (
        engine.engine in SEARCHED_ENGINES
        and spec.domain in ("llm", None)
        and spec.task_type not in ("training", "fine_tuning")
        and spec.gpu_needed is not False
        and spec.own_hardware.gpu_model is None
        and spec.own_hardware.cloud_allowed is not False
        and spec.precision != "fp32"  # the search tries 16-bit and narrower builds
    )


def configuration_args(
    spec: WorkloadSpec, model_id: str, sizing: dict[str, Any] | None
) -> dict[str, Any]:
    """Build the configuration search for the sized model, the load and the filters."""
    args: dict[str, Any] = {"model_id": model_id, **configuration_load(spec)}
    args.update(hardware_filters(spec))
    if spec.min_vram_gb:
        args["min_vram_per_gpu_gb"] = spec.min_vram_gb
    if spec.precision:
        args["precision"] = spec.precision
    if spec.hardware.spot_allowed:
        args["spot"] = True
    if spec.providers:
        args["providers"] = spec.providers
    if spec.regions:
        args["regions"] = spec.regions
    if spec.budget_monthly_usd:
        args["budget_monthly_usd"] = max(spec.budget_monthly_usd - overhead_budget(sizing), 0.0)
    if spec.latency.ttft_ms or spec.latency.tpot_ms:
        args["latency_stated"] = True
    return args


def long_training_run(spec: WorkloadSpec, sizing: dict[str, Any] | None) -> bool:
    """Say whether a training run would take more than a day on one A100 (6·N·D at 40 %).

    A GPU limit below the node's four GPUs ("one GPU if possible") wins: the run goes on the
    GPUs allowed, and takes longer.
    """
    tokens = training_tokens(spec)
    params = (sizing or {}).get("params_billion")
    if not tokens or not params or spec.task_type not in ("training", "fine_tuning"):
        return False
    if spec.hardware.max_gpus and spec.hardware.max_gpus < TRAINING_NODE_GPUS:
        return False
    gpu_hours = 6 * params * 1e9 * tokens / (A100_BF16_TFLOPS * 1e12 * 0.4) / 3600
    return gpu_hours > LONG_RUN_GPU_HOURS


# Alternatives to a sized language model are of its size class: half to twice its parameters
# (an 8B plan lists 4-16B models, which its GPUs can serve in the same role, not 70B ones).
SIZE_CLASS = 2.0


def hf_args(spec: WorkloadSpec, sizing: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the model search: the domain's task in words, its pipeline tag, a size class."""
    domain = spec.domain or "llm"
    words = [HF_QUERIES.get(domain, "open model")]
    if spec.model_needs.named_models:
        words.insert(0, spec.model_needs.named_models[0].split("/")[-1])
    args: dict[str, Any] = {"query": " ".join(words), "top_k": 5}
    size = (sizing or {}).get("params_billion") or spec.model_needs.size_billion_params
    serving = spec.task_type not in ("training", "fine_tuning")
    if size and domain == "llm" and serving:
        args["min_params_billion"] = size / SIZE_CLASS
        args["max_params_billion"] = size * SIZE_CLASS
    tag = spec.model_needs.pipeline_tag or PIPELINE_TAGS.get(domain)
    if tag:
        args["pipeline_tag"] = tag
    if spec.model_needs.license_allow_list:
        args["license_filter"] = spec.model_needs.license_allow_list
    return args


def offline_next_calls(
    spec: WorkloadSpec, engine: EngineChoice, model_id: str | None, work: Sequence[AnyMessage]
) -> list[dict[str, Any]]:
    """Return the next batch of the fixed tool sequence, or [] when it is complete."""
    done = _done_ids(work)
    if "local" not in done:
        calls = [_call("local", "local_cluster", {})]
        if model_id:
            args = {"model_id": model_id, **workload_args(spec)}
            # Used by the tool only when the catalogs have no facts on the model.
            if (size := params_from_name(model_id)) is not None:
                args["params_billion"] = size
            calls.append(_call("sizing", "vram_sizing", args))
        return calls
    results = results_by_call(work)
    sizing = results["sizing"].artifact if "sizing" in results else None
    if "sizing" in results and results["sizing"].status == "error":
        # A model that cannot be sized cannot filter instances; search by the generic floor
        # and let the plan say the model was not sized.
        model_id = None
    if "compute" not in done:
        calls = [
            _call(
                "compute",
                "compute_search",
                compute_args(spec, model_id, with_budget=True, sizing=sizing),
            ),
            _call("hf", "hf_model_search", hf_args(spec, sizing)),
        ]
        for i, (query, _purpose) in enumerate(stack_queries(spec, engine)):
            calls.append(_call(f"chart-{i}", "k8s_chart_search", {"query": query, "top_k": 1}))
        if model_id and sizing and searches_configuration(spec, engine):
            args = configuration_args(spec, sizing.get("model_id") or model_id, sizing)
            calls.append(_call("configuration", "configuration_search", args))
        return calls
    if results["compute"].status == "error" and "compute-generic" not in done:
        # The model is sized (from its stated size) but unknown to the instance fit: filter
        # on the memory the sizing asks for instead.
        floor = math.ceil(sizing["per_gpu_gb"] / GPU_MEMORY_UTILIZATION) if sizing else None
        args = compute_args(spec, None, with_budget=True, sizing=sizing)
        if floor and spec.gpu_needed is not False:
            args["min_vram_per_gpu_gb"] = max(floor, spec.min_vram_gb or 0)
        return [_call("compute-generic", "compute_search", args)]
    configured = results.get("configuration")
    searched = (configured.artifact or {}) if configured is not None else None
    if searched is not None and configured is not None and configured.status != "error":
        over = (searched.get("budget") or {}).get("within_budget") is False
        if (over or not searched.get("chosen")) and hardware_filters(spec) and (
            "configuration-relaxed" not in done
        ):
            # The GPUs, instances or GPU count named cannot carry the load within budget:
            # find what would, and let the plan say which constraint could not be met.
            args = configuration_args(spec, searched.get("model_id") or model_id or "", sizing)
            for key in ("gpu_model", "instance_types", "max_gpu_count"):
                args.pop(key, None)
            return [_call("configuration-relaxed", "configuration_search", args)]
        if searched.get("chosen"):
            return []  # the configuration search chose what runs
    compute = (results.get("compute-generic") or results["compute"]).artifact or {}
    relax = bool(hardware_filters(spec)) and not compute.get("results")
    if relax and "compute-relaxed" not in done:
        # Nothing meets the GPUs, instances or GPU count named: find what would, and let the
        # plan say which constraint could not be met.
        args = compute_args(spec, model_id, with_budget=True, sizing=sizing, relaxed=True)
        return [_call("compute-relaxed", "compute_search", args)]
    if relax:
        compute = results["compute-relaxed"].artifact or {}
    if "compute-any-budget" not in done and spec.budget_monthly_usd and not compute.get("results"):
        return [
            _call(
                "compute-any-budget",
                "compute_search",
                compute_args(spec, model_id, with_budget=False, sizing=sizing, relaxed=relax),
            )
        ]
    return []


def skipped_tools(work: Sequence[AnyMessage]) -> dict[str, str]:
    """Return the tools whose every call this turn failed, with the first failure's text."""
    failed: dict[str, str] = {}
    succeeded: set[str] = set()
    for message in work:
        if isinstance(message, ToolMessage) and message.name:
            if message.status == "error":
                failed.setdefault(message.name, str(message.content).strip())
            else:
                succeeded.add(message.name)
    return {name: reason for name, reason in failed.items() if name not in succeeded}


def collect_results(
    spec: WorkloadSpec, engine: EngineChoice, work: Sequence[AnyMessage]
) -> dict[str, Any]:
    """Gather the tool artifacts of this turn into what the plan builder reads."""
    by_id = results_by_call(work)
    by_name: dict[str, Any] = {}
    for message in work:
        if isinstance(message, ToolMessage) and message.status != "error":
            by_name[message.name or ""] = message.artifact
    queries = stack_queries(spec, engine)
    charts = []
    for i, (_query, purpose) in enumerate(queries):
        hit = by_id.get(f"chart-{i}")
        found = (hit.artifact or {}).get("results") if hit is not None else None
        if found:
            charts.append({**found[0], "purpose": purpose})
    if not any(f"chart-{i}" in by_id for i in range(len(queries))):
        charts = _model_chart_hits(work)

    def artifact(call_id: str, name: str | None = None) -> Any:
        # The offline sequence names its calls; a model's calls are found by tool name.
        message = by_id.get(call_id)
        if message is not None:
            return message.artifact if message.status != "error" else None
        return by_name.get(name) if name else None

    strict = artifact("compute-generic") or artifact("compute", "compute_search")
    relaxed = artifact("compute-relaxed")
    return {
        "skipped": skipped_tools(work),
        "assumptions": workload_assumptions(spec) + (
            [f"a training run of more than {LONG_RUN_GPU_HOURS} GPU-hours: planned on one node "
             f"with at least {TRAINING_NODE_VRAM_GB} GB of GPU memory (4-8 GPUs, data-parallel) "
             "so that it ends in days"]
            if long_training_run(spec, artifact("sizing", "vram_sizing")) else []
        ) + (
            [*dataset_assumptions(spec),
             "instances ranked by what the whole run costs (hours from the FLOPs at the "
             f"method's MFU, plus {RUN_FIXED_HOURS:g} h of start-up, image pull, model download "
             "and checkpoint writes billed on every run, × $/hour), not by the hourly price: a "
             "faster GPU can be dearer an hour and cheaper a run, and eight GPUs pay off only "
             "for a run long enough to cover their start-up",
             f"other options are offered when their run costs at most {CLOSE_RUN_COST_RATIO:g}× "
             "the cheapest on no more GPUs, or when they finish in "
             f"{FAST_RUN_TIME_RATIO:.0%} of its time or less for at most "
             f"{FAST_RUN_COST_RATIO:g}× its cost"]
            if ranks_by_job(spec) else
            ["no dataset size was given, so the cost is a month of the node running 24/7: say "
             "the examples, tokens or GB of text (and the epochs) to have the run priced once"]
            if spec.task_type in ("training", "fine_tuning") else []
        ),
        "workload": workload_args(spec),
        "local": artifact("local", "local_cluster"),
        "sizing": artifact("sizing", "vram_sizing"),
        "compute": relaxed if relaxed is not None else strict,
        "compute_strict": strict,
        "spot": bool(spec.hardware.spot_allowed),
        "compute_without_budget": artifact("compute-any-budget"),
        **_configuration(artifact("configuration", "configuration_search"),
                         artifact("configuration-relaxed"), relaxed is not None),
        "hf": artifact("hf", "hf_model_search"),
        "charts": charts,
    }


def _configuration(
    strict: dict[str, Any] | None, relaxed: dict[str, Any] | None, compute_relaxed: bool
) -> dict[str, Any]:
    """Choose between the searches with and without the hardware named, as the plan uses them.

    The relaxed one is used when the strict one found nothing or is over budget and the
    relaxed one keeps to it (the plan then names the constraint it could not meet).
    """
    def within(found: dict[str, Any] | None) -> bool:
        if not found or not found.get("chosen"):
            return False
        return (found.get("budget") or {}).get("within_budget") is not False

    use_relaxed = bool(relaxed and relaxed.get("chosen")) and (
        not (strict and strict.get("chosen")) or (not within(strict) and within(relaxed))
    )
    if use_relaxed:
        return {"configuration": relaxed, "relaxed": True}
    chose = bool((strict or {}).get("chosen"))
    return {"configuration": strict, "relaxed": compute_relaxed and not chose}


def _model_messages(spec: WorkloadSpec, work: Sequence[AnyMessage]) -> list[BaseMessage]:
    # A user turn first: chat templates of local models (vLLM, Ollama) require one.
    system = SystemMessage(ARCHITECT_SYSTEM.format(spec_json=spec.model_dump_json(indent=1)))
    return [system, HumanMessage(ARCHITECT_TASK), *work]


def _model_chart_hits(work: Sequence[AnyMessage]) -> list[dict[str, Any]]:
    """Take the top hit of each chart search a model made, its query as the purpose."""
    queries = {
        call["id"]: call["args"].get("query", "")
        for m in work
        if isinstance(m, AIMessage)
        for call in m.tool_calls
        if call["name"] == "k8s_chart_search"
    }
    charts: dict[str, dict[str, Any]] = {}
    for message in work:
        if not isinstance(message, ToolMessage) or message.tool_call_id not in queries:
            continue
        found = (message.artifact or {}).get("results") if message.status != "error" else None
        if found and found[0]["name"] not in charts:
            purpose = f"found for '{queries[message.tool_call_id]}'"
            charts[found[0]["name"]] = {**found[0], "purpose": purpose}
    return list(charts.values())


async def model_step(
    chat_model: BaseChatModel,
    tools: Sequence[BaseTool],
    spec: WorkloadSpec,
    work: Sequence[AnyMessage],
) -> AIMessage:
    """Let the model choose the next tool calls (or stop), at most MAX_CALLS_PER_STEP of them."""
    bound = chat_model.bind_tools(list(tools))
    reply = await bound.ainvoke(_model_messages(spec, work))
    if not isinstance(reply, AIMessage):
        raise TypeError("the model did not answer with a message")
    if len(reply.tool_calls) > MAX_CALLS_PER_STEP:
        # Every call kept must be answered, so the surplus is cut from the message itself.
        logger.warning(
            "the model asked for %d tool calls; running the first %d",
            len(reply.tool_calls),
            MAX_CALLS_PER_STEP,
        )
        reply = reply.model_copy(
            update={
                "tool_calls": reply.tool_calls[:MAX_CALLS_PER_STEP],
                "additional_kwargs": {},
                "invalid_tool_calls": [],
            }
        )
    return reply


async def model_plan(
    chat_model: BaseChatModel, spec: WorkloadSpec, work: Sequence[AnyMessage]
) -> DeploymentPlan:
    """Ask the model to write the plan from the tool results, as structured output.

    Raises:
        MalformedOutputError: the plan stayed malformed after every retry.

    """
    messages = [*_model_messages(spec, work), HumanMessage(ARCHITECT_SYNTHESIS)]
    return await invoke_structured(chat_model, DeploymentPlan, messages)


def reconcile_with_tools(plan: DeploymentPlan, template: DeploymentPlan) -> DeploymentPlan:
    """Take the tools' own numbers over the model's where the tools computed them.

    ``template`` is the plan the template writer builds from the same tool results. Its
    sizing and rejection counts are the tools' figures; the model's may be misread. Instances,
    models and charts stay the model's choice; the validator checks them against the catalogs.
    """
    plan = plan.model_copy(deep=True)
    if template.sizing is not None:
        said = plan.sizing.total_vram_gb if plan.sizing else None
        if said is not None and abs(said - template.sizing.total_vram_gb) > SIZING_TOLERANCE_GB:
            plan.warnings.append(
                f"corrected the sizing from {said:g} GB to the sizing tool's "
                f"{template.sizing.total_vram_gb:g} GB"
            )
        plan.sizing = template.sizing
    plan.rejected_summary = template.rejected_summary
    if not plan.gpu_recommendations and template.gpu_recommendations:
        plan.warnings.append("the model recommended no instance; listed the tools' cheapest fits")
        plan.gpu_recommendations = template.gpu_recommendations
    _configurations_from(plan.gpu_recommendations, template.gpu_recommendations)
    config = template.configuration
    first = plan.gpu_recommendations[0] if plan.gpu_recommendations else None
    if config is not None and first is not None and (
        (first.provider, first.instance_type) == (config.provider, config.instance_type)
    ):
        # The model kept the searched configuration: its files deploy exactly that.
        plan.configuration = config
        first.instances = config.instances
    job = template.cost_estimate.job if template.cost_estimate else None
    if job is not None and job.kind == "training":
        # A training run is priced from its work, which only the tools know: the validator
        # prices each instance the model chose from it.
        plan.cost_estimate = template.cost_estimate
    if plan.serving_engine is None:
        plan.serving_engine = template.serving_engine
        plan.serving_engine_why = template.serving_engine_why
    # No files are copied from the template: it may have chosen another instance, and the
    # validator generates every file from the checked plan's configuration anyway.
    plan.assumptions = list(dict.fromkeys([*plan.assumptions, *template.assumptions]))
    plan.warnings = list(dict.fromkeys([*template.warnings, *plan.warnings]))
    return plan


# What an option deploys: the configuration search's figures, never a model's reading of them.
CONFIGURATION_FIELDS = ("precision", "build_repo", "kv_cache_dtype", "tensor_parallel", "replicas")


def _configurations_from(
    recs: list[GpuRecommendation], searched: list[GpuRecommendation]
) -> None:
    """Set each option's build, KV dtype, TP and replicas from the search's same instance."""
    by_instance = {(g.provider, g.instance_type): g for g in searched}
    for rec in recs:
        found = by_instance.get((rec.provider, rec.instance_type))
        for name in CONFIGURATION_FIELDS:
            setattr(rec, name, getattr(found, name) if found else None)


def engine_for(spec: WorkloadSpec) -> EngineChoice:
    """Return the serving engine choice (re-exported for the graph)."""
    return choose_engine(spec)


def describe_calls(calls: Sequence[dict[str, Any]]) -> str:
    """Summarise tool calls for a status line."""
    return ", ".join(f"{c['name']}({json.dumps(c['args'], sort_keys=True)[:80]})" for c in calls)
