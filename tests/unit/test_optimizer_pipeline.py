import hashlib
import json
import re

import numpy as np
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from tools.optimizer import OptimizerConfig, optimize_messages
from tools.optimizer.messages import to_turns
from tools.optimizer.units import conversation_tokens

ALWAYS = OptimizerConfig(min_context_tokens=0, min_saving_tokens=0, min_saving_fraction=0.0)


class BagOfWordsEmbedder:
    """Fixed embeddings: hashed word counts, so equal texts embed equally."""

    model_name = "test-bag-of-words"
    dim = 128

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9$]+", text.lower()):
                out[row, int(hashlib.sha1(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def read_fields(text):
    """A tiny WorkloadSpec reader: budget, users and providers."""
    fields = {}
    if m := re.search(r"\$(\d+)k", text):
        fields["budget_monthly_usd"] = float(m[1]) * 1000
    if m := re.search(r"(\d+) users", text):
        fields["scale.concurrent_users"] = int(m[1])
    if providers := re.findall(r"\b(aws|gcp)\b", text.lower()):
        fields["providers"] = providers
    return fields


FILLER = (
    "Rolling updates replace pods a few at a time while the old ones keep serving. "
    "The readiness probe decides when a new pod may take traffic from the service. "
    "Weights are large, so image pulls and model loading dominate the start time. "
    "A node-local cache of the weights shortens a cold start to seconds instead of minutes. "
    "Autoscaling adds pods first and nodes later, when pods cannot be scheduled anywhere. "
)


def planning_chat():
    return [
        SystemMessage("You are a deployment planner."),
        HumanMessage("We want to serve a chat model. Our budget is $5k per month."),
        AIMessage("Noted. How many users do you expect? " + FILLER),
        HumanMessage("About 50 users, mostly in office hours."),
        AIMessage(FILLER + "That is a moderate load for one node."),
        HumanMessage("How do rolling updates work for model servers?"),
        AIMessage(FILLER * 2),
        HumanMessage("Actually, make it $8k per month."),
        AIMessage("Thanks, updated. " + FILLER),
        HumanMessage("Please write the plan."),
    ]


async def optimize(messages, budget, config=ALWAYS, **kwargs):
    return await optimize_messages(
        messages,
        embedder=BagOfWordsEmbedder(),
        budget_tokens=budget,
        field_reader=read_fields,
        config=config,
        **kwargs,
    )


def user_text(messages):
    return " ".join(m.text for m in messages if isinstance(m, HumanMessage))


async def test_optimize_when_budget_corrected_then_later_value_kept_and_earlier_superseded():
    messages = planning_chat()

    result = await optimize(messages, budget=250)

    text = user_text(result.messages)
    assert "$8k" in text and "$5k" not in text
    superseded = [d for d in result.report.dropped if d.reason == "superseded"]
    assert [d.preview for d in superseded] == ["Our budget is $5k per month."]
    assert result.report.contradictions[0].field == "budget_monthly_usd"


async def test_optimize_when_budget_almost_nothing_then_pinned_units_survive_and_report_says_so():
    messages = planning_chat()

    result = await optimize(messages, budget=5)

    text = user_text(result.messages)
    assert "$8k" in text and "50 users" in text and "Please write the plan." in text
    assert result.report.pinned_over_budget is True
    assert result.report.within_budget is False
    assert "pinned units alone need" in result.report.warnings[0]
    kept_units = result.report.units_kept
    assert kept_units == len(result.report.pinned)


@pytest.mark.parametrize("budget", [80, 120, 200, 300, 450, 700])
async def test_optimize_when_pinned_units_fit_then_budget_never_exceeded(budget):
    messages = planning_chat()

    result = await optimize(messages, budget=budget)

    counted = conversation_tokens(to_turns(result.messages))
    assert counted == result.report.tokens_after
    assert counted <= budget
    assert result.report.within_budget is True


async def test_optimize_when_sentence_repeated_then_duplicates_collapse_to_the_latest():
    repeated = "Remember that the cluster must stay private to the company network."
    messages = [
        HumanMessage("We want to serve a model for 50 users."),
        AIMessage(repeated + " " + FILLER),
        AIMessage(FILLER + repeated),
        AIMessage(repeated),
        HumanMessage("Go on."),
    ]

    result = await optimize(messages, budget=10_000)

    rendered = " ".join(str(m.content) for m in result.messages)
    assert rendered.count(repeated) == 1
    duplicates = [d for d in result.report.dropped if d.preview == repeated]
    assert len(duplicates) == 2 and all(d.reason == "duplicate" for d in duplicates)


async def test_optimize_when_tool_calls_then_each_call_and_its_result_stay_together():
    messages = [HumanMessage("Find instances for 50 users on aws.")]
    for i in range(6):
        call_id = f"call_{i}"
        rows = [{"instance": f"type-{i}-{j}", "price": 1.5 * j} for j in range(12)]
        messages += [
            AIMessage("", tool_calls=[{"id": call_id, "name": "search", "args": {"page": i}}]),
            ToolMessage(json.dumps(rows), tool_call_id=call_id, name="search"),
            AIMessage(f"Page {i} has twelve candidates. " + FILLER),
        ]
    messages.append(HumanMessage("Which one is cheapest?"))

    result = await optimize(messages, budget=900)

    kept_calls = {
        c["id"] for m in result.messages if isinstance(m, AIMessage) for c in m.tool_calls
    }
    kept_results = {m.tool_call_id for m in result.messages if isinstance(m, ToolMessage)}
    assert kept_calls == kept_results
    assert 0 < len(kept_calls) < 6


async def test_optimize_when_context_small_then_skipped_and_messages_unchanged():
    messages = [HumanMessage("Serve a model for 50 users."), AIMessage("Sure.")]

    result = await optimize(messages, budget=1000, config=OptimizerConfig())

    assert result.report.applied is False
    assert result.report.skip_reason == "context_small"
    assert result.messages == messages


async def test_optimize_when_saving_below_break_even_then_messages_unchanged():
    messages = planning_chat()
    config = OptimizerConfig(min_context_tokens=0, min_saving_tokens=10_000)

    result = await optimize(messages, budget=100_000, config=config)

    assert result.report.skip_reason == "saving_below_break_even"
    assert [m.content for m in result.messages] == [m.content for m in messages]


async def test_optimize_when_over_budget_then_compressed_even_if_saving_is_small():
    messages = planning_chat()
    before = conversation_tokens(to_turns(messages))
    config = OptimizerConfig(min_context_tokens=10_000, min_saving_tokens=10_000)

    result = await optimize(messages, budget=before - 20, config=config)

    assert result.report.applied is True
    assert result.report.tokens_after <= before - 20


async def test_optimize_when_user_question_not_yet_answered_then_it_is_pinned():
    answered = "How do rolling updates work?"
    open_question = "Can we keep the weights encrypted at rest?"
    messages = [
        HumanMessage("We want to serve a model for 50 users. " + answered),
        AIMessage(FILLER * 3),
        HumanMessage("Thanks. " + open_question + " " + FILLER),
        HumanMessage("Next step please."),
    ]

    result = await optimize(messages, budget=60)

    pinned = {p.preview: p.reasons for p in result.report.pinned}
    assert pinned[open_question] == ["unanswered_question"]
    assert answered not in pinned
    assert open_question in user_text(result.messages)


async def test_optimize_then_every_unit_is_kept_or_dropped_with_a_reason_and_report_is_json():
    result = await optimize(planning_chat(), budget=150)

    report = result.report
    assert report.units_kept + len(report.dropped) == report.units_total
    assert all(d.detail for d in report.dropped)
    assert json.loads(report.model_dump_json())["tokens_after"] == report.tokens_after
    assert report.ratio == pytest.approx(report.tokens_before / report.tokens_after, rel=1e-3)
    assert 0.0 <= report.stability_index <= 1.0


async def test_optimize_when_message_partly_kept_then_copy_keeps_id_and_order():
    messages = planning_chat()
    for i, message in enumerate(messages):
        message.id = f"m{i}"

    result = await optimize(messages, budget=200)

    ids = [m.id for m in result.messages]
    assert ids == sorted(ids, key=lambda x: int(x[1:]))
    assert result.messages[0] is messages[0]


def size_unless_named(text):
    """Like the real extractor: a size counts only when no model is named in the message."""
    if "llama" not in text.lower() and (m := re.search(r"(\d+)b\b", text.lower())):
        return {"model_needs.size_billion_params": float(m[1])}
    return {}


async def test_optimize_when_dropping_a_unit_changes_a_reading_then_guard_keeps_message_whole():
    liked = "Llama is what we like."
    messages = [
        HumanMessage("A 7b model would do. " + liked),
        AIMessage(FILLER),
        HumanMessage(liked),
        AIMessage(FILLER),
        HumanMessage("Go on."),
    ]

    result = await optimize_messages(
        messages,
        embedder=BagOfWordsEmbedder(),
        budget_tokens=10_000,
        field_reader=size_unless_named,
        config=ALWAYS,
    )

    assert result.report.guard_repairs == ["model_needs.size_billion_params"]
    assert result.messages[0].content == messages[0].content
    assert result.report.warnings == []
