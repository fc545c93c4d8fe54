"""The Stack8s graph: optimize → requirements → (clarify | architect ⇄ tools → plan → validate).

``builder`` is the uncompiled graph; ``graph`` is compiled without a checkpointer for
``langgraph dev`` (which brings its own). The API and CLI compile ``builder`` with the
Postgres checkpointer (graph.checkpointer).

The LLM nodes build their chat model per run from the runtime ``Context`` (provider, model,
base URL, the caller's key) through agents.llm; with no model they run the offline agents.
When the primary model fails and a fallback is configured, the fallback stands in for the
rest of the turn and the plan says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from agents.architect import (
    collect_results,
    engine_for,
    model_plan,
    model_step,
    offline_next_calls,
    reconcile_with_tools,
)
from agents.llm import LLMSelection, call_with_fallback, select_llm
from agents.plan_builder import build_plan
from agents.reading.intents import IntentClassifier
from agents.render import render_plan, render_questions
from agents.requirements import IntentReader, run_requirements
from agents.schemas import DeploymentPlan, WorkloadSpec
from agents.validator import validate_plan
from agents.vocabulary import Vocabulary, field_reader, load_vocabulary
from core.embeddings import EmbeddingError, aembed_with_cache
from core.resources import Resources, get_resources
from graph.context import Context
from graph.routing import route_after_architect, route_after_requirements
from graph.state import InputState, State
from tools.catalog import representative_model
from tools.langchain_tools import build_tools
from tools.optimizer import build_nli, optimize_messages

logger = logging.getLogger(__name__)
# Names the architect messages written by the fallback provider: once the primary model has
# failed in a turn, the rest of the turn goes straight to the fallback.
FALLBACK_NAME = "architect-fallback"


def _context(runtime: Runtime[Context]) -> Context:
    return runtime.context if isinstance(runtime.context, Context) else Context()


async def _resources(runtime: Runtime[Context]) -> Resources:
    """Return the resources the run was handed in its context.

    A run without them (``langgraph dev``: Studio passes no resources) gets ones built lazily
    from the settings, per event loop.
    """
    resources = _context(runtime).resources
    return resources if resources is not None else await get_resources()


def _selection(resources: Resources, context: Context) -> LLMSelection:
    return select_llm(
        resources.settings,
        provider=context.llm_provider,
        model=context.llm_model,
        base_url=context.llm_base_url,
        request_key=context.llm_api_key,
        vaulted_key=context.vaulted_api_key,
    )


def _turn_selection(selection: LLMSelection, work: list[AnyMessage]) -> LLMSelection:
    """Return the fallback when it already stood in for the primary earlier in this turn."""
    fell_back = any(isinstance(m, AIMessage) and m.name == FALLBACK_NAME for m in work)
    return selection.fallback if fell_back and selection.fallback else selection


async def _vocabulary(resources: Resources) -> Vocabulary:
    cached = resources.catalog_facts.get("vocabulary")
    if cached is None:
        async with resources.pool.connection() as conn:
            cached = await load_vocabulary(conn)
        resources.catalog_facts["vocabulary"] = cached
    return cached


async def _no_intents(text: str, fields: Sequence[str]) -> Mapping[str, str]:
    return {}


async def _intent_reader(resources: Resources) -> IntentReader:
    """Return the meaning-based reader of task, domain and GPU stance, built once."""
    reader = resources.catalog_facts.get("intents")
    if reader is None:
        try:
            classifier = await asyncio.to_thread(IntentClassifier.build, resources.embedder)
        except EmbeddingError:
            return _no_intents  # no embeddings now: the rules read alone; retried next turn

        async def read(text: str, fields: Sequence[str]) -> Mapping[str, str]:
            try:
                async with resources.pool.connection() as conn:
                    vectors = await aembed_with_cache(
                        resources.embedder,
                        [text],
                        conn,
                        resources.settings.embeddings_cache_ttl_days,
                    )
            except EmbeddingError:
                return {}  # the word rules' reading stands
            return classifier.classify(vectors[0], fields)

        reader = resources.catalog_facts["intents"] = read
    return reader


async def optimize(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Prepare this turn: reset the tool scratchpad and compress what the LLMs will read.

    The full history stays in ``messages``; ``llm_context`` is the optimized copy. The
    optimizer runs with the offline provider too, so its effect is measured without a key.
    """
    resources = await _resources(runtime)
    context = _context(runtime)
    reader = resources.catalog_facts.get("field_reader")
    if reader is None:
        reader = field_reader(await _vocabulary(resources))
        resources.catalog_facts["field_reader"] = reader
    try:
        async with resources.pool.connection() as conn:
            result = await optimize_messages(
                list(state["messages"]),
                embedder=resources.embedder,
                budget_tokens=context.optimizer_budget_tokens,
                field_reader=reader,
                nli=build_nli(resources.settings),
                cache_conn=conn,
            )
    except EmbeddingError as exc:
        # No embeddings, no optimization: the turn goes on with the full history, and the
        # report says what was skipped.
        logger.warning("optimizer skipped: %s", type(exc).__name__)
        return {
            "work": [],
            "tool_results": {},
            "llm_context": list(state["messages"]),
            "optimizer_report": {
                "skipped": True,
                "reason": "embedding service unavailable: the full history was used",
            },
        }
    report = result.report.model_dump(mode="json")
    return {
        "work": [],
        "tool_results": {},
        "llm_context": list(result.messages),
        "optimizer_report": report,
    }


async def requirements(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Read the WorkloadSpec and decide to plan or to ask."""
    resources = await _resources(runtime)
    context = _context(runtime)
    vocabulary = await _vocabulary(resources)
    messages = state.get("llm_context") or state["messages"]
    selection = _selection(resources, context)
    intents = await _intent_reader(resources)
    decision, used = await call_with_fallback(
        selection,
        lambda model: run_requirements(
            messages,
            rounds=state.get("clarification_rounds", 0),
            vocabulary=vocabulary,
            chat_model=model,
            asked=state.get("asked", []),
            intents=intents if model is None else None,
        ),
        timeout_s=resources.settings.llm_timeout_s,
    )
    if used is not selection:
        decision.spec.assumptions.append(
            f"the {selection.provider} model failed; the {used.provider} provider read the request"
        )
    return {
        "spec": decision.spec.model_dump(mode="json"),
        "decision": decision.action,
        "questions": list(decision.questions),
    }


async def clarify(state: State) -> dict[str, Any]:
    """Ask the questions and count the round."""
    spec = WorkloadSpec.model_validate(state["spec"])
    understood = [a for a in spec.assumptions][:3]
    questions = state.get("questions", [])
    text = render_questions(questions, understood)
    return {
        "messages": [AIMessage(text, name="stack8s")],
        "clarification_rounds": state.get("clarification_rounds", 0) + 1,
        "asked": [*state.get("asked", []), *questions],
        "plan": None,
    }


async def _model_id(resources: Resources, spec: WorkloadSpec) -> str | None:
    if spec.model_needs.named_models:
        return spec.model_needs.named_models[0]
    if spec.domain in ("llm", "multimodal") and spec.model_needs.size_billion_params:
        async with resources.pool.connection() as conn:
            return await representative_model(
                conn,
                spec.model_needs.size_billion_params,
                fine_tuning=spec.task_type in ("fine_tuning", "training"),
                licenses=spec.model_needs.license_allow_list,
            )
    return None


async def architect(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Choose the next tool calls: the fixed sequence offline, the model's choice otherwise."""
    resources = await _resources(runtime)
    context = _context(runtime)
    spec = WorkloadSpec.model_validate(state["spec"])
    work = list(state.get("work", []))
    primary = _selection(resources, context)
    selection = _turn_selection(primary, work)
    if selection.is_offline:
        reply = await _offline_step(resources, spec, work)
        name = "architect" if selection is primary else FALLBACK_NAME
        return {"work": [reply.model_copy(update={"name": name})]}
    rounds = sum(1 for m in work if isinstance(m, AIMessage))
    if rounds >= context.max_tool_steps:
        return {"work": [AIMessage("tool budget spent", name="architect")]}
    tools = build_tools(resources.pool.connection, resources.embedder)

    async def step(model: BaseChatModel | None) -> AIMessage:
        if model is None:
            return await _offline_step(resources, spec, work)
        return await model_step(model, tools, spec, work)

    reply, used = await call_with_fallback(
        selection, step, timeout_s=resources.settings.llm_timeout_s
    )
    if used is not selection:
        reply = reply.model_copy(update={"name": FALLBACK_NAME})
    return {"work": [reply]}


async def _offline_step(
    resources: Resources, spec: WorkloadSpec, work: list[AnyMessage]
) -> AIMessage:
    model_id = await _model_id(resources, spec)
    calls = offline_next_calls(spec, engine_for(spec), model_id, work)
    return AIMessage("", tool_calls=calls) if calls else AIMessage("tool calls complete")


def _tool_node(resources: Resources) -> ToolNode:
    """Return the resources' tool node, built once: building inspects every tool's signature."""
    node = resources.catalog_facts.get("tool_node")
    if node is None:
        node = ToolNode(
            build_tools(resources.pool.connection, resources.embedder), messages_key="work"
        )
        resources.catalog_facts["tool_node"] = node
    return node


async def tools(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run the requested tools; the database and embedder are injected, never model-chosen."""
    node = _tool_node(await _resources(runtime))
    # The node's own config (callbacks, the run's runtime) goes on to the tool node.
    result = await node.ainvoke({"work": state.get("work", [])}, get_config())
    return {"work": result["work"]}


async def synthesize(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Write the plan: a template offline, structured output with a model."""
    resources = await _resources(runtime)
    spec = WorkloadSpec.model_validate(state["spec"])
    work = list(state.get("work", []))
    engine = engine_for(spec)
    results = collect_results(spec, engine, work)
    results["gpu_memory_gb"] = (await _vocabulary(resources)).gpu_memory_gb

    template = build_plan(spec, engine, results, {})
    primary = _selection(resources, _context(runtime))
    selection = _turn_selection(primary, work)

    async def write(model: BaseChatModel | None) -> DeploymentPlan:
        if model is None:
            return template
        return reconcile_with_tools(await model_plan(model, spec, work), template)

    plan, used = await call_with_fallback(
        selection, write, timeout_s=resources.settings.llm_timeout_s
    )
    if used is not primary:
        plan.warnings.append(
            f"the {primary.provider} model failed; {used.provider} ({used.model}) wrote this plan"
        )
    return {"plan": plan.model_dump(mode="json"), "tool_results": _compact(work, results)}


def _compact(work: list[AnyMessage], results: dict[str, Any]) -> dict[str, Any]:
    """Keep ids and numbers of this turn's tool results, not catalog rows."""
    compute = results.get("compute") or {}
    return {
        "trajectory": [m.name for m in work if isinstance(m, ToolMessage)],
        "errors": [m.name for m in work if isinstance(m, ToolMessage) and m.status == "error"],
        "sizing_total_vram_gb": (results.get("sizing") or {}).get("total_vram_gb"),
        "instances": [
            f"{r['provider']}/{r['instance_type']}/{r['region']}"
            for r in compute.get("results", [])
        ],
        "rejected": {k: v["count"] for k, v in compute.get("rejected", {}).items()},
        "models": [h["model_id"] for h in (results.get("hf") or {}).get("results", [])],
        "charts": [c["name"] for c in results.get("charts", [])],
    }


async def validate(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Recompute every number of the plan against the catalogs."""
    resources = await _resources(runtime)
    spec = WorkloadSpec.model_validate(state["spec"])
    plan = DeploymentPlan.model_validate(state["plan"])
    async with resources.pool.connection() as conn:
        checked = await validate_plan(conn, plan, spec)
    return {"plan": checked.model_dump(mode="json")}


async def respond(state: State) -> dict[str, Any]:
    """Answer the user with the validated plan as Markdown."""
    plan = DeploymentPlan.model_validate(state["plan"])
    return {"messages": [AIMessage(render_plan(plan), name="stack8s")], "work": []}


def build() -> StateGraph[State, Context, InputState, Any]:
    """Wire the nodes and edges."""
    graph = StateGraph(State, context_schema=Context, input_schema=InputState)
    graph.add_node("optimize", optimize)
    graph.add_node("requirements", requirements)
    graph.add_node("clarify", clarify)
    graph.add_node("architect", architect)
    graph.add_node("tools", tools)
    graph.add_node("synthesize", synthesize)
    graph.add_node("validate", validate)
    graph.add_node("respond", respond)
    graph.add_edge(START, "optimize")
    graph.add_edge("optimize", "requirements")
    graph.add_conditional_edges("requirements", route_after_requirements)
    graph.add_edge("clarify", END)
    graph.add_conditional_edges("architect", route_after_architect)
    graph.add_edge("tools", "architect")
    graph.add_edge("synthesize", "validate")
    graph.add_edge("validate", "respond")
    graph.add_edge("respond", END)
    return graph


builder = build()
graph = builder.compile()
