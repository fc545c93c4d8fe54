"""Compression A/B: the same scenarios with the context optimizer on and off.

The optimizer lives in ``tools.optimizer``; its entry point is ``optimize_messages``. Until
that exists the A/B reports "optimizer not available". When it does, two variants of the
graph are compiled from ``graph.builder.builder``, differing only in their ``optimize`` node:
"off" hands the LLM nodes the whole conversation, "on" hands them what the optimizer keeps.
Fidelity is whether the decision, the WorkloadSpec and the first recommended instance stay
the same; the saving is the optimizer's own token count (or an estimate) before and after.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AnyMessage
from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from agents.offline_extractor import read_message
from agents.vocabulary import Vocabulary, load_vocabulary
from core.resources import Resources, get_resources
from evals.metrics import TurnOutput
from graph.builder import builder
from graph.context import Context
from graph.state import State

logger = logging.getLogger(__name__)

OPTIMIZER_MODULE = "tools.optimizer"
OPTIMIZER_ENTRY = "optimize_messages"
# Spec fields that describe the reading rather than the workload: left out of the comparison.
_SOFT_FIELDS = ("assumptions", "missing_fields", "confidence")
OptimizeNode = Callable[..., Any]


@dataclass(frozen=True)
class OptimizerProbe:
    """Whether the optimizer's entry point exists, and why not when it does not."""

    available: bool
    reason: str
    entry: Callable[..., Any] | None = None


def probe_optimizer() -> OptimizerProbe:
    """Look for ``tools.optimizer.optimize_messages``."""
    try:
        module = importlib.import_module(OPTIMIZER_MODULE)
    except ImportError as exc:
        return OptimizerProbe(False, f"optimizer not available ({OPTIMIZER_MODULE}: {exc})")
    entry = getattr(module, OPTIMIZER_ENTRY, None)
    if not callable(entry):
        return OptimizerProbe(
            False, f"optimizer not available (no {OPTIMIZER_MODULE}.{OPTIMIZER_ENTRY} yet)"
        )
    return OptimizerProbe(True, "available", entry)


def estimate_tokens(messages: Sequence[AnyMessage]) -> int:
    """Count tokens with the optimizer's tokenizer when importable, else ~4 characters a token."""
    texts = [m.text for m in messages]
    try:
        from tools.optimizer.tokens import count_tokens
    except ImportError:
        return sum(len(t) for t in texts) // 4 + 4 * len(texts)
    return sum(count_tokens(t) + 4 for t in texts)


def _as_dict(report: Any) -> dict[str, Any]:
    if report is None:
        return {}
    if hasattr(report, "model_dump"):
        return dict(report.model_dump(mode="json"))
    return dict(report) if isinstance(report, dict) else {"report": str(report)}


async def _or_lazy(resources: Resources | None) -> Resources:
    """Return ``resources``, or (a graph run without them in its context) lazy ones."""
    return resources if resources is not None else await get_resources()


async def field_reader(resources: Resources) -> Callable[[str], Mapping[str, Any]]:
    """Return the requirements extractor as the optimizer's field reader (catalog-aware)."""
    vocabulary = resources.catalog_facts.get("vocabulary")
    if not isinstance(vocabulary, Vocabulary):
        async with resources.pool.connection() as conn:
            vocabulary = await load_vocabulary(conn)
    known = vocabulary

    def read(text: str) -> Mapping[str, Any]:
        return read_message(text, known).values

    return read


async def _arguments(
    entry: Callable[..., Any], budget_tokens: int, resources: Resources | None
) -> dict[str, Any]:
    """Supply the keyword arguments the entry point's signature asks for.

    Raises:
        TypeError: If it requires an argument the eval does not know how to supply.

    """
    kwargs: dict[str, Any] = {}
    for name, param in list(inspect.signature(entry).parameters.items())[1:]:
        if name == "budget_tokens":
            kwargs[name] = budget_tokens
        elif name in ("embedder", "settings"):
            kwargs[name] = getattr(await _or_lazy(resources), name)
        elif name == "field_reader":
            kwargs[name] = await field_reader(await _or_lazy(resources))
        elif param.default is inspect.Parameter.empty and param.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            raise TypeError(f"{OPTIMIZER_ENTRY} requires {name!r}, which the eval cannot supply")
    return kwargs


async def call_optimizer(
    entry: Callable[..., Any],
    messages: list[AnyMessage],
    budget_tokens: int,
    resources: Resources | None = None,
) -> tuple[list[AnyMessage], dict[str, Any]]:
    """Call the entry point with the arguments its signature asks for; normalise the result.

    Its embedder, settings and pool come from ``resources`` (the run's context). An entry
    point that takes ``cache_conn`` gets a pooled connection, so the embedding cache spares
    it re-embedding the earlier turns of a conversation.
    """
    kwargs = await _arguments(entry, budget_tokens, resources)
    if "cache_conn" in inspect.signature(entry).parameters:
        async with (await _or_lazy(resources)).pool.connection() as conn:
            result = entry(messages, **kwargs, cache_conn=conn)
            if inspect.isawaitable(result):
                result = await result
    else:
        result = entry(messages, **kwargs)
        if inspect.isawaitable(result):
            result = await result
    if isinstance(result, tuple) and len(result) == 2:
        kept, report = result
    elif hasattr(result, "messages"):
        kept, report = result.messages, getattr(result, "report", None)
    else:
        kept, report = result, None
    report_dict = _as_dict(report)
    report_dict.setdefault("tokens_before", estimate_tokens(messages))
    report_dict.setdefault("tokens_after", estimate_tokens(list(kept)))
    return list(kept), report_dict


def passthrough_node() -> OptimizeNode:
    """Return an ``optimize`` node that keeps the whole conversation (the "off" arm)."""

    async def optimize(state: State) -> dict[str, Any]:
        messages: list[AnyMessage] = list(state["messages"])
        tokens = estimate_tokens(messages)
        report = {"skipped": True, "tokens_before": tokens, "tokens_after": tokens}
        return {"work": [], "tool_results": {}, "llm_context": messages, "optimizer_report": report}

    return optimize


def optimizer_node(entry: Callable[..., Any]) -> OptimizeNode:
    """Return an ``optimize`` node that hands the LLM nodes what the optimizer keeps."""

    async def optimize(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        context = runtime.context if isinstance(runtime.context, Context) else Context()
        messages: list[AnyMessage] = list(state["messages"])
        kept, report = await call_optimizer(
            entry, messages, context.optimizer_budget_tokens, context.resources
        )
        return {"work": [], "tool_results": {}, "llm_context": kept, "optimizer_report": report}

    return optimize


def builder_with_optimize(node: OptimizeNode) -> StateGraph[Any, Any, Any, Any]:
    """Return a copy of ``graph.builder.builder`` whose ``optimize`` node is ``node``.

    Everything else (nodes, edges, routers, schemas) is the production wiring, shared.
    """
    variant = copy.copy(builder)
    variant.nodes = {k: v for k, v in builder.nodes.items() if k != "optimize"}
    variant.edges = set(builder.edges)
    variant.branches = defaultdict(dict, {k: dict(v) for k, v in builder.branches.items()})
    variant.schemas = dict(builder.schemas)
    variant.channels = dict(builder.channels)
    variant.managed = dict(builder.managed)
    variant.waiting_edges = set(builder.waiting_edges)
    variant.compiled = False
    variant.add_node("optimize", node)
    return variant


def _workload(spec: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (spec or {}).items() if k not in _SOFT_FIELDS}


def _top(plan: dict[str, Any] | None) -> str | None:
    gpus = (plan or {}).get("gpu_recommendations") or []
    return f"{gpus[0]['provider']}/{gpus[0]['instance_type']}" if gpus else None


def compare_turn(off: TurnOutput, on: TurnOutput) -> dict[str, Any]:
    """Compare one turn of the two arms: tokens saved, and what changed."""
    report = on.optimizer_report or {}
    before = report.get("tokens_before")
    after = report.get("tokens_after")
    spec_off, spec_on = _workload(off.spec), _workload(on.spec)
    changed = sorted(k for k in set(spec_off) | set(spec_on) if spec_off.get(k) != spec_on.get(k))
    return {
        "tokens_before": before,
        "tokens_after": after,
        "saved": (before - after) if isinstance(before, int) and isinstance(after, int) else None,
        "decision_changed": off.decision != on.decision,
        "spec_changed": changed,
        "top_instance_changed": _top(off.plan) != _top(on.plan),
        "error": off.error or on.error,
    }


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fold the per-turn comparisons into the A/B's headline numbers.

    Turns where either arm failed are counted apart and left out of the fidelity.
    """
    failed = [r for r in rows if r["error"]]
    rows = [r for r in rows if not r["error"]]
    before = sum(r["tokens_before"] or 0 for r in rows)
    saved = sum(r["saved"] or 0 for r in rows)
    faithful = [
        not (r["decision_changed"] or r["spec_changed"] or r["top_instance_changed"]) for r in rows
    ]
    return {
        "errors": len(failed),
        "first_error": failed[0]["error"] if failed else None,
        "turns": len(rows),
        "tokens_before": before,
        "tokens_saved": saved,
        "saved_ratio": saved / before if before else None,
        "fidelity": sum(faithful) / len(faithful) if faithful else None,
        "decision_changes": sum(r["decision_changed"] for r in rows),
        "spec_changes": sum(bool(r["spec_changed"]) for r in rows),
        "top_instance_changes": sum(r["top_instance_changed"] for r in rows),
    }
