import importlib
import types

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from evals import compression
from evals.metrics import TurnOutput
from graph.builder import builder


def test_probe_when_entry_point_missing_then_not_available(monkeypatch):
    monkeypatch.setattr(importlib, "import_module", lambda name: types.ModuleType(name))

    probe = compression.probe_optimizer()

    assert not probe.available and "optimizer not available" in probe.reason


def test_probe_when_entry_point_present_then_available(monkeypatch):
    module = types.ModuleType("tools.optimizer")
    module.optimize_messages = lambda messages: messages
    monkeypatch.setattr(importlib, "import_module", lambda name: module)

    assert compression.probe_optimizer().available


def test_variant_builder_then_only_the_optimize_node_differs():
    node = compression.passthrough_node()

    variant = compression.builder_with_optimize(node)

    assert variant.nodes["optimize"].runnable is not builder.nodes["optimize"].runnable
    assert all(variant.nodes[n] is builder.nodes[n] for n in builder.nodes if n != "optimize")
    assert variant.edges == builder.edges and variant is not builder
    assert variant.compile() is not None


async def test_passthrough_node_then_whole_conversation_and_token_count():
    messages = [HumanMessage("Serve Llama 3.1 8B for 5 users"), AIMessage("ok")]

    update = await compression.passthrough_node()({"messages": messages})

    assert update["llm_context"] == messages
    assert update["optimizer_report"]["tokens_before"] == update["optimizer_report"]["tokens_after"]
    assert update["work"] == [] and update["tool_results"] == {}


async def test_call_optimizer_then_result_shapes_normalised():
    messages = [HumanMessage("a"), HumanMessage("b")]

    def as_tuple(msgs, *, budget_tokens):
        return msgs[-1:], {"tokens_before": 10, "tokens_after": 4, "budget": budget_tokens}

    async def as_object(msgs, budget_tokens=0):
        return types.SimpleNamespace(messages=msgs[:1], report=None)

    kept, report = await compression.call_optimizer(as_tuple, messages, 1500)
    kept2, report2 = await compression.call_optimizer(as_object, messages, 1500)

    assert kept == messages[-1:] and report == {
        "tokens_before": 10,
        "tokens_after": 4,
        "budget": 1500,
    }
    assert kept2 == messages[:1] and {"tokens_before", "tokens_after"} <= set(report2)


async def test_call_optimizer_with_an_argument_the_eval_lacks_then_type_error():
    def needs_more(msgs, *, oracle_of_delphi):
        return msgs

    with pytest.raises(TypeError, match="oracle_of_delphi"):
        await compression.call_optimizer(needs_more, [HumanMessage("a")], 100)


def _out(decision, spec, top, report=None, error=None):
    plan = {"gpu_recommendations": [{"provider": "aws", "instance_type": top}]} if top else None
    return TurnOutput(decision=decision, spec=spec, plan=plan, optimizer_report=report, error=error)


def test_compare_and_summarize_then_saving_and_changes_counted():
    same = compression.compare_turn(
        _out("plan", {"domain": "llm", "assumptions": ["a"]}, "g6"),
        _out(
            "plan",
            {"domain": "llm", "assumptions": ["b"]},
            "g6",
            {"tokens_before": 100, "tokens_after": 60},
        ),
    )
    changed = compression.compare_turn(
        _out("plan", {"budget_monthly_usd": 3000}, "g6"),
        _out(
            "clarify", {"budget_monthly_usd": 300}, None, {"tokens_before": 100, "tokens_after": 50}
        ),
    )
    failed = compression.compare_turn(_out("plan", {}, "g6"), _out(None, None, None, error="boom"))

    summary = compression.summarize([same, changed, failed])

    assert same["spec_changed"] == [] and same["saved"] == 40
    assert changed["spec_changed"] == ["budget_monthly_usd"] and changed["decision_changed"]
    assert summary["errors"] == 1 and summary["turns"] == 2
    assert summary["tokens_saved"] == 90 and summary["saved_ratio"] == pytest.approx(0.45)
    assert summary["fidelity"] == pytest.approx(0.5)
